"""Field-by-field comparison of read-back items with their source, and the per-field table.

A field that does not match counts as matched only when equal. Otherwise it is explained by an entry of
`core.convert.limits.CANNOT_CARRY` for the transport (its `case` checked against the source item here,
one rule per case) or by a named deviation of the server (tests/gromox.py), or it is a mismatch, which
fails the test. Fields that do not apply to an item (no body text in the PST, recipients of a contact)
are counted as n/a, so the table shows every item of every field.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from core.convert.limits import CANNOT_CARRY, limits_for
from tests.fidelity.source import Expected, smtp, words

FIELDS = (
    "folder",
    "class",
    "subject",
    "sender",
    "recipients",
    "sent",
    "received",
    "flags",
    "importance",
    "sensitivity",
    "categories",
    "followup",
    "body",
    "attachments",
    "note colour",
    "journal type",
)

# The cases of core.convert.limits this module has a rule for (field_outcomes and its helpers).
RULES = frozenset(
    {
        "recipient-without-address",
        "reference-attachment",
        "graph-no-attachment-api",
        "graph-json-embedded",
        "graph-json-one-body",
        "graph-distlist-members",
        "graph-summary-body",
        "graph-event-attendees",
        "graph-typed-class",
    }
)


@dataclass
class Tally:
    """One cell of the table: one field over one transport and server."""

    compared: int = 0
    matched: int = 0
    na: Counter = field(default_factory=Counter)  # why -> count
    limited: Counter = field(default_factory=Counter)  # Limit.case -> count
    deviated: Counter = field(default_factory=Counter)  # deviation text -> count
    mismatches: list[str] = field(default_factory=list)

    def cell(self) -> str:
        text = f"{self.matched}/{self.compared}"
        explained = sum(self.limited.values()) + sum(self.deviated.values())
        if explained:
            text += f" +{explained}"
        if self.mismatches:
            text += f" !{len(self.mismatches)}"
        return text


@dataclass
class Outcome:
    """A field of one item: not applicable, equal, or different (with a detail and the case that may explain it)."""

    applies: bool
    equal: bool = False
    detail: str = ""
    cases: tuple[str, ...] = ()


def na(why: str) -> Outcome:
    """A field that does not apply to the item, and why (printed with the table)."""
    return Outcome(False, detail=why)


NO_PARTIES = na("not mail: no sender or recipients (attendees and list members are the calendar's and lists' own)")
NOT_A_MESSAGE = na("not a message (calendar item, contact, task, list): no sent/received time, read or draft state")


def _same_text(a: str | None, b: str | None) -> bool:
    return words(a) == words(b)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(microsecond=0) if value else None


_UNSAFE = re.compile(r"[\x00-\x1f\\/]")


def _leaf(name: str) -> str:
    """An attachment's file name as MIME can carry it (control characters and slashes replaced)."""
    return _UNSAFE.sub("_", name).strip()


def _attachment_names_and_hashes(entries: Counter | list) -> tuple[Counter, Counter]:
    hashes: Counter = Counter()
    names: Counter = Counter()
    items = entries.items() if isinstance(entries, Counter) else [((e["path"], e["sha256"]), 1) for e in entries]
    for (path, digest), n in items:
        hashes[digest] += n
        leaf = path.rsplit("/", 1)[-1]
        if leaf:
            names[_leaf(leaf).casefold()] += n
    return names, hashes


def field_outcomes(exp: Expected, got: dict, transport: str) -> dict[str, Outcome]:
    """Every field of one item pair."""
    out: dict[str, Outcome] = {}
    folder = [f.casefold() for f in got["folder"][1:]]
    out["folder"] = Outcome(
        True, folder == [f.casefold() for f in exp.folder], f"{got['folder'][1:]} != {list(exp.folder)}"
    )
    graph_typed = transport == "graph" and not exp.is_message
    out["class"] = Outcome(
        True,
        (got["class"] or "").casefold() == exp.message_class.casefold(),
        f"{got['class']!r} != {exp.message_class!r}",
        ("graph-typed-class",) if graph_typed else (),
    )
    out["subject"] = Outcome(True, _same_text(got["subject"], exp.subject), f"{got['subject']!r} != {exp.subject!r}")

    if exp.is_mail:
        sender = (got.get("sender") or {}).get("address")
        if exp.sender is not None:
            out["sender"] = Outcome(True, smtp(sender) == exp.sender, f"{sender!r} != {exp.sender!r}")
        elif exp.sender_name:
            got_name = (got.get("sender") or {}).get("name") or ""
            if exp.sender_ex and smtp(sender) and got_name.casefold() == exp.sender_name.casefold():
                # an Exchange sender the importer resolved through the PST (recipient collection, contacts)
                out["sender"] = Outcome(True, True)
            else:
                # the name alone cannot be carried; a server that puts some address there is a difference
                cases = ("recipient-without-address",) if sender is None else ()
                out["sender"] = Outcome(True, False, f"{sender!r} for a sender with a name only", cases)
        else:
            out["sender"] = na("the PST names no sender")
        out["recipients"] = _recipients(exp, got)
    else:
        out["sender"] = NO_PARTIES
        out["recipients"] = NO_PARTIES
        if transport == "graph" and exp.message_class.upper().startswith("IPM.APPOINTMENT") and exp.recipients:
            out["recipients"] = Outcome(True, False, "attendees", ("graph-event-attendees",))

    for name, value in (("sent", exp.sent), ("received", exp.received)):
        gotten = _time(got.get(name))
        if not exp.is_message:
            out[name] = NOT_A_MESSAGE
        elif value is None:
            out[name] = na("the PST has no time for the item")
        else:
            out[name] = Outcome(True, gotten == value, f"{gotten} != {value}")
    read, draft = got.get("is_read"), got.get("is_draft")
    out["flags"] = (
        Outcome(
            True,
            read == exp.read and bool(draft) == exp.draft,
            f"read {read} draft {draft} != read {exp.read} draft {exp.draft}",
        )
        if exp.is_message
        else NOT_A_MESSAGE
    )
    importance = (got.get("importance") or "normal").lower()
    out["importance"] = Outcome(True, importance == exp.importance, f"{importance!r} != {exp.importance!r}")
    sensitivity = (got.get("sensitivity") or "normal").lower()
    out["sensitivity"] = Outcome(True, sensitivity == exp.sensitivity, f"{sensitivity!r} != {exp.sensitivity!r}")
    out["categories"] = Outcome(
        True,
        sorted(got.get("categories") or []) == sorted(exp.categories),
        f"{got.get('categories')} != {exp.categories}",
    )
    status = got.get("flag_status") or None
    out["followup"] = Outcome(True, status == exp.followup, f"{status!r} != {exp.followup!r}")
    one_body: tuple[str, ...] = ()
    if transport == "graph" and exp.draft and exp.has_html:
        one_body = ("graph-json-one-body",)
    if transport == "graph" and exp.message_class.upper().startswith("IPM.DISTLIST"):
        one_body = ("graph-distlist-members",)
    elif transport == "graph" and not exp.is_message and got.get("element") == "message" and exp.body == "":
        one_body = ("graph-summary-body",)
    out["body"] = (
        Outcome(
            True, words(got.get("body")) == exp.body, f"{words(got.get('body'))[:80]!r} != {exp.body[:80]!r}", one_body
        )
        if exp.body is not None
        else na("an RTF body only: its text is proven in tests/convert (the RTF walk against its oracle)")
    )
    out["attachments"] = _attachments(exp, got, transport)
    out["note colour"] = (
        Outcome(True, got.get("note_color") == exp.note_color, f"{got.get('note_color')} != {exp.note_color}")
        if exp.note_color is not None
        else na("not a sticky note")
    )
    out["journal type"] = (
        Outcome(True, got.get("log_type") == exp.log_type, f"{got.get('log_type')!r} != {exp.log_type!r}")
        if exp.log_type is not None
        else na("not a journal entry")
    )
    return out


def _recipients(exp: Expected, got: dict) -> Outcome:
    if not exp.recipients:
        return Outcome(True, not got["recipients"], f"{len(got['recipients'])} recipients where the PST has none")
    theirs = Counter((r["kind"], smtp(r.get("address"))) for r in got["recipients"])
    ours = Counter((r.kind, r.address) for r in exp.recipients if r.address)
    nameless = [r for r in exp.recipients if not r.address]
    # an EX recipient the importer resolved (recipient collection, contacts, GAL) reads back with an
    # address the PST does not hold on that recipient: it must be an SMTP address under the same name
    resolved = Counter()
    for r in nameless:
        match = next(
            (
                g
                for g in got["recipients"]
                if g["kind"] == r.kind
                and smtp(g.get("address"))
                and (g.get("name") or "").casefold() == (r.name or "").casefold()
                and (r.kind, smtp(g.get("address"))) not in ours
            ),
            None,
        )
        if match is not None:
            resolved[(r.kind, smtp(match.get("address")))] += 1
    missing = len(nameless) - sum(resolved.values())
    equal = theirs == ours + resolved
    detail = f"{sorted(theirs.elements())} != {sorted((ours + resolved).elements())}"
    if equal and missing:
        return Outcome(True, False, f"{missing} recipient(s) without address", ("recipient-without-address",))
    return Outcome(True, equal, detail)


def _attachments(exp: Expected, got: dict, transport: str) -> Outcome:
    want_names, want = _attachment_names_and_hashes(exp.attachments)
    have_names, have = _attachment_names_and_hashes(got.get("attachments") or [])
    # a name is compared when the PST gives one (an unnamed one is named by the importer)
    named = Counter({n: c for n, c in want_names.items()})
    equal = have == want and all(have_names[n] >= c for n, c in named.items())
    detail = (
        f"missing {sorted((want - have).elements())[:3]} extra {sorted((have - want).elements())[:3]}"
        f" names missing {sorted((named - have_names).elements())[:3]} got {sorted(have_names.elements())[:4]}"
    )
    cases: list[str] = []
    if transport == "graph" and exp.draft and exp.embedded:
        cases.append("graph-json-embedded")
    if not want and not exp.reference_attachments:
        return Outcome(True, equal, detail, tuple(cases))
    if exp.reference_attachments:
        cases.append("reference-attachment")
    cls = exp.message_class.upper()
    if transport == "graph" and cls.startswith(("IPM.CONTACT", "IPM.TASK")):
        cases.append("graph-no-attachment-api")
    if equal and exp.reference_attachments:
        return Outcome(True, False, f"{exp.reference_attachments} reference attachment(s)", tuple(cases))
    return Outcome(True, equal, detail, tuple(cases))


Deviation = Callable[[Expected, str, dict | None], str | None]


def tally(
    expected: list[Expected],
    got: dict[str, dict],
    transport: str,
    deviation: Deviation | None = None,
) -> dict[str, Tally]:
    """The table's column for one transport and server. `deviation(exp, field, got)` names a server
    deviation that explains a mismatch (None when the server is not known to differ there)."""
    known = RULES
    out = {name: Tally() for name in FIELDS}
    for exp in expected:
        item = got.get(exp.stamp)
        if item is None:
            why = deviation(exp, "*", None) if deviation else None
            for name in FIELDS:
                out[name].compared += 1
                if why:
                    out[name].deviated[why] += 1
                else:
                    out[name].mismatches.append(f"{exp.source}: {exp.where}: not found on the server")
            continue
        for name, outcome in field_outcomes(exp, item, transport).items():
            t = out[name]
            if not outcome.applies:
                t.na[outcome.detail] += 1
                continue
            t.compared += 1
            if outcome.equal:
                t.matched += 1
                continue
            unknown = [c for c in outcome.cases if c not in known]
            assert not unknown, f"a cannot-carry case with no entry in core.convert.limits: {unknown}"
            cases = {limit.case for limit in limits_for(name, transport)}
            explained = next((c for c in outcome.cases if c in cases), None)
            if explained is not None:
                t.limited[explained] += 1
                continue
            why = deviation(exp, name, item) if deviation else None
            if why:
                t.deviated[why] += 1
                continue
            t.mismatches.append(f"{exp.source}: {exp.where}: {name}: {outcome.detail}")
    return out


def table(columns: dict[str, dict[str, Tally]]) -> str:
    """The per-field table: matched/compared per column (+N explained by the cannot-carry list or a named
    server deviation, !N unexplained), then every explanation used, with its count."""
    names = list(columns)
    width = max(len(n) for n in FIELDS) + 2
    lines = ["field".ljust(width) + "".join(n.rjust(22) for n in names)]
    for f in FIELDS:
        lines.append(f.ljust(width) + "".join(columns[n][f].cell().rjust(22) for n in names))
    lines.append("")
    reasons = {(limit.field, limit.case): limit.reason for limit in CANNOT_CARRY}
    for n in names:
        for f in FIELDS:
            t = columns[n][f]
            for case, count in sorted(t.limited.items()):
                lines.append(f"{n} / {f}: {count} not carried ({case}): {reasons.get((f, case), case)[:110]}")
            for why, count in sorted(t.deviated.items()):
                lines.append(f"{n} / {f}: {count} server deviation: {why}")
            for why, count in sorted(t.na.items()):
                lines.append(f"{n} / {f}: {count} n/a: {why}")
    return "\n".join(lines)
