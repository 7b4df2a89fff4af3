"""A canonical record of everything the reader yields for a file, for comparing readings.

Each folder and each item (ordinary and associated) becomes one line of text: the folder's fields;
the item's node id, problems, code page, every property in iteration order (key, stored type,
decoded value, error), every recipient's properties, every attachment's index, size, properties
and the SHA-256 of its data (embedded messages recursively), and the SHA-256 of its libpff RTF.
Two readings yield the same thing exactly when their records are equal.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.pst import open_pst
from core.pst.model import Attachment, Item, PropertyBag

EMBEDDED_DEPTH = 8  # deeper than any corpus or writer nesting (four_nesting_levels has 4)


def _sha(data: bytes | None) -> str:
    return "-" if data is None else hashlib.sha256(data).hexdigest()[:16]


def bag_record(bag: PropertyBag) -> str:
    """Every property in iteration order, with len() and the errors() view, as text."""
    parts = [f"len={len(bag)}"]
    for key in bag:
        pv = bag[key]
        parts.append(f"{key!r}:{pv.type:#06x}:{pv.value!r}:{pv.error}")
    parts.append(f"errors={sorted(map(repr, bag.errors().items()))}")
    return "{" + ", ".join(parts) + "}"


def attachment_record(att: Attachment, depth: int) -> str:
    """An attachment's table row and the SHA-256 of its data (or its embedded message's record)."""
    head = f"att[{att.index}] size={att.size} emb={att.is_embedded_message} props={bag_record(att.props)}"
    try:
        if att.is_embedded_message:
            inner = att.embedded
            body = item_record(inner, depth + 1) if inner is not None and depth < EMBEDDED_DEPTH else "deep"
        else:
            body = f"data={_sha(att.read())}"
    except Exception as exc:  # noqa: BLE001 - a failure is part of what the reader yields
        body = f"failed: {type(exc).__name__}: {exc}"
    return f"{head} {body}"


def item_record(item: Item, depth: int = 0) -> str:
    """One item as text: identity, problems, properties, recipients, attachments, libpff RTF."""
    lines = [
        f"item {item.node_id} folder={item.folder_path!r} assoc={item.associated} emb={item.embedded_path!r}",
        f"problems={item.problems!r} codepage={item.codepage}",
        f"props={bag_record(item.props)}",
        *(f"rcpt={bag_record(r.props)}" for r in item.recipients),
        *(attachment_record(a, depth) for a in item.attachments),
        f"rtf={_sha(item.rtf_body())}",
    ]
    return "\n".join(lines)


def file_records(path: Path) -> dict[str, str]:
    """{"folder#nid[a]": record} for every folder and item of a file, in reading order."""
    out: dict[str, str] = {}
    with open_pst(path) as pst:
        for folder in pst.folders():
            name = "/".join(folder.path)
            out[f"folder {name}"] = repr(folder)
            for assoc in (False, True):
                for item in pst.items(folder, associated=assoc):
                    key = f"{name}#{item.node_id}{'a' if assoc else ''}"
                    while key in out:
                        key += "+"
                    out[key] = item_record(item) if isinstance(item, Item) else f"unreadable: {item!r}"
    return out


def file_digest(path: Path) -> dict[str, object]:
    """{"entries": how many folders and items, "sha256": of all their records in order}."""
    records = file_records(path)
    h = hashlib.sha256()
    for key, record in records.items():
        h.update(f"{key}\n{record}\n\n".encode())
    return {"entries": len(records), "sha256": h.hexdigest()}
