"""Big folders are listed from the node B-tree and read through the NDB layer (flat memory): the
items, their order, their counts and everything convert() makes of them equal the pypff path's."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

import core.convert.mime as mime_module
import core.pst.reader as reader
from core.convert import ConversionError, ConvertContext, convert
from core.pst import open_pst
from core.pst.model import Item
from tests.bench.mime_digest import payload_digest

from .test_items import READ_DIRECTLY
from .test_scan import manifest_ipm_folders, readable_files

REPO = Path(__file__).resolve().parents[2]
ALL_PYPFF = 10**9  # a threshold no folder reaches: every folder listed by pypff
ALL_NDB = 0  # every folder with an item listed from the node B-tree and read through the NDB layer

# Where the two paths differ, and why (each is checked to be exactly this):
# - the QUIRK_ file's 12 contacts pypff refuses: the pypff path reads them directly as well and notes
#   that in the item's problems; the NDB path reads them like any other item (no note).
# - a folder-associated item of tghanem's Inbox carries 2 attachments that pypff does not expose (its
#   FAI handle has no attachments); the NDB path reads them.
NDB_READS_MORE = {"tghanem-pst_user1_test.lab.pst": {"Inbox#1048616a"}}


def _make_pst(out: Path, *args: str) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "core.cli", "sandbox", "make-pst", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0 or not out.exists():
        pytest.fail(f"the PST writer did not produce a PST: {proc.stderr.strip()[-300:]}")
    return out


@pytest.fixture(scope="module")
def writer_psts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two realistic writer PSTs (every item type, RTF, embedded messages, attachments)."""
    tmp = tmp_path_factory.mktemp("ndbfolders")
    return [_make_pst(tmp / f"realistic-{s}.pst", "--seed", str(s), "--mode", "realistic") for s in (7, 23)]


@pytest.fixture(scope="module")
def big_folder_pst(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writer scale PST with one folder above the real threshold."""
    tmp = tmp_path_factory.mktemp("ndbbig")
    items = str(reader.NDB_FOLDER_ITEMS + 300)
    return _make_pst(tmp / "scale.pst", "--seed", "3", "--mode", "scale", "--items", items)


def digests(path: Path, threshold: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str, list[str]]]:
    """{"folder#nid[a]": (digest of convert()'s payload, the item's problems)} in reading order.
    MIME boundaries are fixed per item; the item's problems are kept apart from the payload's."""
    monkeypatch.setattr(reader, "NDB_FOLDER_ITEMS", threshold)
    out: dict[str, tuple[str, list[str]]] = {}
    with open_pst(path) as pst:
        ctx = ConvertContext.for_pst(pst, lazy=True)
        for folder in pst.folders():
            for assoc in (False, True):
                for item in pst.items(folder, associated=assoc):
                    key = f"{'/'.join(folder.path)}#{item.node_id}{'a' if assoc else ''}"
                    while key in out:
                        key += "+"
                    if not isinstance(item, Item):
                        out[key] = (f"unreadable: {item.reason}", [])
                        continue
                    problems, item.problems = list(item.problems), []
                    counter = itertools.count(1)
                    monkeypatch.setattr(mime_module, "_boundary", lambda c=counter: f"=_fixed_{next(c):x}")
                    try:
                        payload = convert(item, ctx)
                    except ConversionError as exc:
                        out[key] = (f"error: {exc}", problems)
                        continue
                    out[key] = (payload_digest(payload), problems)
    return out


def assert_same(name: str, pff: dict, ndb: dict) -> None:
    assert list(ndb) == list(pff), f"{name}: other items or another order"
    differ = {k for k in pff if pff[k][0] != ndb[k][0]}
    assert differ == NDB_READS_MORE.get(name, set()), name
    for key in pff:
        noted = [p for p in pff[key][1] if not p.startswith(READ_DIRECTLY)]
        assert ndb[key][1] == noted, f"{name} {key}"


def test_corpus_items_convert_the_same_through_ndb(
    corpus_dir: Path, manifest: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every readable corpus file, every folder through the NDB layer: same items in the same order,
    same converted MIME and typed payloads as through pypff, differing only where documented."""
    refused_seen = 0
    for name in readable_files(manifest):
        pff = digests(corpus_dir / name, ALL_PYPFF, monkeypatch)
        ndb = digests(corpus_dir / name, ALL_NDB, monkeypatch)
        assert_same(name, pff, ndb)
        refused_seen += sum(any(p.startswith(READ_DIRECTLY) for p in v[1]) for v in pff.values())
    assert refused_seen == 12  # the QUIRK_ contacts, the same bytes either way


def test_writer_items_convert_the_same_through_ndb(writer_psts: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Realistic writer PSTs, every folder through the NDB layer: identical items, order and payloads."""
    for path in writer_psts:
        pff = digests(path, ALL_PYPFF, monkeypatch)
        ndb = digests(path, ALL_NDB, monkeypatch)
        assert len(pff) >= 40
        assert_same(path.name, pff, ndb)


def test_ndb_items_get_libpff_rtf(writer_psts: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """An item read through the NDB layer still gets its RTF decompressed by libpff (same bytes)."""
    rtf: dict[bool, dict[int, bytes | None]] = {}
    for through_ndb in (False, True):
        monkeypatch.setattr(reader, "NDB_FOLDER_ITEMS", ALL_NDB if through_ndb else ALL_PYPFF)
        with open_pst(writer_psts[0]) as pst:
            rtf[through_ndb] = {
                it.node_id: it.rtf_body() for f in pst.folders() for it in pst.items(f) if it.rtf_compressed
            }
    assert len(rtf[False]) >= 3 and all(rtf[False].values())
    assert rtf[True] == rtf[False]


def test_counts_through_ndb_match_manifest(corpus_dir: Path, manifest: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted from the node B-tree, every IPM folder's item count is the manifest's (pypff's) and its
    associated count is the pypff path's."""
    for name in readable_files(manifest):
        counts = {}
        for threshold in (ALL_PYPFF, ALL_NDB):
            monkeypatch.setattr(reader, "NDB_FOLDER_ITEMS", threshold)
            with open_pst(corpus_dir / name) as pst:
                counts[threshold] = {f.path: (f.item_count, f.associated_count) for f in pst.folders()}
        assert {p: c[0] for p, c in counts[ALL_NDB].items()} == manifest_ipm_folders(manifest[name]), name
        assert counts[ALL_NDB] == counts[ALL_PYPFF], name


class _NoMessages:
    """A pypff folder that fails the test if asked for its messages (what loads the contents table)."""

    def __init__(self, folder: object) -> None:
        self._folder = folder

    def __getattr__(self, name: str) -> object:
        if name in ("number_of_sub_messages", "get_sub_message", "sub_messages", "get_number_of_sub_messages"):
            raise AssertionError(f"pypff asked for {name} of a big folder")
        return getattr(self._folder, name)


def test_big_folder_is_read_without_pypff_listing(big_folder_pst: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the real threshold, a folder above it is counted and read without asking pypff for its
    messages, and yields the same items in the same order as pypff's listing."""
    monkeypatch.setattr(reader, "NDB_FOLDER_ITEMS", ALL_PYPFF)
    with open_pst(big_folder_pst) as pst:
        expected = [(f.path, it.node_id, it.subject) for f in pst.folders() for it in pst.items(f)]
    monkeypatch.undo()
    assert len(expected) > reader.NDB_FOLDER_ITEMS

    subfolders = reader.PstFile._subfolders

    def guarded(self: reader.PstFile, folder: object) -> list[object]:
        subs = subfolders(self, folder)
        return [_NoMessages(s) if (s.number_of_sub_items or 0) > reader.NDB_FOLDER_ITEMS else s for s in subs]

    monkeypatch.setattr(reader.PstFile, "_subfolders", guarded)
    with open_pst(big_folder_pst) as pst:
        folders = list(pst.folders())
        big = [f for f in folders if f.item_count > reader.NDB_FOLDER_ITEMS]
        assert len(big) == 1 and big[0].associated_count == 0
        got = [(f.path, it.node_id, it.subject) for f in folders for it in pst.items(f)]
    assert got == expected


class _NoCounting(_NoMessages):
    """A pypff folder that fails the test if asked for its messages or sub-items (to count them)."""

    def __getattr__(self, name: str) -> object:
        if name in ("get_sub_item", "sub_items"):
            raise AssertionError(f"pypff asked for {name} while listing folders")
        return super().__getattr__(name)


def test_folder_counts_come_from_node_btree(corpus_dir: Path, manifest: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing folders of any readable corpus file asks pypff for no folder's messages or sub-items
    (each would load its contents table or open its associated items), and the counts are the manifest's."""
    subfolders = reader.PstFile._subfolders
    monkeypatch.setattr(reader.PstFile, "_subfolders", lambda self, f: [_NoCounting(s) for s in subfolders(self, f)])
    for name in readable_files(manifest):
        with open_pst(corpus_dir / name) as pst:
            counts = {f.path: f.item_count for f in pst.folders()}
        assert counts == manifest_ipm_folders(manifest[name]), name
