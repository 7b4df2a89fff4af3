"""One bad profile per rule: each gives exactly one line `FILE:LINE: key.path: message` and exit code 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.cli import run
from tests.profile.conftest import VALID_ONLINE, VALID_ONPREM


def edit(base: str, old: str, new: str) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


ONPREM, ONLINE = VALID_ONPREM, VALID_ONLINE
# "billion laughs": nine levels of nine aliases each
LAUGHS = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9)
)

# (id, text, key path, line, a fragment of the message)
CASES = [
    (
        "wrong-type",
        edit(ONPREM, "max_threads: 4", "max_threads: four"),
        "performance.max_threads",
        15,
        "must be a whole number, not the text 'four'",
    ),
    (
        "wrong-type-bool",
        edit(
            ONPREM, "    username: svc@example.com\n", "    username: svc@example.com\n    cache_password: sometimes\n"
        ),
        "connection.auth.cache_password",
        10,
        "must be true or false",
    ),
    (
        "unknown-key",
        edit(ONPREM, "    username: svc@example.com\n", "    username: svc@example.com\n    cache_pasword: false\n"),
        "connection.auth.cache_pasword",
        10,
        "unknown key 'cache_pasword' (did you mean 'cache_password'?)",
    ),
    ("unknown-top-key", ONPREM + "filter:\n  after: 2016-01-01\n", "filter", 16, "did you mean 'filters'?"),
    (
        "missing-ews-url",
        edit(ONPREM, "  ews_url: https://mail.example.com/EWS/Exchange.asmx\n", ""),
        "connection.ews_url",
        5,
        "required when discovery is direct",
    ),
    (
        "ews-url-not-url",
        edit(ONPREM, "https://mail.example.com/EWS/Exchange.asmx", "mail.example.com/EWS/Exchange.asmx"),
        "connection.ews_url",
        6,
        "not an http(s) URL",
    ),
    (
        "ews-url-with-autodiscover",
        edit(ONPREM, "discovery: direct", "discovery: autodiscover"),
        "connection.ews_url",
        6,
        "ignored with discovery: autodiscover",
    ),
    (
        "graph-on-premises",
        edit(
            ONPREM,
            "  discovery: direct\n  ews_url: https://mail.example.com/EWS/Exchange.asmx\n",
            "  transport: graph\n",
        ),
        "connection.transport",
        5,
        "graph is only for Exchange Online",
    ),
    (
        "negative-threads",
        edit(ONPREM, "max_threads: 4", "max_threads: -2"),
        "performance.max_threads",
        15,
        "must be at least 1, got -2",
    ),
    (
        "too-many-threads",
        edit(ONPREM, "max_threads: 4", "max_threads: 33"),
        "performance.max_threads",
        15,
        "must be at most 32, got 33",
    ),
    (
        "batch-too-big",
        edit(ONPREM, "max_threads: 4", "batch_megabytes: 500"),
        "performance.batch_megabytes",
        15,
        "must be at most 100",
    ),
    (
        "graph-batch-over-20",
        edit(ONLINE, "  impersonation: true\n", "  transport: graph\n") + "performance:\n  batch_items: 50\n",
        "performance.batch_items",
        14,
        "at most 20 with transport: graph",
    ),
    ("bad-glob", edit(ONPREM, '["Inbox/**"]', '["Inbox**"]'), "sources[0].include[0]", 13, "bad folder glob 'Inbox**'"),
    (
        "bad-glob-bracket",
        edit(ONPREM, '["Inbox/**"]', '["Inbox", "[abc"]'),
        "sources[0].include[1]",
        13,
        "never closed",
    ),
    (
        "missing-pst",
        edit(ONPREM, "path: sample.pst", "path: nowhere/missing.pst"),
        "sources[0].path",
        12,
        "PST file not found",
    ),
    (
        "duplicate-source",
        ONPREM.replace("performance:", "  - path: ./sample.pst\nperformance:"),
        "sources[1].path",
        14,
        "the same file as sources[0]",
    ),
    (
        "bad-codepage",
        edit(ONPREM, '    include: ["Inbox/**"]\n', '    include: ["Inbox/**"]\n    codepage: cp99999\n'),
        "sources[0].codepage",
        14,
        "unknown code page 'cp99999'",
    ),
    (
        "not-a-text-codepage",
        edit(ONPREM, '    include: ["Inbox/**"]\n', '    include: ["Inbox/**"]\n    codepage: base64\n'),
        "sources[0].codepage",
        14,
        "not a text code page",
    ),
    ("yaml-syntax", edit(ONPREM, "name: test-run", "name: [test-run"), "(root)", 3, "not valid YAML"),
    ("yaml-tab-indent", edit(ONPREM, "  target: on-premises", "\ttarget: on-premises"), "(root)", 4, "not valid YAML"),
    (
        "duplicate-key",
        ONPREM + "mailbox: other@example.com\n",
        "mailbox",
        16,
        "duplicate key 'mailbox' (first written at line 10)",
    ),
    (
        "duplicate-nested-key",
        edit(ONPREM, "    method: password\n", "    method: password\n    method: oauth-app\n"),
        "connection.auth.method",
        9,
        "duplicate key 'method'",
    ),
    (
        "secret-password",
        edit(
            ONPREM, "    username: svc@example.com\n", "    username: svc@example.com\n    password: Hunter2-secret\n"
        ),
        "connection.auth.password",
        10,
        "secrets never go in a profile",
    ),
    (
        "secret-client-secret",
        edit(ONLINE, "    client_id:", "    client_secret: abc~DEF.ghi\n    client_id:"),
        "connection.auth.client_secret",
        8,
        "OS keyring",
    ),
    (
        "secret-sas-url",
        ONPREM + "address_rewriting:\n  map_file: https://acct.blob.core.windows.net/c/m.csv?sv=2022&sig=AbC%2F\n",
        "address_rewriting.map_file",
        17,
        "SAS URL",
    ),
    (
        "secret-in-url",
        edit(ONPREM, "https://mail.example.com", "https://svc:Hunter2@mail.example.com"),
        "connection.ews_url",
        6,
        "carries a password",
    ),
    (
        "unknown-auth-method",
        edit(ONPREM, "method: password", "method: kerberos"),
        "connection.auth.method",
        8,
        "'kerberos' is not one of: password, oauth-app, oauth-device",
    ),
    (
        "password-needs-username",
        edit(ONPREM, "    username: svc@example.com\n", ""),
        "connection.auth.username",
        8,
        "required for method: password",
    ),
    (
        "password-on-exchange-online",
        edit(ONPREM, "target: on-premises", "target: exchange-online"),
        "connection.auth.method",
        8,
        "Exchange Online no longer accepts passwords",
    ),
    (
        "oauth-app-without-client-id",
        edit(ONLINE, "    client_id: 6731de76-14a6-49ae-97bc-6eba6914391e\n", ""),
        "connection.auth.client_id",
        6,
        "required for oauth-app",
    ),
    (
        "oauth-app-without-tenant",
        edit(ONLINE, "    tenant_id: contoso.onmicrosoft.com\n", ""),
        "connection.auth.tenant_id",
        6,
        "required for oauth-app",
    ),
    (
        "bad-client-id",
        edit(ONLINE, "6731de76-14a6-49ae-97bc-6eba6914391e", "my-app"),
        "connection.auth.client_id",
        8,
        "not an application ID",
    ),
    (
        "app-only-without-impersonation",
        edit(ONLINE, "  impersonation: true\n", ""),
        "connection.impersonation",
        6,
        "set impersonation: true",
    ),
    (
        "missing-certificate",
        edit(ONLINE, "  impersonation:", "    certificate: certs/app.pem\n  impersonation:"),
        "connection.auth.certificate",
        9,
        "certificate not found",
    ),
    (
        "bad-mailbox",
        edit(ONPREM, "mailbox: matt@example.com", "mailbox: matt"),
        "mailbox",
        10,
        "does not look like an email address",
    ),
    ("bad-date", ONPREM + "filters:\n  after: 2016-02-30\n", "filters.after", 17, "not a date: '2016-02-30'"),
    (
        "timestamp-not-date",
        ONPREM + "filters:\n  before: 2016-02-01 10:00:00\n",
        "filters.before",
        17,
        "not a timestamp",
    ),
    (
        "after-not-before-before",
        ONPREM + "filters:\n  after: 2017-01-01\n  before: 2016-01-01\n",
        "filters.before",
        18,
        "is not after",
    ),
    (
        "unknown-item-type",
        ONPREM + "filters:\n  item_types: [mail, faxes]\n",
        "filters.item_types[1]",
        17,
        "'faxes' is not one of",
    ),
    (
        "empty-item-types",
        ONPREM + "filters:\n  item_types: []\n",
        "filters.item_types",
        17,
        "nothing would be imported",
    ),
    (
        "unknown-version",
        edit(ONPREM, "version: 1", "version: 3"),
        "version",
        1,
        "newer than this pstimport understands",
    ),
    ("version-zero", edit(ONPREM, "version: 1", "version: 0"), "version", 1, "not a profile version"),
    ("missing-version", edit(ONPREM, "version: 1\n", ""), "version", 1, "required key is missing"),
    (
        "wrong-root-value",
        ONPREM + "destination:\n  root: pst\n",
        "destination.root",
        17,
        "is not one of: pst-name, store-root, folder",
    ),
    (
        "folder-root-without-folder",
        ONPREM + "destination:\n  root: folder\n",
        "destination.folder",
        17,
        "required when root is folder",
    ),
    (
        "folder-without-folder-root",
        ONPREM + "destination:\n  folder: Imported\n",
        "destination.folder",
        17,
        "only used with root: folder",
    ),
    (
        "bad-destination-folder",
        ONPREM + "destination:\n  root: folder\n  folder: /Imported//2016\n",
        "destination.folder",
        18,
        "empty folder name",
    ),
    ("missing-required-key", edit(ONPREM, "mailbox: matt@example.com\n", ""), "mailbox", 1, "required key is missing"),
    (
        "missing-nested-required-key",
        edit(ONPREM, "  target: on-premises\n", ""),
        "connection.target",
        3,
        "required key is missing",
    ),
    ("empty-sources", ONPREM.split("sources:")[0] + "sources: []\n", "sources", 11, "needs at least one entry"),
    ("sources-not-a-list", ONPREM.split("sources:")[0] + "sources: sample.pst\n", "sources", 11, "must be a list"),
    (
        "bad-tenant",
        edit(ONLINE, "contoso.onmicrosoft.com", "not a tenant"),
        "connection.auth.tenant_id",
        7,
        "not a tenant",
    ),
    ("bad-name", edit(ONPREM, "name: test-run", "name: a/b"), "name", 2, "cannot name report and journal files"),
    ("empty-file", "", "(root)", 1, "the profile is empty"),
    ("alias-loop", edit(ONPREM, "name: test-run", "name: &a [*a]"), "name[0]", 2, "alias refers to the value"),
    (
        "alias-bomb",
        edit(ONPREM, "version: 1\n", "version: 1\n" + LAUGHS),
        "(root)",
        1,
        "expands to more than 50000 values",
    ),
    (
        "control-character",
        edit(ONPREM, "name: test-run", "name: test\x07run"),
        "(root)",
        2,
        "control character U+0007 is not allowed",
    ),
    (
        "path-control-character",
        edit(ONPREM, "path: sample.pst", 'path: "a\\0b.pst"'),
        "sources[0].path",
        12,
        "control character",
    ),
    ("root-not-mapping", "- version: 1\n", "(root)", 1, "a profile is a mapping"),
]


@pytest.mark.parametrize(("text", "key", "line", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_profile(write_profile, capsys, text: str, key: str, line: int, fragment: str) -> None:
    """The bad profile is refused with one error line naming file, line and key path, and exit code 2."""
    path = write_profile(text)
    rc = run(["profile", "validate", str(path)])
    out, err = capsys.readouterr()
    assert rc == 2
    # Warnings may come too (e.g. EWS into Exchange Online needs the tenant's allow list): one error.
    lines = [line for line in err.splitlines() if ": warning: " not in line]
    assert len(lines) == 1, err
    m = re.fullmatch(r"(.+):(\d+): (\S+): (.+)", lines[0])
    assert m, lines[0]
    assert (m[1], int(m[2]), m[3]) == (str(path), line, key), lines[0]
    assert fragment in m[4], lines[0]
    assert out == ""


def test_at_least_25_rules() -> None:
    """The issue asks for 25 bad profiles, one per rule; the ids are distinct."""
    ids = [c[0] for c in CASES]
    assert len(set(ids)) == len(ids) >= 25


def test_secret_value_not_echoed(write_profile, capsys) -> None:
    """Refusing a secret written into the YAML never repeats the secret."""
    path = write_profile(
        edit(ONPREM, "    username: svc@example.com\n", "    username: svc@example.com\n    password: Hunter2-secret\n")
    )
    assert run(["profile", "validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "Hunter2-secret" not in out + err
    assert "OS keyring" in err


def test_not_utf8(write_profile, capsys) -> None:
    """A profile that is not UTF-8 names the line of the first bad byte."""
    path = write_profile("")
    path.write_bytes(VALID_ONPREM.encode().replace(b"name: test-run", b"name: caf\xe9"))
    assert run(["profile", "validate", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"{path}:2: (root): not UTF-8 text; save the profile as UTF-8"


def test_missing_file(tmp_path, capsys) -> None:
    """A profile path that does not exist is one line and exit 2."""
    path = tmp_path / "nope.yaml"
    assert run(["profile", "validate", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"{path}: (root): cannot read the profile: No such file or directory"


def test_every_problem_listed(write_profile, capsys) -> None:
    """validate lists every error, one per line, not just the first."""
    text = edit(edit(ONPREM, "mailbox: matt@example.com", "mailbox: matt"), "path: sample.pst", "path: gone.pst")
    assert run(["profile", "validate", str(write_profile(text))]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [e.split(": ")[1] for e in err] == ["mailbox", "sources[0].path"]


def test_warning_is_not_an_error(write_profile, capsys) -> None:
    """More than 10 EWS threads is a warning (exit 0), with file, line and key."""
    path = write_profile(edit(ONPREM, "max_threads: 4", "max_threads: 12"))
    assert run(["profile", "validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err.strip().startswith(f"{path}:15: performance.max_threads: warning: 12 is above")
    assert out.strip() == f"{path}: valid (1 warning)"


def test_no_check_files(write_profile, capsys) -> None:
    """--no-check-files accepts a profile whose PST is elsewhere, and still checks everything else."""
    path = write_profile(edit(ONPREM, "path: sample.pst", "path: /srv/elsewhere.pst"))
    assert run(["profile", "validate", "--no-check-files", str(path)]) == 0
    assert run(["profile", "validate", str(path)]) == 2
    capsys.readouterr()


def test_subprocess_exit_code(write_profile) -> None:
    """A real `python -m core.cli profile validate` process exits 2 with one line on stderr."""
    import subprocess
    import sys

    path = write_profile(edit(ONPREM, "max_threads: 4", "max_threads: -1"))
    proc = subprocess.run(
        [sys.executable, "-m", "core.cli", "profile", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"{path}:15: performance.max_threads: must be at least 1, got -1\n"


def test_mangled_profiles_never_crash() -> None:
    """Thousands of randomly mangled profiles each give problems of one line with a line number, never a crash."""
    import random

    from core.profile.io import parse_profile

    rnd = random.Random(20261121)
    alphabet = list(" :-#[]{}\"'\\\n\t*?!&|>%@`,019abcxyz\x00\x07é")
    for _ in range(1500):
        text = list(rnd.choice([VALID_ONPREM, VALID_ONLINE]))
        for _ in range(rnd.randint(1, 4)):
            pos = rnd.randrange(len(text))
            op = rnd.random()
            if op < 0.4:
                text[pos] = rnd.choice(alphabet)
            elif op < 0.7:
                text.insert(pos, rnd.choice(alphabet))
            else:
                del text[pos]
        profile, problems = parse_profile("".join(text), filename="f.yaml", check_files=False)
        assert profile is not None or any(p.severity == "error" for p in problems)
        for p in problems:
            assert "\n" not in str(p) and p.line is not None, str(p)
