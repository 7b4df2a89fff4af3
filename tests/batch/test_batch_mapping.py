"""The mapping CSV, the template and --shard: good files read right, bad ones give one line naming
FILE:LINE:COLUMN and exit 2 before anything is imported."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet import write_template

from core.batch.mapping import MappingError, load_mapping
from core.batch.runner import plan_units
from core.batch.shard import parse_shard, shard_of
from core.batch.template import load_template, unit_profile
from core.errors import ProfileError, UserError
from core.importservice.mapping import ImportJob, mapping_rows, render_csv


@pytest.fixture
def psts(tmp_path: Path) -> list[Path]:
    """Three empty files named .pst (the mapping only checks that they exist)."""
    out = []
    for name in ("a.pst", "b.pst", "sub/c.pst"):
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"!BDN")
        out.append(p)
    return out


def _csv(tmp_path: Path, text: str, name: str = "map.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_our_columns_with_defaults_comments_and_relative_paths(tmp_path, psts):
    """path,mailbox plus archive/root/folder/codepage; blanks and # lines skipped; paths relative to the CSV."""
    p = _csv(
        tmp_path,
        "# migration wave 1\nPath, Mailbox ,Archive,Root,Folder,CodePage\n"
        "a.pst,Ann@Example.com,,,,\n\n"
        f"{psts[1]},bob@example.com,TRUE,store-root,,cp932\n"
        "sub/c.pst,ann@example.com,no,folder,/Old/2016/,1252\n",
    )
    rows = load_mapping(p)
    assert [(r.path, r.mailbox, r.store, r.root, r.folder, r.codepage, r.line) for r in rows] == [
        (psts[0], "Ann@Example.com", "mailbox", "pst-name", None, None, 3),
        (psts[1], "bob@example.com", "archive", "store-root", None, "cp932", 5),
        (psts[2], "ann@example.com", "mailbox", "folder", "Old/2016", "cp1252", 6),
    ]


def test_import_service_mapping_file_is_accepted(tmp_path, psts):
    """The Import Service CSV our own `importservice` writes reads back: FilePath/Name under
    --pst-dir, IsArchive, TargetRootFolder ('/' merges, empty means a folder 'Imported')."""
    jobs = [
        ImportJob("ann@example.com", "a.pst", store="archive", root="store-root"),
        ImportJob("bob@example.com", "sub/c.pst", root="folder", folder="Imported/2016", codepage="cp932"),
    ]
    text = render_csv(mapping_rows(jobs))
    text += "Exchange,,b.pst,carl@example.com,FALSE,,,,,\r\n"
    (tmp_path / "elsewhere").mkdir()
    p = _csv(tmp_path / "elsewhere", text)
    rows = load_mapping(p, pst_dir=tmp_path)
    assert [(r.path, r.mailbox, r.store, r.root, r.folder, r.codepage) for r in rows] == [
        (psts[0], "ann@example.com", "archive", "store-root", None, None),
        (psts[2], "bob@example.com", "mailbox", "folder", "Imported/2016", "cp932"),
        (psts[1], "carl@example.com", "mailbox", "folder", "Imported", None),
    ]


def test_semicolon_csv_from_excel(tmp_path, psts):
    """A ;-separated file (Excel in many locales) is read as such."""
    rows = load_mapping(_csv(tmp_path, "path;mailbox;archive\na.pst;ann@example.com;1\n"))
    assert rows[0].mailbox == "ann@example.com" and rows[0].store == "archive"


BAD = [
    ("", "map.csv:1:1: the mapping CSV is empty"),
    ("path,mailbox\n", "map.csv:1:1: no rows below the header"),
    ("path,mailbx\na.pst,x@example.com\n", "map.csv:1:2: unknown column 'mailbx' (did you mean mailbox?)"),
    ("mailbox,archive\nx@example.com,true\n", "map.csv:1:1: the header has no path column"),
    ("path,mailbox,path\na.pst,x@example.com,b.pst\n", "map.csv:1:3: column 'path' appears twice"),
    ("path,mailbox\na.pst,x@example.com\nb.pst,not-an-address\n", "map.csv:3:2: mailbox 'not-an-address' is not"),
    ("path,mailbox\na.pst,\n", "map.csv:2:2: no mailbox given"),
    ("path,mailbox\n,x@example.com\n", "map.csv:2:1: no PST path given"),
    ("path,mailbox\nmissing.pst,x@example.com\n", "map.csv:2:1: no such file:"),
    ("path,mailbox\nsub,x@example.com\n", "map.csv:2:1: not a file:"),
    ("path,mailbox\nmap.csv,x@example.com\n", "map.csv:2:1: map.csv: not a .pst or .ost file"),
    ("path,mailbox,archive\na.pst,x@example.com,maybe\n", "map.csv:2:3: archive must be true or false, not 'maybe'"),
    ("path,mailbox,store\na.pst,x@example.com,archiv\n", "map.csv:2:3: store must be mailbox or archive"),
    ("path,mailbox,root\na.pst,x@example.com,pstname\n", "map.csv:2:3: root must be one of pst-name, store-root, "),
    ("path,mailbox,root,folder\na.pst,x@example.com,folder,\n", "map.csv:2:4: root is folder but no folder is given"),
    ("path,mailbox,folder\na.pst,x@example.com,Old\n", "map.csv:2:3: a folder is given but root is pst-name"),
    ("path,mailbox,codepage\na.pst,x@example.com,klingon\n", "map.csv:2:3: code page 'klingon' is not a Windows"),
    ("path,mailbox\na.pst,x@example.com,extra\n", "map.csv:2:3: 3 fields but the header (line 1) has 2"),
    ("path,mailbox\na.pst,x@example.com\n./a.pst,X@EXAMPLE.com\n", "map.csv:3:1: a.pst into X@EXAMPLE.com (mailbox)"),
    ('path,mailbox\n"a.pst,x@example.com\n', "map.csv:2:1: not valid CSV"),
    ("path,mailbox,archive,store\na.pst,x@example.com,,\n", "map.csv:1:4: give archive or store, not both"),
    ("Workload,FilePath,Name,Mailbox\nSharePoint,,a.pst,x@example.com\n", "map.csv:2:1: workload 'SharePoint'"),
    ("Workload,FilePath,Name,Mailbox,IsArchive\nExchange,,a.pst,x@example.com,si\n", "map.csv:2:5: IsArchive must"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_csv_one_line_with_file_line_column(tmp_path, psts, text, message):
    """Each bad CSV raises a MappingError (exit 2) whose one line starts with FILE:LINE:COLUMN."""
    p = _csv(tmp_path, text)
    with pytest.raises(MappingError) as info:
        load_mapping(p)
    text = str(info.value)
    assert "\n" not in text and info.value.exit_code == 2
    assert text.startswith(str(tmp_path / message.split(":", 1)[0]) + ":" + message.split(":", 1)[1]), text


def test_not_utf8_names_the_line(tmp_path, psts):
    """A CSV saved in a legacy code page is refused with its line, not a traceback."""
    p = tmp_path / "map.csv"
    p.write_bytes(b"path,mailbox\na.pst,x@example.com\nb.pst,j\xf6rg@example.com\n")
    with pytest.raises(MappingError, match=r"map\.csv:3:1: not UTF-8"):
        load_mapping(p)


def test_cli_bad_csv_exit_2_one_line(tmp_path, psts, sandbox, cli):
    """`pstimport batch` with a bad row exits 2 with one line on stderr and no traceback."""
    p = _csv(tmp_path, "path,mailbox\na.pst,x@example.com\nb.pst,nobody\n")
    template = write_template(tmp_path / "t.yaml", sandbox, tmp_path / "reports")
    r = cli("batch", str(p), "--template", str(template))
    assert r.returncode == 2
    assert r.stderr.strip() == f"pstimport: {p}:3:2: mailbox 'nobody' is not an email address"
    assert not (tmp_path / "reports").exists()
    bad_shard = cli("batch", str(p), "--template", str(template), "--shard", "0/2")
    assert bad_shard.returncode == 2 and "shards are numbered 1 to n" in bad_shard.stderr
    assert "Traceback" not in bad_shard.stderr


def test_template_without_mailbox_or_sources_and_its_errors(tmp_path, sandbox, psts):
    """A template may leave out mailbox and sources; a template error names its file and line;
    a template may not hold a secret; a unit profile takes the template's globs and name."""
    t = tmp_path / "t.yaml"
    t.write_text(
        "version: 1\nname: wave1\nconnection:\n  target: on-premises\n  discovery: direct\n"
        f"  ews_url: {sandbox.ews_url}\n  auth: {{method: password, username: svc@sandbox.test}}\n"
        "  impersonation: true\n",
        encoding="utf-8",
    )
    template, notes = load_template(t)
    assert template.name == "wave1" and notes == []
    rows = load_mapping(_csv(tmp_path, "path,mailbox,archive\na.pst,ann@example.com,yes\nb.pst,ann@example.com,yes\n"))
    profile = unit_profile(template, rows)
    assert profile.mailbox == "ann@example.com" and profile.destination.store == "archive"
    assert [s.path for s in profile.sources] == [str(psts[0]), str(psts[1])] and profile.name == "wave1"
    assert profile.report_dir() == tmp_path / "reports"  # relative to the template, as for a profile

    t.write_text("version: 1\nname: wave1\nconnection:\n  target: on-prem\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=rf"{t}:4: connection.target"):
        load_template(t)
    t.write_text(
        "version: 1\nname: w\nconnection:\n  target: on-premises\n  auth: {method: password, password: hunter2}\n",
        encoding="utf-8",
    )
    with pytest.raises(ProfileError) as info:
        load_template(t)
    assert "hunter2" not in str(info.value) and f"{t}:5" in str(info.value)


def test_shards_are_disjoint_complete_stable_and_keep_a_mailbox_together(tmp_path, psts):
    """Every mailbox is in exactly one shard of n, always the same one, whatever its case; all rows
    of one mailbox go to one shard; i/n is checked."""
    mailboxes = [f"user{n}@example.com" for n in range(200)]
    for n in (1, 2, 3, 7):
        shards = [shard_of(m, n) for m in mailboxes]
        assert set(shards) == set(range(1, n + 1))
        assert shards == [shard_of(m.upper(), n) for m in mailboxes]
    assert shard_of("user1@example.com", 4) == 2  # stable across versions and machines (sha256)
    assert parse_shard(" 2 / 4 ") == (2, 4)
    for bad in ("0/2", "3/2", "2", "a/b", "1/0"):
        with pytest.raises(UserError):
            parse_shard(bad)
    text = "path,mailbox\n" + "".join(f"{p.name},{m}\n" for m in mailboxes[:20] for p in psts[:2])
    rows = load_mapping(_csv(tmp_path, text))
    parts = [plan_units(rows, (i, 3)) for i in (1, 2, 3)]
    got = [sorted(u.mailbox for units in mbx for u in units) for mbx, _other in parts]
    assert sorted(sum(got, [])) == sorted(mailboxes[:20])
    for (mbx, other), names in zip(parts, got, strict=True):
        assert other == len(rows) - 2 * len(names)
        assert all(len(u.rows) == 2 for units in mbx for u in units)
