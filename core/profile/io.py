"""Reading and writing profile files.

Reading: `yaml.safe_load` semantics through a SafeLoader subclass that also records, for every
key path, the line of the key and of its value, and refuses duplicate keys (which safe_load
would silently resolve to the last one). Then: version and migration, secrets, the types
(pydantic), and the cross-field rules (`core.profile.checks`). Every problem becomes one line,
`FILE:LINE: key.path: message`.

Writing: atomically (temp file in the same folder, fsync, `os.replace`), in the document's own
key order for keys it had and DESIGN order for new ones, without defaults nobody set, under a
comment header naming the writer. A profile built in code that replaces a file (the wizard
saving over a profile) first adopts that file's order, comments and key set (`adopt_document`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import tempfile
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from core import __version__
from core.errors import ProfileError
from core.profile import model
from core.profile.checks import Problem, check_profile, find_secrets, format_path
from core.profile.migrate import MigrationError, migrate
from core.profile.model import Profile

HEADER_PREFIX = "# written by pstimport"


def header_line() -> str:
    """The comment line every saved profile starts with."""
    return f"{HEADER_PREFIX} {__version__} (profile version {model.PROFILE_VERSION})"


# ----- YAML with marks ---------------------------------------------------------------------------


class _Located(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


MAX_NODES = 50_000
# A profile is a few KB (one with a thousand sources is a few hundred); anything far bigger is not a
# profile, and parsing it would take memory and time out of all proportion (40 MB: 1.1 GB, a minute).
MAX_PROFILE_BYTES = 1024 * 1024
# The schema nests four levels; YAML nested deeper than this is refused before it is composed
# (PyYAML composes recursively: 20,000 levels would end in a RecursionError).
MAX_DEPTH = 64


def _too_deep(text: str) -> int | None:
    """The 1-based line where the document nests deeper than `MAX_DEPTH`, or None. Uses PyYAML's
    scanner, which is not recursive; syntax errors are left to the parser."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(
                token,
                (
                    yaml.BlockMappingStartToken,
                    yaml.BlockSequenceStartToken,
                    yaml.FlowMappingStartToken,
                    yaml.FlowSequenceStartToken,
                ),
            ):
                depth += 1
                if depth > MAX_DEPTH:
                    return token.start_mark.line + 1
            elif isinstance(token, (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)):
                depth -= 1
    except yaml.YAMLError:
        return None
    return None


class MarkingLoader(yaml.SafeLoader):
    """A SafeLoader that records where each key path is and refuses duplicate keys.

    After `load()`, `key_marks[path] = (key_line, value_line)` (1-based) for every key and list item,
    and `key_order[path]` lists a mapping's keys in document order.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_marks: dict[tuple, tuple[int, int]] = {}
        self.key_order: dict[tuple, list[str]] = {}
        self._visits = 0

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        # A date-shaped but impossible value (2016-13-01) would otherwise abort the whole parse;
        # keep it as text so the schema reports it against its key.
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return str(node.value)

    def load(self) -> Any:
        try:
            node = self.get_single_node()
            if node is None:
                return None
            self.key_marks[()] = (node.start_mark.line + 1, node.start_mark.line + 1)
            self._record(node, (), set())
            return self.construct_document(node)
        finally:
            self.dispose()

    def _record(self, node: yaml.Node, path: tuple, stack: set[int]) -> None:
        if id(node) in stack:
            line = node.start_mark.line + 1
            raise _Located(
                Problem(path, "an alias refers to the value it is part of (a loop)", kind="syntax", line=line)
            )
        self._visits += 1
        if self._visits > MAX_NODES:  # aliases can make a small file expand enormously
            raise _Located(
                Problem(
                    (),
                    f"the document expands to more than {MAX_NODES} values (aliases?); a profile is far smaller",
                    kind="syntax",
                    line=1,
                )
            )
        stack = stack | {id(node)}
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            order: list[str] = []
            for knode, vnode in node.value:
                if knode.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(knode, deep=True) if isinstance(knode, yaml.ScalarNode) else None
                kline = knode.start_mark.line + 1
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in first:
                        raise _Located(
                            Problem(
                                (*path, key),
                                f"duplicate key {key!r} (first written at line {first[key]}); keep only one",
                                kind="duplicate-key",
                                line=kline,
                            )
                        )
                    first[key] = kline
                sub = (*path, key)
                self.key_marks[sub] = (kline, vnode.start_mark.line + 1)
                order.append(key)
                self._record(vnode, sub, stack)
            self.key_order[path] = order
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                line = item.start_mark.line + 1
                self.key_marks[(*path, i)] = (line, line)
                self._record(item, (*path, i), stack)


MarkingLoader.add_constructor("tag:yaml.org,2002:timestamp", MarkingLoader.construct_yaml_timestamp)


def _line(marks: dict[tuple, tuple[int, int]], path: tuple, *, of: str = "key") -> int | None:
    """The line of `path` in the document, or of its nearest ancestor that is there."""
    p = tuple(path)
    while p not in marks and p:
        p = p[:-1]
    m = marks.get(p)
    if m is None:
        return None
    return m[0] if of == "key" else m[1]


# ----- pydantic errors as one line each -----------------------------------------------------------

_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "dict_type": "a mapping of keys",
    "date_type": "a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "a date (YYYY-MM-DD)",
}


def _what(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:60]!r}" + ("..." if len(value) > 60 else "")
    if isinstance(value, dt.date):
        return f"the date {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _model_at(path: tuple) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path`, if any."""
    cls: Any = Profile
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or part not in cls.model_fields:
            return None
        ann = cls.model_fields[part].annotation
        # unwrap list[...] and X | None down to the model, if there is one
        while True:
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if args and (typing.get_origin(ann) in (list, typing.Union) or type(ann).__name__ == "UnionType"):
                ann = args[0]
                continue
            break
        cls = ann
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _from_pydantic(exc: ValidationError) -> list[Problem]:
    out: list[Problem] = []
    for e in exc.errors(include_url=False):
        path = tuple(e["loc"])
        kind, value, ctx = e["type"], e.get("input"), e.get("ctx") or {}
        if kind == "extra_forbidden":
            parent = _model_at(path[:-1])
            allowed = list(parent.model_fields) if parent else []
            msg = f"unknown key {path[-1]!r}{_suggest(path[-1], allowed)}"
            if parent and not _suggest(path[-1], allowed):
                msg += f"; the keys here are: {', '.join(allowed)}"
            out.append(Problem(path, msg, kind="unknown-key"))
            continue
        if kind == "missing":
            out.append(Problem(path, "required key is missing", kind="missing-key", line_path=path[:-1]))
            continue
        if kind == "literal_error":
            choices = re.findall(r"'([^']*)'", ctx.get("expected", ""))
            msg = f"{_what(value)} is not one of: {', '.join(choices)}"
            if isinstance(value, str):
                msg += _suggest(value, choices)
        elif kind in _TYPE_WORDS:
            msg = f"must be {_TYPE_WORDS[kind]}, not {_what(value)}"
        elif kind == "greater_than_equal":
            msg = f"must be at least {ctx.get('ge')}, got {value}"
        elif kind == "less_than_equal":
            msg = f"must be at most {ctx.get('le')}, got {value}"
        elif kind == "too_short":
            msg = "needs at least one entry"
        elif kind == "value_error":
            msg = str(ctx.get("error", e["msg"]))
        else:
            msg = e["msg"][:1].lower() + e["msg"][1:]
        out.append(Problem(path, msg, kind="type"))
    return out


def validation_problems(exc: ValidationError) -> list[Problem]:
    """A pydantic error as our own problems ("must be at most 32, got 40"), without file or line."""
    return _from_pydantic(exc)


# ----- loading -------------------------------------------------------------------------------------


def _leading_comments(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.splitlines():
        s = raw.strip()
        if not s or s == "---":
            if lines:
                lines.append("")
            continue
        if not s.startswith("#"):
            break
        if not s.startswith(HEADER_PREFIX):
            lines.append(raw.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _comment_start(line: str) -> int | None:
    """Where a YAML comment starts on `line` (a `#` after whitespace, outside quotes), if anywhere."""
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote == '"':
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                quote = None
        elif quote == "'":
            if ch == "'":
                quote = None
        elif ch in "\"'" and (i == 0 or line[i - 1] in " \t:[{,-"):
            quote = ch  # a quote only opens a scalar at the start of a token: Matt's stays plain
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
        i += 1
    return None


@dataclass
class Comments:
    """The comments of a hand-written document, by key path, so a save can put them back."""

    above: dict[tuple, list[str]] = field(default_factory=dict)  # comment (and blank) lines before a key
    inline: dict[tuple, str] = field(default_factory=dict)  # `# ...` at the end of a key's line
    trailing: list[str] = field(default_factory=list)  # after the last key


def _collect_comments(text: str, marks: dict[tuple, tuple[int, int]]) -> Comments:
    lines = text.splitlines()
    first = next(
        (i for i, raw in enumerate(lines) if raw.strip() and not raw.strip().startswith("#") and raw.strip() != "---"),
        len(lines),
    )
    by_line: dict[int, list[tuple]] = {}
    for path, (kline, _) in marks.items():
        if path:
            by_line.setdefault(kline - 1, []).append(path)
    out = Comments()
    for idx, paths in by_line.items():
        shortest = min(paths, key=len)
        # an end-of-line comment belongs to the key on that line, or to a block list item
        keyed = [p for p in paths if isinstance(p[-1], str)]
        owner = max(keyed or paths, key=len)
        j = idx - 1
        while j > first and (not lines[j].strip() or lines[j].lstrip().startswith("#")):
            j -= 1
        block: list[str] = []
        for raw in lines[j + 1 : idx] if j >= first else []:
            if raw.strip() or (block and block[-1]) or not block:  # runs of blank lines become one
                block.append(raw.strip())
        if block:
            out.above[shortest] = block
        raw = lines[idx] if idx < len(lines) else ""
        c = _comment_start(raw)
        if c is not None and raw[:c].strip():
            out.inline[owner] = raw[c:].rstrip()
    last = max((i for i in by_line), default=-1)
    tail = [raw.strip() for raw in lines[last + 1 :] if raw.strip().startswith("#") or not raw.strip()]
    if last >= 0 and any(tail) and all(not r or r.startswith("#") for r in tail):
        while tail and not tail[0]:
            tail.pop(0)
        out.trailing = [r for r in tail]
        while out.trailing and not out.trailing[-1]:
            out.trailing.pop()
    return out


def _put_comments_back(body: str, comments: Comments | None) -> str:
    """Re-insert a document's comments into freshly dumped YAML, matched by key path."""
    if comments is None or not (comments.above or comments.inline or comments.trailing):
        return body
    loader = MarkingLoader(body)
    loader.load()
    lines = body.splitlines()
    before: dict[int, list[str]] = {}
    for path, block in comments.above.items():
        if path in loader.key_marks:
            idx = loader.key_marks[path][0] - 1
            indent = " " * (len(lines[idx]) - len(lines[idx].lstrip()))
            before.setdefault(idx, []).extend(indent + c if c else "" for c in block)
    for path, note in comments.inline.items():
        if path in loader.key_marks:
            idx = loader.key_marks[path][0] - 1
            if _comment_start(lines[idx]) is None:
                lines[idx] += "  " + note
    out: list[str] = []
    for idx, line in enumerate(lines):
        out.extend(before.get(idx, ()))
        out.append(line)
    out.extend(comments.trailing)
    return "\n".join(out) + "\n"


def parse_profile(
    text: str,
    *,
    filename: str = "<profile>",
    base_dir: Path | None = None,
    check_files: bool = True,
    check_signatures: bool = False,
) -> tuple[Profile | None, list[Problem]]:
    """Parse and check a profile document; never raises for a bad document.

    Returns:
        The profile (None when there are errors) and every problem found, errors and warnings,
        each located by file and line.
    """
    if len(text) > MAX_PROFILE_BYTES:
        size = len(text.encode("utf-8", "surrogatepass"))
        return None, [_too_big(size, filename)]
    deep = _too_deep(text)
    if deep is not None:
        message = f"nested more than {MAX_DEPTH} levels deep; a profile nests four"
        return None, [Problem((), message, kind="syntax", file=filename, line=deep)]
    try:
        loader = MarkingLoader(text)
        data = loader.load()
    except _Located as exc:
        return None, [exc.problem.located(filename, exc.problem.line)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = str(exc.problem or exc.context or "unreadable")
        if exc.context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
            what += f" ({exc.context} at line {exc.context_mark.line + 1})"
        elif exc.context and exc.problem:
            what += f" ({exc.context})"
        line = mark.line + 1 if mark else None
        return None, [Problem((), f"not valid YAML: {what}", kind="syntax", file=filename, line=line)]
    except yaml.reader.ReaderError as exc:  # a control character, before parsing starts
        line = text.count("\n", 0, exc.position) + 1
        ch = exc.character
        code = ch if isinstance(ch, int) else ord(ch) if isinstance(ch, str) and len(ch) == 1 else None
        what = f"the control character U+{code:04X} is not allowed in YAML" if code is not None else exc.reason
        return None, [Problem((), f"not valid YAML: {what}", kind="syntax", file=filename, line=line)]
    except yaml.YAMLError as exc:
        return None, [Problem((), f"not valid YAML: {exc}", kind="syntax", file=filename, line=1)]
    marks, order = loader.key_marks, loader.key_order

    def locate(problems: list[Problem]) -> list[Problem]:
        out = []
        for p in problems:
            if p.line is not None:
                out.append(p.located(filename, p.line))
                continue
            if p.line_path is not None:
                lp, of = p.line_path, "key"
            else:
                lp, of = p.path, ("key" if p.kind in ("unknown-key", "secret", "missing-key") else "value")
            out.append(p.located(filename, _line(marks, lp, of=of) or 1))
        return out

    if data is None:
        return None, locate([Problem((), "the profile is empty (see profiles/ for examples)", kind="empty")])
    if not isinstance(data, dict):
        return None, locate(
            [
                Problem(
                    (), f"a profile is a mapping of keys (version, name, connection...), not {_what(data)}", kind="type"
                )
            ]
        )
    problems = list(find_secrets(data))
    if problems:  # stop here: later messages could quote the secret back
        return None, locate(problems)

    version = data.get("version")
    if "version" not in data:
        problems.append(
            Problem(
                ("version",),
                f"required key is missing (write version: {model.PROFILE_VERSION} first; is this a pstimport profile?)",
                kind="missing-key",
                line_path=(),
            )
        )
        return None, locate(problems)
    if isinstance(version, bool) or not isinstance(version, int):
        problems.append(Problem(("version",), f"must be a whole number, not {_what(version)}", kind="type"))
        return None, locate(problems)
    if version < 1:
        problems.append(Problem(("version",), f"{version} is not a profile version (they start at 1)", kind="version"))
        return None, locate(problems)
    try:
        data = migrate(data, version)
    except MigrationError as exc:
        problems.append(Problem(("version",), str(exc), kind="version"))
        return None, locate(problems)

    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems += _from_pydantic(exc)
        return None, locate(problems)
    if base_dir is not None:
        profile._path = (base_dir / Path(filename).name).absolute()
    problems += check_profile(profile, check_files=check_files, check_signatures=check_signatures)
    located = locate(problems)
    if any(p.severity == "error" for p in located):
        return None, located
    profile._key_order = order
    profile._header = _leading_comments(text)
    profile._comments = _collect_comments(text, marks)
    profile._warnings = [p for p in located if p.severity == "warning"]
    return profile, located


def read_profile(
    path: str | os.PathLike[str], *, check_files: bool = True, check_signatures: bool = False
) -> tuple[Profile | None, list[Problem]]:
    """Load the profile at `path`, returning it (None if invalid) and every problem found.

    `check_signatures` also reads each source's PST header, as `run` does (`profile validate`).

    Relative paths inside the profile are relative to the profile's folder.
    """
    name = os.fspath(path)
    p = Path(name)
    try:
        with p.open("rb") as fh:  # never more than the limit: the file may be huge, or a device
            raw = fh.read(MAX_PROFILE_BYTES + 1)
            if len(raw) > MAX_PROFILE_BYTES:
                fh.seek(0, os.SEEK_END)
                return None, [_too_big(max(fh.tell(), len(raw)), name)]
    except OSError as exc:
        return None, [Problem((), f"cannot read the profile: {exc.strerror or exc}", kind="file", file=name)]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem((), "not UTF-8 text; save the profile as UTF-8", kind="syntax", file=name, line=line)]
    profile, problems = parse_profile(
        text, filename=name, base_dir=p.absolute().parent, check_files=check_files, check_signatures=check_signatures
    )
    if profile is not None:
        profile._path = p.absolute()
    return profile, problems


def _too_big(size: int, filename: str) -> Problem:
    return Problem(
        (),
        f"{size / 1048576:.1f} MB is far too big for a profile (at most {MAX_PROFILE_BYTES // 1048576} MB; "
        "a profile is a few KB): is this the right file?",
        kind="file",
        file=filename,
    )


def _error(problems: list[Problem]) -> ProfileError:
    errors = [p for p in problems if p.severity == "error"]
    msg = str(errors[0])
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more; `pstimport profile validate` lists them all)"
    error = ProfileError(msg)
    error.problems = problems  # type: ignore[attr-defined]
    return error


def load_profile(path: str | os.PathLike[str], *, check_files: bool = True) -> Profile:
    """Load and check the profile at `path`.

    Warnings (not errors) are kept on `profile.warnings`.

    Raises:
        ProfileError: one line, `FILE:LINE: key.path: message`, for the first error; all of
        them are on its `problems` attribute.
    """
    profile, problems = read_profile(path, check_files=check_files)
    if profile is None:
        raise _error(problems)
    return profile


def ensure_valid(profile: Profile, *, check_files: bool = True) -> list[Problem]:
    """Check a profile built in code (the wizard); returns its warnings.

    Raises:
        ProfileError: the first error, as `<profile>: key.path: message`.
    """
    problems = check_profile(profile, check_files=check_files)
    file = str(profile.path) if profile.path else None
    problems = [p.located(file, None) for p in problems]
    if any(p.severity == "error" for p in problems):
        raise _error(problems)
    return [p for p in problems if p.severity == "warning"]


# ----- saving ----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {k: _plain(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# Written even when they hold the default, so every saved profile reads on its own.
ALWAYS_WRITTEN = frozenset(
    {
        ("version",),
        ("name",),
        ("connection", "target"),
        ("connection", "auth", "method"),
        ("mailbox",),
        ("sources", "path"),
    }
)


def _touched(m: BaseModel, path: tuple, document: dict[tuple, list]) -> dict[str, Any]:
    """What to write for model `m` at `path`: keys the user's document had, fields set in code
    (construction or assignment), values that differ from their defaults, and `ALWAYS_WRITTEN`.
    A default nobody wrote down or set stays out of the file."""
    out: dict[str, Any] = {}
    had = set(document.get(path, ()))
    for name, info in type(m).model_fields.items():
        value = getattr(m, name)
        sub_path = (*path, name)
        if isinstance(value, BaseModel):
            sub = _touched(value, sub_path, document)
            if name in had or name in m.model_fields_set or sub:
                out[name] = sub
            continue
        if isinstance(value, list) and any(isinstance(v, BaseModel) for v in value):
            out[name] = [
                _touched(v, (*sub_path, i), document) if isinstance(v, BaseModel) else v for i, v in enumerate(value)
            ]
            continue
        default = info.get_default(call_default_factory=True) if not info.is_required() else object()
        schema_path = tuple(p for p in sub_path if not isinstance(p, int))
        touched = name in had or name in m.model_fields_set
        if touched or schema_path in ALWAYS_WRITTEN or _plain(value) != _plain(default):
            out[name] = _plain(value)
    return out


def _ordered(value: Any, path: tuple, order: dict[tuple, list]) -> Any:
    if isinstance(value, dict):
        keys = [k for k in order.get(path, []) if k in value]
        keys += [k for k in value if k not in keys]
        return {k: _ordered(value[k], (*path, k), order) for k in keys}
    if isinstance(value, list):
        return [_ordered(v, (*path, i), order) for i, v in enumerate(value)]
    return value


class _Dumper(yaml.SafeDumper):
    """Block style, with lists indented under their key as people write them by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dumps_profile(profile: Profile) -> str:
    """The YAML text `save_profile` writes.

    The header comment, then: keys the loaded document had (in its order, even at their default
    value), fields set in code (so a caller decides what the user touched: `Profile.new` sets only
    what it is given), values that differ from their defaults, and the few keys every profile shows (version,
    name, connection.target, connection.auth.method, mailbox, sources[].path); new keys follow in
    DESIGN.md's order. The document's comments are put back beside the keys they were written
    above or after (comments of keys that are gone are dropped).
    """
    doc = _touched(profile, (), profile._key_order)
    doc["version"] = model.PROFILE_VERSION
    doc = {"version": doc.pop("version"), **doc}
    doc = _ordered(doc, (), profile._key_order)
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    body = _put_comments_back(body, profile._comments)
    head = [header_line(), *profile._header, *([""] if profile._header else [])]
    return "\n".join(head) + "\n" + body


def adopt_document(profile: Profile, path: str | os.PathLike[str]) -> bool:
    """Make `profile`, built in code (the wizard), save over the file at `path` the way a hand edit would.

    It takes the file's key order, comments and header, and keeps as "set" only the keys that the
    file has or whose value differs from the default, so `dumps_profile` rewrites what changed and
    adds nothing the user never wrote. Returns False (and changes nothing) when the file cannot be
    read as a YAML mapping.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
        loader = MarkingLoader(text)
        data = loader.load()
    except (OSError, UnicodeDecodeError, yaml.YAMLError, _Located):
        return False
    if not isinstance(data, dict):
        return False
    profile._key_order = loader.key_order
    profile._header = _leading_comments(text)
    profile._comments = _collect_comments(text, loader.key_marks)
    _keep_only_written(profile, (), loader.key_order)
    return True


def _keep_only_written(m: BaseModel, path: tuple, document: dict[tuple, list]) -> None:
    had = set(document.get(path, ()))
    for name, info in type(m).model_fields.items():
        value = getattr(m, name)
        sub = (*path, name)
        if isinstance(value, BaseModel):
            _keep_only_written(value, sub, document)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, BaseModel):
                    _keep_only_written(v, (*sub, i), document)
        if name in had or info.is_required():
            continue
        if _plain(value) == _plain(info.get_default(call_default_factory=True)):
            m.__pydantic_fields_set__.discard(name)


def save_profile(profile: Profile, path: str | os.PathLike[str] | None = None, *, check: bool = True) -> Path:
    """Write `profile` to `path` (default: where it was loaded from) atomically.

    The text goes to a temporary file in the same folder, is flushed to disk, then replaces
    `path` in one step, so a crash never leaves half a profile. An existing file's permissions
    are kept.

    Args:
        check: refuse to write a profile that breaks a rule (files are not checked).

    Returns:
        The absolute path written.

    Raises:
        ProfileError: the profile is invalid (with `check`), or there is no path.
        OSError: the folder cannot be written.
    """
    if path is None:
        if profile.path is None:
            raise ProfileError("save_profile: the profile was not loaded from a file, so give a path")
        path = profile.path
    target = Path(path).absolute()
    if check:
        old = profile._path
        profile._path = target  # relative paths are judged from where the file will be
        try:
            ensure_valid(profile, check_files=False)
        finally:
            profile._path = old
    text = dumps_profile(profile)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    profile._path = target
    return target


__all__ = [
    "MarkingLoader",
    "adopt_document",
    "Problem",
    "dumps_profile",
    "ensure_valid",
    "format_path",
    "header_line",
    "load_profile",
    "parse_profile",
    "read_profile",
    "save_profile",
    "validation_problems",
]
