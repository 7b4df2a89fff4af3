"""The batch template: a version-1 profile whose connection, auth, filters and performance apply to
every mailbox of the CSV. Its `mailbox` and `sources` may be left out (the CSV gives them); when
present they are ignored, except that the first source's include/exclude globs apply to every PST.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from core.batch.mapping import BatchRow
from core.errors import ProfileError
from core.profile.io import parse_profile
from core.profile.model import Destination, Profile, Source

_PLACEHOLDER_MAILBOX = "batch-template@example.invalid"


def load_template(path: str | Path) -> tuple[Profile, list[str]]:
    """Load and check the template; returns it and notes worth printing.

    Raises:
        ProfileError: `FILE:LINE: key.path: message`, as for any profile.
    """
    path = Path(path)
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ProfileError(f"{name}: cannot read the template: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{name}: not UTF-8 text; save the template as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None  # parse_profile reports it with its line
    notes: list[str] = []
    injected: set[str] = set()
    if isinstance(data, dict):
        extra = []
        # Appended at the end, so the line numbers of the user's own keys do not move.
        if "mailbox" not in data:
            extra.append(f"mailbox: {_PLACEHOLDER_MAILBOX}")
            injected.add("mailbox")
        else:
            notes.append(f"{name}: mailbox {data['mailbox']!r} is ignored: the CSV names the mailboxes")
        if "sources" not in data:
            extra.append(f"sources: [{{path: {yaml.safe_dump(name, default_style=chr(34)).strip()}}}]")
            injected.add("sources")
        else:
            notes.append(f"{name}: sources are ignored (the CSV names the PSTs); their first include/exclude apply")
        if extra:
            text = text.rstrip("\n") + "\n" + "\n".join(extra) + "\n"
    base = path.absolute().parent
    # Parsed twice: with file checks (the certificate, CA bundle and map file must exist), then
    # keeping only the errors that are not about the template's own sources, which the CSV replaces.
    _, problems = parse_profile(text, filename=name, base_dir=base, check_files=True)
    errors = [p for p in problems if p.severity == "error" and p.path[:1] != ("sources",)]
    profile, loose = parse_profile(text, filename=name, base_dir=base, check_files=False)
    if profile is None and not errors:
        errors = [p for p in loose if p.severity == "error"]
    if errors or profile is None:
        first = str(errors[0]) if errors else f"{name}: not a valid profile"
        more = f" (and {len(errors) - 1} more; `pstimport profile validate` lists them all)" if len(errors) > 1 else ""
        raise ProfileError(first + more)
    profile._path = path.absolute()
    return profile, notes


def unit_profile(template: Profile, rows: list[BatchRow]) -> Profile:
    """The profile of one engine run: the template with these rows' mailbox, store, root and PSTs.

    The name stays the template's, so the journal (per profile name, mailbox and store) is the
    one a single `pstimport run` of the same settings would use: a batch resumes like a run.
    """
    first = rows[0]
    globs = template.sources[0] if template.sources else None
    include = list(globs.include) if globs is not None else []
    exclude = list(globs.exclude) if globs is not None else []
    sources = [Source(path=str(r.path), include=include, exclude=exclude, codepage=r.codepage or None) for r in rows]
    destination = Destination(store=first.store, root=first.root, folder=first.folder)
    return template.model_copy(update={"mailbox": first.mailbox, "sources": sources, "destination": destination})
