"""A canonical record of everything the NDB/LTP layer (core.pst.ndb) yields for a file.

For every node of the node B-tree, in NID order: its NBT entry, the SHA-256 of its data, its
subnode tree, and what the LTP layer makes of it: a property context's properties in order (id,
type, SHA-256 of the raw bytes), a table context's columns and every row, and for a message node
its properties, recipient rows and attachments (properties, has_data, data_size, method, data
SHA-256 read through the stream, embedded messages recursively). Anything that raises is recorded
as its one-line NdbError text, so errors are pinned too. Two readings yield the same thing exactly
when their digests are equal.

    python -m tests.pst.ndb_digest PATH...   # prints one digest per file
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

from core.pst.ndb import NdbError, NdbFile, RawMessage
from core.pst.ndb.format import (
    NID_TYPE_ASSOC_MESSAGE,
    NID_TYPE_NORMAL_MESSAGE,
    bTypePC,
    bTypeTC,
    nid_type,
)
from core.pst.ndb.ltp import Heap, PropertyContext, TableContext
from core.pst.ndb.nodes import Node

EMBEDDED_DEPTH = 8
_CHUNK = 1 << 16


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _guard(fn: Callable[[], str]) -> str:
    try:
        return fn()
    except NdbError as e:
        return f"!{type(e).__name__}:{e}"


def _props(props: dict) -> str:
    return "{" + ",".join(f"{k:x}={p.prop_id:x}/{p.prop_type:x}/{_sha(p.value)}" for k, p in props.items()) + "}"


def _stream_sha(att) -> str:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256()
    n = 0
    with att.open_data() as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            n += len(chunk)
    return f"{n}:{digest.hexdigest()[:16]}"


def _message(msg: RawMessage, depth: int) -> str:
    parts = [
        "props=" + _guard(lambda: _props(msg.props)),
        "recips=" + _guard(lambda: "[" + ";".join(_props(r) for r in msg.recipients) + "]"),
    ]
    try:
        atts = msg.attachments
    except NdbError as e:
        parts.append(f"atts=!{e}")
        return " ".join(parts)
    for att in atts:
        head = f"att{att.index}:nid={att.nid:x}"
        body = _guard(
            lambda a=att: (
                f"props={_props(a.props)} has={a.has_data} size={a.data_size} method={a.method} "
                f"data={_guard(lambda: _stream_sha(a))}"
            )
        )
        emb = ""
        if depth < EMBEDDED_DEPTH:
            try:
                inner = att.embedded()
            except NdbError as e:
                emb = f" emb=!{e}"
            else:
                if inner is not None:
                    emb = f" emb=<{_message(inner, depth + 1)}>"
        parts.append(f"{head} {body}{emb}")
    return " ".join(parts)


def _table(tc: TableContext) -> str:
    cols = ",".join(f"{c.prop_id:x}/{c.prop_type:x}/{c.ib_data}/{c.cb_data}/{c.i_bit}" for c in tc.columns)
    rows = ";".join(_props(r) for r in tc.rows())
    return f"cols=[{cols}] rows=[{rows}]"


def _node(db: NdbFile, entry) -> str:  # type: ignore[no-untyped-def]
    node = Node(db, entry.nid, entry.bid_data, entry.bid_sub)
    parts = [f"{entry.nid:x} {entry.bid_data:x} {entry.bid_sub:x} {entry.nid_parent:x}"]
    parts.append("data=" + _guard(lambda: f"{node.size}:{_sha(node.data())}"))
    parts.append("subs=" + _guard(lambda: repr(sorted(node.subnodes.items()))))
    if nid_type(entry.nid) in (NID_TYPE_NORMAL_MESSAGE, NID_TYPE_ASSOC_MESSAGE):
        parts.append("msg=" + _message(RawMessage(node), 0))
        return " ".join(parts)

    def ltp() -> str:
        sig = Heap(node).client_sig
        if sig == bTypePC:
            return "pc=" + _props(PropertyContext(node).props())
        if sig == bTypeTC:
            return "tc=" + _table(TableContext(node))
        return f"heap={sig:x}"

    parts.append(_guard(ltp))
    return " ".join(parts)


def ndb_file_digest(path: Path) -> str:
    """SHA-256 over the record of every node of `path` (or of the error that stops opening it)."""
    digest = hashlib.sha256()
    try:
        db = NdbFile(path)
    except NdbError as e:
        return _sha(f"open: {e}".encode())
    with db:
        h = db.header
        digest.update(f"{h}\n".encode())
        try:
            for entry in db.iter_nbt():
                digest.update(_node(db, entry).encode("utf-8", "surrogatepass") + b"\n")
        except NdbError as e:
            digest.update(f"nbt: {e}\n".encode())
    return digest.hexdigest()


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(ndb_file_digest(Path(arg)), arg)
