"""The PST Import Service mapping CSV: header, names as uploaded, roots, archive, 500-row split, warnings."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from core.errors import UserError
from core.importservice.mapping import (
    HEADER,
    ImportJob,
    Naming,
    check_jobs,
    codepage_number,
    jobs_from_pairs,
    jobs_from_profile,
    write_mapping,
)

EXPECTED_HEADER = ("Workload,FilePath,Name,Mailbox,IsArchive,TargetRootFolder,ContentCodePage,SPFileContainer,"
                   "SPManifestContainer,SPSiteUrl")  # fmt: skip


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_header_is_exactly_microsofts(tmp_path):
    """The first line is the exact header the Import Service expects, with CRLF line ends."""
    out = write_mapping([ImportJob("a@contoso.com", "Alice.pst")], tmp_path / "m.csv").files[0]
    raw = out.read_bytes()
    assert raw.split(b"\r\n")[0].decode() == EXPECTED_HEADER == ",".join(HEADER)
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")


def test_names_keep_case_and_folder(tmp_path):
    """FilePath/Name come from the blob name exactly: case, spaces and apostrophes kept."""
    jobs = [
        ImportJob("bob@contoso.com", "batch1/Sales Team/Bob 2016.PST"),
        ImportJob("carol@contoso.com", "Carol's Mail.pst"),
    ]
    rows = read_rows(write_mapping(jobs, tmp_path / "m.csv").files[0])
    assert (rows[0]["FilePath"], rows[0]["Name"]) == ("batch1/Sales Team", "Bob 2016.PST")
    assert (rows[1]["FilePath"], rows[1]["Name"]) == ("", "Carol's Mail.pst")
    assert all(r["Workload"] == "Exchange" for r in rows)
    assert all(r["SPFileContainer"] == r["SPManifestContainer"] == r["SPSiteUrl"] == "" for r in rows)


@pytest.mark.parametrize(
    ("root", "folder", "expected"),
    [("store-root", None, "/"), ("pst-name", None, "/Matt Backup"), ("folder", "Imported/2016", "/Imported/2016"),
     ("folder", "/Old Mail/", "/Old Mail")],
)  # fmt: skip
def test_target_root_folder_follows_destination_root(tmp_path, root, folder, expected):
    """store-root merges ('/'), pst-name gives the PST's name, folder gives the folder."""
    job = ImportJob("m@contoso.com", "x/Matt Backup.pst", root=root, folder=folder)
    assert read_rows(write_mapping([job], tmp_path / "m.csv").files[0])[0]["TargetRootFolder"] == expected


def test_is_archive_follows_store(tmp_path):
    """store archive -> TRUE, mailbox -> FALSE."""
    jobs = [ImportJob("a@contoso.com", "a.pst", store="archive"), ImportJob("b@contoso.com", "b.pst")]
    rows = read_rows(write_mapping(jobs, tmp_path / "m.csv").files[0])
    assert [r["IsArchive"] for r in rows] == ["TRUE", "FALSE"]


def test_split_at_500_rows(tmp_path):
    """1201 PSTs make three files of 500, 500 and 201 rows, each with the header, in order."""
    jobs = [ImportJob(f"u{i}@contoso.com", f"u{i:04d}.pst") for i in range(1201)]
    result = write_mapping(jobs, tmp_path / "mapping.csv")
    assert [p.name for p in result.files] == ["mapping-001.csv", "mapping-002.csv", "mapping-003.csv"]
    counts = [len(read_rows(p)) for p in result.files]
    assert counts == [500, 500, 201]
    assert read_rows(result.files[1])[0]["Name"] == "u0500.pst"
    assert not (tmp_path / "mapping.csv").exists()
    assert any("split into 3 files" in w for w in result.warnings)


def test_exactly_500_rows_is_one_file(tmp_path):
    """500 rows is still one file under the given name."""
    jobs = [ImportJob(f"u{i}@contoso.com", f"u{i}.pst") for i in range(500)]
    assert [p.name for p in write_mapping(jobs, tmp_path / "m.csv").files] == ["m.csv"]


def test_large_pst_warning():
    """A PST over 20 GB draws a warning naming it."""
    warnings = check_jobs([ImportJob("a@contoso.com", "huge.pst", size=21 * 1024**3)], inspect_psts=False)
    assert len(warnings) == 1 and "huge.pst" in warnings[0] and "20 GB" in warnings[0]


def test_deep_tree_warning(monkeypatch, tmp_path):
    """A PST deeper than 300 levels draws a warning (depth reader replaced: no such PST in the corpus)."""
    from core.importservice import mapping

    pst = tmp_path / "deep.pst"
    pst.write_bytes(b"!BDN")
    monkeypatch.setattr(mapping, "_max_depth", lambda path: 301)
    warnings = check_jobs([ImportJob("a@contoso.com", "deep.pst", local_path=pst)])
    assert any("301 levels" in w for w in warnings)


def test_real_pst_depth_is_read(sample_psts):
    """The depth check reads a real PST's folder tree (Inbox etc. one level down) and does not warn."""
    from core.importservice import mapping

    depth = mapping._max_depth(sample_psts / "Sales Team" / "Carol's Mail.pst")
    assert depth is not None, "the PST reader could not read the sample PST's folder tree"
    assert depth == 1
    job = ImportJob("c@contoso.com", "c.pst", local_path=sample_psts / "Sales Team" / "Carol's Mail.pst")
    assert check_jobs([job]) == []


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (ImportJob("not-an-address", "a.pst"), "is not an email address"),
        (ImportJob("a@contoso.com", "a.ost"), "only imports .pst files"),
        (ImportJob("a@contoso.com", "a.pst", store="vault"), "store must be mailbox or archive"),
        (ImportJob("a@contoso.com", "a.pst", root="folder"), "no folder is given"),
        (ImportJob("a@contoso.com", "a.pst", codepage="klingon"), "not a Windows code page"),
    ],
)
def test_bad_jobs_are_refused(tmp_path, job, message):
    """Rows the service would reject fail before a file is written, naming the problem."""
    with pytest.raises(UserError, match=message):
        write_mapping([job], tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_codepages():
    """cp932, windows-1252, 1252, shift_jis map to the numbers; None to empty."""
    assert [codepage_number(c) for c in ("cp932", "windows-1252", "1252", "shift_jis", None)] == [
        "932", "1252", "1252", "932", ""]  # fmt: skip


def test_pairs_csv_with_relative_names(tmp_path):
    """A path,mailbox CSV builds jobs whose blob names match the upload's relative naming."""
    root = tmp_path / "share"
    (root / "Team A").mkdir(parents=True)
    (root / "Team A" / "Ann.PST").write_bytes(b"x")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("path,mailbox,store\nshare/Team A/Ann.PST,ann@contoso.com,archive\n", encoding="utf-8")
    jobs = jobs_from_pairs(pairs, Naming(relative_to=root, prefix="b1"), {})
    assert [(j.blob, j.mailbox, j.store) for j in jobs] == [("b1/Team A/Ann.PST", "ann@contoso.com", "archive")]


def test_manifest_names_win(tmp_path):
    """With an upload manifest, the exact uploaded blob name and size are used."""
    pst = tmp_path / "Zed.pst"
    pst.write_bytes(b"x")
    manifest = {"uploads": [{"path": str(pst), "blob": "up/ZED-renamed.pst", "size": 7}]}
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    from core.importservice.mapping import load_manifest

    naming = Naming(manifest=load_manifest(tmp_path / "m.json"))
    assert naming.name(pst) == ("up/ZED-renamed.pst", 7)
    with pytest.raises(UserError, match="not in the upload manifest"):
        naming.name(tmp_path / "other.pst")


def test_jobs_from_profile(tmp_path):
    """A version-1 profile's mailbox, archive store, folder root and code page flow into the row."""
    (tmp_path / "Matt Backup.pst").write_bytes(b"x")
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "version: 1\nname: matt\nconnection:\n  target: exchange-online\n  auth:\n    method: oauth-device\n"
        "    username: matt@example.com\n    client_id: 11111111-2222-3333-4444-555555555555\n"
        "mailbox: matt@example.com\n"
        "destination: {store: archive, root: folder, folder: Imported/2016}\n"
        "sources:\n  - path: Matt Backup.pst\n    codepage: cp932\n",
        encoding="utf-8",
    )
    jobs = jobs_from_profile(profile, Naming())
    rows = read_rows(write_mapping(jobs, tmp_path / "m.csv", inspect_psts=False).files[0])
    assert rows == [
        {"Workload": "Exchange", "FilePath": "", "Name": "Matt Backup.pst", "Mailbox": "matt@example.com",
         "IsArchive": "TRUE", "TargetRootFolder": "/Imported/2016", "ContentCodePage": "932",
         "SPFileContainer": "", "SPManifestContainer": "", "SPSiteUrl": ""}
    ]  # fmt: skip
