"""The pure-Python NDB/LTP layer (core.pst.ndb) against the real corpus, with pypff as the oracle."""

from __future__ import annotations

import hashlib
import os
import random
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.pst.ndb import NdbError, NdbFile
from core.pst.ndb import crypt as C
from core.pst.ndb.crc import crc32
from core.pst.ndb.nodes import MAX_RUN_BYTES
from tests.need import CORPUS, missing

pypff = pytest.importorskip("pypff")

_REPO = Path(__file__).resolve().parents[2]
_CORPUS = CORPUS
_FILES = sorted(p.name for p in _CORPUS.glob("*") if p.suffix in (".pst", ".ost", ".bin")) if _CORPUS.is_dir() else []
READABLE = [n for n in _FILES if not n.startswith(("BROKEN_", "NOTPST_"))]
BROKEN = [n for n in _FILES if n.startswith(("BROKEN_", "NOTPST_"))]
EMBEDDED_FILES = [
    "ruby-msg_msgInMsg.pst",
    "tika_testPST.pst",
    "aspose-net_passwordprotectedPST.pst",
    "process-pst_four_nesting_levels.pst",
    "java-libpst_dist-list.pst",
]
# The oracle comparisons use pypff, which cannot read these files' items (see MANIFEST.md).
PYPFF_ITEM_ERRORS = {"QUIRK_aspose-net_Test_part1_unspecified-proptype.pst"}
PT_UNICODE, PT_STRING8 = 0x001F, 0x001E


def _params(names: list[str]) -> list:
    return names or [pytest.param("", marks=pytest.mark.skip(reason=f"PST corpus not found at {_CORPUS}"))]


def _pypff_open(path: Path):  # type: ignore[no-untyped-def]
    f = pypff.file()
    f.open(str(path))
    return f


def _pypff_messages(folder) -> Iterator:  # type: ignore[no-untyped-def]
    """Every ordinary item pypff can read, depth first."""
    for i in range(folder.number_of_sub_messages):
        try:
            yield folder.get_sub_message(i)
        except OSError:
            continue  # the QUIRK_ file's PT_UNSPECIFIED contacts
    for j in range(folder.number_of_sub_folders):
        yield from _pypff_messages(folder.get_sub_folder(j))


def _entries(record_set) -> Iterator[tuple[int, int, bytes]]:  # type: ignore[no-untyped-def]
    for i in range(record_set.number_of_entries):
        e = record_set.get_entry(i)
        yield e.entry_type, e.value_type, e.data or b""


def _same_value(mine: bytes, theirs: bytes) -> bool:
    # pypff gives 1- and 2-byte types (PT_BOOLEAN, PT_SHORT) at their size; we give 4 bytes.
    return mine == theirs or (len(theirs) < 4 and len(mine) == 4 and mine[: len(theirs)] == theirs)


# -- CRC and block encodings ------------------------------------------------------------
def test_crc_matches_zlib_definition() -> None:
    """crc32 is the raw CRC (zlib's inverted around), and it can be continued chunk by chunk."""
    data = b"123456789"
    assert crc32(data) == zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF
    assert crc32(data) != zlib.crc32(data)
    assert crc32(data[4:], crc32(data[:4])) == crc32(data)


@pytest.mark.parametrize("name", _params(READABLE))
def test_crc_matches_real_header(name: str) -> None:
    """The spec CRC reproduces dwCRCPartial (and, Unicode, dwCRCFull) of every real header."""
    raw = (_CORPUS / name).read_bytes()[:564]
    assert struct.unpack_from("<I", raw, 4)[0] == crc32(raw[8 : 8 + 471])
    if struct.unpack_from("<H", raw, 10)[0] >= 23:
        assert struct.unpack_from("<I", raw, 524)[0] == crc32(raw[8 : 8 + 516])


def test_permute_tables_are_inverse() -> None:
    """mpbbI undoes mpbbR, and mpbbS is an involution, as section 5.1 requires."""
    r, s, i = C.MPBB_CRYPT[:256], C.MPBB_CRYPT[256:512], C.MPBB_CRYPT[512:]
    assert sorted(r) == list(range(256))
    assert all(i[r[b]] == b for b in range(256))
    assert all(s[s[b]] == b for b in range(256))
    data = random.Random(1).randbytes(3000)
    assert C.permute_decode(C.permute_encode(data)) == data
    assert C.permute_encode(data) != data


def _cyclic_reference(data: bytes, key: int) -> bytes:
    """Section 5.2 CryptCyclic, byte by byte, to check the translate-based version."""
    r, s, i = C.MPBB_CRYPT[:256], C.MPBB_CRYPT[256:512], C.MPBB_CRYPT[512:]
    w = (key ^ (key >> 16)) & 0xFFFF
    out = bytearray()
    for b in data:
        b = r[(b + w) & 0xFF]
        b = s[(b + (w >> 8)) & 0xFF]
        b = i[(b - (w >> 8)) & 0xFF]
        out.append((b - w) & 0xFF)
        w = (w + 1) & 0xFFFF
    return bytes(out)


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 4000, 8176])
def test_cyclic_matches_reference_and_is_its_own_inverse(size: int) -> None:
    """The fast cyclic cipher equals the per-byte algorithm for any length and key, and undoes itself."""
    rnd = random.Random(size)
    data = rnd.randbytes(size)
    for key in (0, 0xFFFF00FF, rnd.getrandbits(32)):
        assert C.cyclic(data, key) == _cyclic_reference(data, key)
        assert C.cyclic(C.cyclic(data, key), key) == data


# -- header -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", _params(READABLE))
def test_header_matches_manifest(name: str, manifest: dict) -> None:
    """Header fields decoded by NdbFile equal the corpus manifest's `header` section."""
    expected = manifest[name]["header"]
    with NdbFile(_CORPUS / name) as nf:
        h = nf.header
        got = {
            "file_size": h.file_size,
            "client_magic": h.client_magic,
            "kind": h.kind,
            "wVer": h.wVer,
            "wVerClient": h.wVerClient,
            "format": h.format,
            "declared_eof": h.declared_eof,
            "truncated": h.truncated,
            "crypt_method": h.crypt_name,
        }
    assert got == {k: expected[k] for k in got}


@pytest.mark.parametrize("name", _params(BROKEN))
def test_broken_files_raise_one_line_error(name: str) -> None:
    """BROKEN_/NOTPST_ files raise NdbError with a one-line reason, not another exception."""
    with pytest.raises(NdbError) as info:
        NdbFile(_CORPUS / name)
    msg = str(info.value)
    assert msg and "\n" not in msg
    assert info.value.path == str(_CORPUS / name)
    assert any(w in msg for w in ("signature", "CRC", "truncated"))


def test_missing_file_raises_ndb_error(tmp_path: Path) -> None:
    """A path that does not exist is an NdbError too."""
    with pytest.raises(NdbError, match="cannot open"):
        NdbFile(tmp_path / "nope.pst")


# -- messages against pypff ---------------------------------------------------------------
@pytest.mark.parametrize("name", _params(READABLE))
def test_messages_match_pypff(name: str) -> None:
    """Every property, recipient row and attachment count of every message equals pypff's."""
    f = _pypff_open(_CORPUS / name)
    checked = 0
    with NdbFile(_CORPUS / name) as nf:
        for item in _pypff_messages(f.root_folder):
            msg = nf.message(item.identifier)
            for pid, ptype, data in _entries(item.get_record_set(0)):
                assert msg.props[pid].prop_type == ptype, f"0x{item.identifier:X} 0x{pid:04X}"
                assert _same_value(msg.props[pid].value, data), f"0x{item.identifier:X} 0x{pid:04X}"
                checked += 1
            recipients = getattr(item, "recipients", None)
            pypff_rows = [] if recipients is None else list(recipients.record_sets)
            assert len(msg.recipients) == len(pypff_rows)
            for mine, theirs in zip(msg.recipients, pypff_rows, strict=True):
                for pid, _ptype, data in _entries(theirs):
                    if pid in mine:
                        assert _same_value(mine[pid].value, data)
                    else:  # pypff ignores the cell existence bitmap and shows unset cells
                        assert not data.strip(b"\0"), f"0x{pid:04X} exists for pypff"
                assert mine.keys() <= {pid for pid, _t, _d in _entries(theirs)}
            assert len(msg.attachments) == getattr(item, "number_of_attachments", 0)
    assert checked or name == "outlook-pst-rs_Empty.pst"


@pytest.mark.parametrize("name", _params(READABLE))
def test_attachment_data_matches_pypff(name: str) -> None:
    """Streamed attachment data has the SHA-256 of pypff's read_buffer, for every non-embedded one."""
    f = _pypff_open(_CORPUS / name)
    with NdbFile(_CORPUS / name) as nf:
        for item in _pypff_messages(f.root_folder):
            msg = nf.message(item.identifier)
            for i, att in enumerate(msg.attachments):
                if att.embedded() is not None:
                    continue
                theirs = item.get_attachment(i)
                assert att.data_size == theirs.size
                h = hashlib.sha256()
                with att.open_data() as stream:
                    while chunk := stream.read(10_000):
                        h.update(chunk)
                assert h.hexdigest() == hashlib.sha256(theirs.read_buffer(theirs.size) or b"").hexdigest()


def test_attachment_stream_seeks() -> None:
    """open_data() seeks like a file: a slice read after seek equals the same slice of the whole."""
    name = "pst2john_2003_no-encryption_quickbrownfox.pst"
    if name not in READABLE:
        missing("corpus", f"corpus file {name} missing at {_CORPUS}")
    with NdbFile(_CORPUS / name) as nf:
        f = _pypff_open(_CORPUS / name)
        atts = [a for i in _pypff_messages(f.root_folder) for a in nf.message(i.identifier).attachments]
        att = max(atts, key=lambda a: a.data_size)
        assert att.data_size > 2 * 8176  # spans three blocks
        whole = att.open_data().read()
        stream = att.open_data()
        for pos in (att.data_size - 10, 8176 - 5, 0, 2 * 8176 + 7):
            stream.seek(pos)
            assert stream.read(100) == whole[pos : pos + 100]
        assert stream.seek(0, os.SEEK_END) == att.data_size and stream.read() == b""


def test_attachments_are_streamed_block_by_block() -> None:
    """Reading all attachments of the largest file never reads more than one run of blocks at once."""
    name = "pst2john_2003_no-encryption_quickbrownfox.pst"
    if name not in READABLE:
        missing("corpus", f"corpus file {name} missing at {_CORPUS}")
    f = _pypff_open(_CORPUS / name)
    total = 0
    with NdbFile(_CORPUS / name) as nf:
        for item in _pypff_messages(f.root_folder):
            for att in nf.message(item.identifier).attachments:
                with att.open_data() as stream:
                    while chunk := stream.read(65536):
                        total += len(chunk)
        assert total > 2_000_000
        assert nf.largest_read <= MAX_RUN_BYTES
        assert nf.bytes_read < 2 * nf.header.file_size


# -- embedded messages ----------------------------------------------------------------------
def _subject(props: dict) -> str | None:
    """PidTagSubject without the 2-character prefix marker that pypff strips too."""
    p = props.get(0x0037)
    if p is None:
        return None
    text = p.value.decode("utf-16-le" if p.prop_type == PT_UNICODE else "latin-1").rstrip("\0")
    return text[2:] if text.startswith("\x01") else text


@pytest.mark.parametrize("name", _params([n for n in EMBEDDED_FILES if n in READABLE]))
def test_embedded_message_pc_equals_pypff_buffer(name: str) -> None:
    """The embedded message's PC is exactly the heap pypff returns from read_buffer (0xEC 0xBC)."""
    f = _pypff_open(_CORPUS / name)
    found = 0
    with NdbFile(_CORPUS / name) as nf:
        for item in _pypff_messages(f.root_folder):
            msg = nf.message(item.identifier)
            for i, att in enumerate(msg.attachments):
                inner = att.embedded()
                if inner is None:
                    continue
                theirs = item.get_attachment(i)
                pc = inner.node.data()
                assert pc[2:4] == b"\xec\xbc"
                assert pc == theirs.read_buffer(theirs.size)
                assert inner.props[0x001A].value  # PidTagMessageClass
                found += 1
    assert found


def test_four_nesting_levels() -> None:
    """process-pst_four_nesting_levels: three nested messages, each with its recipient, and hello.txt inside."""
    name = "process-pst_four_nesting_levels.pst"
    if name not in READABLE:
        missing("corpus", f"corpus file {name} missing at {_CORPUS}")
    f = _pypff_open(_CORPUS / name)
    (item,) = list(_pypff_messages(f.root_folder))
    with NdbFile(_CORPUS / name) as nf:
        outer = nf.message(item.identifier)
        middle = outer.embedded_path([0])
        inner = outer.embedded_path([0, 0])
        assert [_subject(m.props) for m in (outer, middle, inner)] == [
            "Outermost message",
            "Middle message",
            "Innermost message",
        ]
        names = [m.recipients[0][0x3001].value.decode("utf-16-le") for m in (outer, middle, inner)]
        assert names == ["Jane Doe", "John Doe", "Jane Doe"]
        (att,) = inner.attachments
        assert att.embedded() is None and att.props[0x3707].value.decode("utf-16-le") == "hello.txt"
        assert att.open_data().read() == att.open_data().read(att.data_size) and att.data_size == 15
        with pytest.raises(NdbError, match="not an embedded message"):
            outer.embedded_path([0, 0, 0])


@pytest.mark.parametrize(
    ("name", "outer_subject", "index", "inner_subject", "inner_recipients", "inner_attachments"),
    [
        ("ruby-msg_msgInMsg.pst", "I have attachments!", 0, "Microsoft Outlook テスト メッセージ", 1, 0),
        ("tika_testPST.pst", "FW: First email", 0, "First email", 1, 1),
        (
            "aspose-net_passwordprotectedPST.pst",
            "Message with Attachments",
            2,
            "creating an outlook message file",
            1,
            0,
        ),
    ],
)
def test_embedded_message_contents(
    name: str, outer_subject: str, index: int, inner_subject: str, inner_recipients: int, inner_attachments: int
) -> None:
    """Embedded messages expose subject, recipients and attachments, which pypff cannot give."""
    if name not in READABLE:
        missing("corpus", f"corpus file {name} missing at {_CORPUS}")
    f = _pypff_open(_CORPUS / name)
    with NdbFile(_CORPUS / name) as nf:
        msgs = [nf.message(i.identifier) for i in _pypff_messages(f.root_folder)]
        outer = next(m for m in msgs if _subject(m.props) == outer_subject)
        inner = outer.embedded_path([index])
        assert _subject(inner.props) == inner_subject
        assert len(inner.recipients) == inner_recipients
        assert all(0x3001 in r for r in inner.recipients)
        assert len(inner.attachments) == inner_attachments
        for att in inner.attachments:
            data = att.open_data().read()
            assert len(data) == att.data_size > 0


def test_tika_embedded_attachment_is_a_docx() -> None:
    """The attachment inside tika's forwarded message streams out as a real .docx (a zip)."""
    name = "tika_testPST.pst"
    if name not in READABLE:
        missing("corpus", f"corpus file {name} missing at {_CORPUS}")
    f = _pypff_open(_CORPUS / name)
    with NdbFile(_CORPUS / name) as nf:
        for item in _pypff_messages(f.root_folder):
            msg = nf.message(item.identifier)
            if any(a.embedded() for a in msg.attachments):
                (att,) = msg.embedded_path([0]).attachments
                assert att.props[0x3707].value.decode("utf-16-le") == "attachment.docx"
                assert att.open_data().read(4) == b"PK\x03\x04"
                return
    pytest.fail("no embedded message found")


def test_recurring_appointment_exceptions_are_embedded() -> None:
    """java-libpst dist-list: the appointment's two exception attachments open as embedded messages."""
    name = "java-libpst_dist-list.pst"
    if name not in READABLE:
        missing("corpus", f"corpus file {name} missing at {_CORPUS}")
    f = _pypff_open(_CORPUS / name)
    with NdbFile(_CORPUS / name) as nf:
        msgs = [nf.message(i.identifier) for i in _pypff_messages(f.root_folder)]
        appt = next(m for m in msgs if m.props[0x001A].value.decode("utf-16-le") == "IPM.Appointment")
        inner = [a.embedded() for a in appt.attachments]
        assert len(inner) == 2 and all(m is not None for m in inner)
        assert all(m.props[0x001A].value.decode("utf-16-le").startswith("IPM.OLE.CLASS.") for m in inner)


# -- encodings and formats ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "crypt"),
    [
        ("pst2john_2003_high-encryption_quickquick.pst", "high"),
        ("pst2john_2003_compressable-encryption_quickquick.pst", "compressible"),
        ("pst2john_2003_no-encryption_quickquick.pst", "none"),
    ],
)
def test_every_crypt_method_reads_the_same_mailbox(name: str, crypt: str) -> None:
    """The quickquick trio reads under each bCryptMethod: subjects decode and attachments stream."""
    if name not in READABLE:
        missing("corpus", f"corpus file {name} missing at {_CORPUS}")
    f = _pypff_open(_CORPUS / name)
    with NdbFile(_CORPUS / name) as nf:
        assert nf.header.crypt_name == crypt
        items = list(_pypff_messages(f.root_folder))
        assert len(items) >= 20
        for item in items:
            msg = nf.message(item.identifier)
            assert _subject(msg.props) == item.subject
            assert sum(len(a.open_data().read()) for a in msg.attachments) == sum(
                item.get_attachment(i).size for i in range(item.number_of_attachments)
            )


@pytest.mark.parametrize("name", ["pst2john_97_outlook_pass12345.pst", "pstsdk_test_ansi.pst"])
def test_ansi_files(name: str) -> None:
    """ANSI files: 8-bit subjects come back as the stored bytes, equal to pypff's."""
    if name not in READABLE:
        missing("corpus", f"corpus file {name} missing at {_CORPUS}")
    f = _pypff_open(_CORPUS / name)
    with NdbFile(_CORPUS / name) as nf:
        assert nf.header.format == "ANSI"
        items = list(_pypff_messages(f.root_folder))
        assert items
        for item in items:
            subject = nf.message(item.identifier).props[0x0037]
            assert subject.prop_type == PT_STRING8
            assert _subject({0x0037: subject}) == item.subject


def test_reads_items_pypff_refuses() -> None:
    """The QUIRK_ file's PT_UNSPECIFIED contacts, which pypff cannot open, read through the contents table."""
    name = "QUIRK_aspose-net_Test_part1_unspecified-proptype.pst"
    if name not in READABLE:
        missing("corpus", f"corpus file {name} missing at {_CORPUS}")
    with NdbFile(_CORPUS / name) as nf:
        nids = [
            nid
            for e in nf.iter_nbt()
            if e.nid & 0x1F == 0x0E  # NID_TYPE_CONTENTS_TABLE
            for nid in nf.tc(e.nid).row_ids()
        ]
        msgs = [nf.message(nid) for nid in nids]
        unspecified = [m for m in msgs if any(p.prop_type == 0 for p in m.props.values())]
        assert len(unspecified) == 12
        assert all(m.props[0x001A].value.decode("utf-16-le") == "IPM.Contact" for m in unspecified)


def test_unknown_node_is_an_error() -> None:
    """Asking for a NID that is not in the node B-tree raises NdbError naming it."""
    if "ruby-msg_msgInMsg.pst" not in READABLE:
        missing("corpus", f"corpus file ruby-msg_msgInMsg.pst missing at {_CORPUS}")
    with NdbFile(_CORPUS / "ruby-msg_msgInMsg.pst") as nf, pytest.raises(NdbError, match="0x7FFFFE4"):
        nf.message(0x7FFFFE4)


# -- damaged files ------------------------------------------------------------------------
def _rewrite_block(src: Path, dst: Path, bid: int, change) -> None:  # type: ignore[no-untyped-def]
    """Copy `src` to `dst` with block `bid`'s decoded payload passed through `change`,
    re-encoded and given a valid CRC: a file whose damage only the structure checks can see."""
    with NdbFile(src) as nf:
        e = nf.bbt_lookup(bid)
        payload = change(bytearray(nf.read_block(bid)))
        method = nf.header.crypt_method
    assert len(payload) == e.cb
    stored = C.encode_block(bytes(payload), method, bid) if not bid & 2 else bytes(payload)
    raw = bytearray(src.read_bytes())
    raw[e.ib : e.ib + e.cb] = stored
    trailer = e.ib + -(-(e.cb + 16) // 64) * 64 - 16  # Unicode BLOCKTRAILER: cb, wSig, dwCRC, bid
    struct.pack_into("<I", raw, trailer + 4, crc32(stored))
    dst.write_bytes(bytes(raw))


def _message_block_ids(path: Path) -> list[int]:
    with NdbFile(path) as nf:
        bids: list[int] = []
        for e in nf.iter_nbt():
            if e.nid & 0x1F == 0x04:
                node = nf.node(e.nid)
                bids += node.block_ids() + ([node.bid_sub] if node.bid_sub else [])
                for nid in node.subnodes:
                    sub = node.subnode(nid)
                    bids += sub.block_ids() + ([sub.bid_sub] if sub.bid_sub else [])
        return bids


def test_damaged_recipient_table_is_a_one_line_error(tmp_path: Path) -> None:
    """A recipient table whose heap page map points outside its block fails as NdbError naming it."""
    src = _CORPUS / "process-pst_four_nesting_levels.pst"
    if not src.is_file():
        missing("corpus", f"corpus file {src.name} missing at {_CORPUS}")
    f = _pypff_open(src)
    (item,) = list(_pypff_messages(f.root_folder))
    with NdbFile(src) as nf:
        bid = nf.message(item.identifier).node.subnode(0x692).block_ids()[0]
    dst = tmp_path / "damaged.pst"
    _rewrite_block(src, dst, bid, lambda b: struct.pack_into("<H", b, 0, 0xFFF0) or b)
    with NdbFile(dst) as nf:
        msg = nf.message(item.identifier)
        assert _subject(msg.props) == "Outermost message"  # the rest of the message still reads
        with pytest.raises(NdbError) as info:
            _ = msg.recipients
    assert "recipient table" in str(info.value) and "\n" not in str(info.value)
    assert f"0x{item.identifier:X}" in str(info.value)


@pytest.mark.parametrize("seed", range(12))
def test_random_block_damage_only_raises_ndb_error(seed: int, tmp_path: Path) -> None:
    """Bytes changed inside CRC-valid blocks give NdbError (or wrong values), never another exception."""
    src = _CORPUS / "ruby-msg_msgInMsg.pst"
    if not src.is_file():
        missing("corpus", f"corpus file {src.name} missing at {_CORPUS}")
    rnd = random.Random(seed)
    bid = rnd.choice(_message_block_ids(src))

    def change(b: bytearray) -> bytearray:
        for _ in range(rnd.choice((1, 4, 16))):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        return b

    dst = tmp_path / "damaged.pst"
    _rewrite_block(src, dst, bid, change)

    def read_all(msg) -> None:  # type: ignore[no-untyped-def]
        _ = msg.props, msg.recipients
        for att in msg.attachments:
            _ = att.props, att.open_data().read()
            inner = att.embedded()
            if inner is not None:
                read_all(inner)

    with NdbFile(dst) as nf:
        for e in nf.iter_nbt():
            if e.nid & 0x1F == 0x04:
                try:
                    read_all(nf.message(e.nid))
                except NdbError as err:
                    assert "\n" not in str(err)


@pytest.mark.parametrize("name", _params(READABLE))
def test_every_message_node_reads(name: str) -> None:
    """Every ordinary and folder-associated message node in the NBT reads whole, embedded ones included."""
    count = 0

    def read_all(msg) -> None:  # type: ignore[no-untyped-def]
        nonlocal count
        count += 1
        assert 0x001A in msg.props  # PidTagMessageClass
        _ = msg.recipients
        for att in msg.attachments:
            assert len(att.open_data().read()) == att.data_size
            inner = att.embedded()
            if inner is not None:
                read_all(inner)

    with NdbFile(_CORPUS / name) as nf:
        for e in nf.iter_nbt():
            if e.nid & 0x1F in (0x04, 0x08):  # NID_TYPE_NORMAL_MESSAGE, NID_TYPE_ASSOC_MESSAGE
                read_all(nf.message(e.nid))
    assert count or name == "outlook-pst-rs_Empty.pst"


# -- PSTs from our own writer -----------------------------------------------------------------
def test_reads_writer_output_with_xxblock_and_nesting(tmp_path: Path) -> None:
    """A PST from core.sandbox.pstwriter: a 9 MiB attachment (an XXBLOCK data tree) streams back
    byte-exact, 300 recipients read, and a message embedded two deep keeps its recipient and attachment."""
    from core.mapi.props import (
        PidTagAttachLongFilename,
        PidTagAttachMethod,
        PidTagDisplayName,
        PidTagMessageClass,
        PidTagSubject,
    )
    from core.pst.ndb.format import NDB_CRYPT_PERMUTE
    from core.sandbox.pstwriter import Attachment, Message, PstWriter

    size = 9 * 2**20 + 123  # more than one XBLOCK's 1021 blocks of 8176 bytes

    def chunks() -> Iterator[bytes]:
        for off in range(0, size, 65536):
            yield bytes([off // 65536 % 251]) * min(65536, size - off)

    def note(subject: str, **kw) -> Message:  # type: ignore[no-untyped-def]
        return Message(props={PidTagSubject: subject, PidTagMessageClass: "IPM.Note"}, **kw)

    inner = note(
        "inner",
        recipients=[{PidTagDisplayName: "Bob"}],
        attachments=[Attachment(props={PidTagAttachLongFilename: "a.txt", PidTagAttachMethod: 1}, data=b"hello")],
    )
    middle = note("middle", attachments=[Attachment(props={PidTagAttachMethod: 5}, message=inner)])
    outer = note(
        "outer",
        recipients=[{PidTagDisplayName: f"R{i}"} for i in range(300)],
        attachments=[
            Attachment(props={PidTagAttachLongFilename: "big.bin", PidTagAttachMethod: 1}, stream=(size, chunks)),
            Attachment(props={PidTagAttachMethod: 5}, message=middle),
        ],
    )
    path = tmp_path / "written.pst"
    with PstWriter(str(path), crypt_method=NDB_CRYPT_PERMUTE) as w:
        nid = w.add_message(w.ipm_subtree, outer)

    expected = hashlib.sha256()
    for chunk in chunks():
        expected.update(chunk)
    with NdbFile(path) as nf:
        assert nf.header.crypt_name == "compressible"
        msg = nf.message(nid)
        assert _subject(msg.props) == "outer"
        assert [r[0x3001].value.decode("utf-16-le") for r in msg.recipients] == [f"R{i}" for i in range(300)]
        big = msg.attachments[0]
        assert big.data_size == size
        digest = hashlib.sha256()
        with big.open_data() as stream:
            while chunk := stream.read(1 << 16):
                digest.update(chunk)
        assert digest.hexdigest() == expected.hexdigest()
        assert nf.largest_read <= MAX_RUN_BYTES
        deepest = msg.embedded_path([1, 0])
        assert _subject(deepest.props) == "inner"
        assert deepest.recipients[0][0x3001].value.decode("utf-16-le") == "Bob"
        assert deepest.attachments[0].open_data().read() == b"hello"


@pytest.mark.parametrize("crypt", ["none", "permute", "cyclic"])
def test_adjacent_blocks_read_in_runs_decode_exactly(crypt: str, tmp_path: Path) -> None:
    """A 1 MiB random attachment reads back byte-exact under every bCryptMethod through reads of
    odd sizes and seeks, in runs of adjacent blocks: fewer reads than blocks, none over MAX_RUN_BYTES."""
    from core.mapi.props import PidTagAttachLongFilename, PidTagAttachMethod, PidTagMessageClass, PidTagSubject
    from core.pst.ndb import format as F
    from core.sandbox.pstwriter import Attachment, Message, PstWriter

    method = {"none": F.NDB_CRYPT_NONE, "permute": F.NDB_CRYPT_PERMUTE, "cyclic": F.NDB_CRYPT_CYCLIC}[crypt]
    data = random.Random(7).randbytes(2**20 + 4321)
    msg = Message(
        props={PidTagSubject: "runs", PidTagMessageClass: "IPM.Note"},
        attachments=[Attachment(props={PidTagAttachLongFilename: "r.bin", PidTagAttachMethod: 1}, data=data)],
    )
    path = tmp_path / f"runs-{crypt}.pst"
    with PstWriter(str(path), crypt_method=method) as w:
        nid = w.add_message(w.ipm_subtree, msg)
    with NdbFile(path) as nf:
        assert nf.header.crypt_method == method
        att = nf.message(nid).attachments[0]
        blocks = -(-len(data) // F.MAX_BLOCK_DATA_UNICODE)
        reads_before = nf.reads
        with att.open_data() as stream:
            got = b"".join(iter(lambda: stream.read(100_003), b""))
        assert got == data
        assert nf.reads - reads_before < blocks / 4
        assert 8192 < nf.largest_read <= MAX_RUN_BYTES
        with att.open_data() as stream:
            for pos in (0, 8175, 8176, 500_000, len(data) - 10, 123_457):
                stream.seek(pos)
                assert stream.read(20_000) == data[pos : pos + 20_000]
