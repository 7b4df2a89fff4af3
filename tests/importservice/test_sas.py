"""SAS URL parsing and checks: each bad token gets one clear line, and the signature never shows."""

from __future__ import annotations

import base64
import datetime as dt
import urllib.parse

import pytest

from core.importservice.sas import SasError, check_sas, parse_sas, redact

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SIG = base64.b64encode(bytes(range(32))).decode()  # a well-formed HMAC-SHA256 value
HOST = "https://pstacct.blob.core.windows.net"


def url(path: str = "/ingestiondata", **fields: str | None) -> str:
    base = {"sv": "2021-08-06", "sr": "c", "sp": "racwdl", "st": "2026-06-01T00:00:00Z",
            "se": "2026-06-08T00:00:00Z", "sig": SIG}  # fmt: skip
    base.update(fields)
    query = urllib.parse.urlencode({k: v for k, v in base.items() if v is not None}, safe=":")
    return f"{HOST}{path}?{query}"


def problem(u: str, ops: list[str], target: str = "container") -> str:
    with pytest.raises(SasError) as err:
        check_sas(parse_sas(u), ops, target=target, now=NOW)
    text = str(err.value)
    assert "\n" not in text
    assert SIG not in text and urllib.parse.quote(SIG, safe="") not in text
    return text


def test_good_container_sas_parses_every_field():
    """A valid container SAS yields account, container, times in UTC, and passes all checks."""
    sas = parse_sas(url(sip="10.0.0.1", spr="https", si="policy1"))
    assert (sas.account, sas.container, sas.path) == ("pstacct", "ingestiondata", "")
    assert sas.permissions == "racwdl" and sas.resource == "c" and sas.identifier == "policy1"
    assert sas.expiry == dt.datetime(2026, 6, 8, tzinfo=dt.UTC)
    assert check_sas(sas, ["upload", "import", "list", "cleanup"], now=NOW).warnings == ()
    assert SIG not in repr(sas) and SIG not in str(sas)


@pytest.mark.parametrize(
    ("bad", "ops", "expected"),
    [
        (url(se="2026-05-31T11:00:00Z"), ["upload"], "expired on 2026-05-31 11:00:00 UTC (25.0 h ago)"),
        (url(st="2026-06-02T12:00:00Z"), ["upload"], "not valid yet: it starts on 2026-06-02 12:00:00 UTC"),
        (url(sp="rl"), ["upload"], "missing write (w), needed to upload"),
        (url(sp="wl"), ["import"], "missing read (r), needed by the import service"),
        (url(sp="rwl"), ["cleanup"], "missing delete (d), needed to clean up"),
        (url(sp="rwd"), ["list"], "missing list (l)"),
        (url("/ingestiondata/Alice.pst"), ["upload"], "container-level token (sr=c) is used on a blob URL"),
        (url(sr="b"), ["upload"], "blob-level token (sr=b) used on a container"),
        (url(sig=None), ["upload"], "no signature (sig)"),
        (url(sig="abc"), ["upload"], "signature (sig) is malformed"),
        (url(se="next tuesday"), ["upload"], "se='next tuesday' is not a valid time"),
        (url(st="2026-13-01T00:00:00Z"), ["upload"], "st='2026-13-01T00:00:00Z' is not a valid time"),
        (url(sv="2009-09-19"), ["upload"], "unknown storage service version sv='2009-09-19'"),
        (url(sv="v2"), ["upload"], "unknown storage service version sv='v2'"),
        (url().replace("https://", "http://"), ["upload"], "uses http, not https"),
        (url(spr="https").replace("https://", "http://"), ["upload"], "https-only (spr=https)"),
        (url(se=None), ["upload"], "no expiry time (se)"),
        (url(sp=None), ["upload"], "no permissions (sp)"),
        (url(sr=None), ["upload"], "no signed resource (sr)"),
        (url(sr="x"), ["upload"], "unknown signed resource sr='x'"),
        (url(st="2026-06-09T00:00:00Z", se="2026-06-08T00:00:00Z"), ["upload"], "is not before its expiry"),
        (url(sr=None, ss="q", srt="sco"), ["upload"], "does not include blob (b)"),
        (url(sr=None, ss="b", srt="s"), ["upload"], "without object resource type"),
        (url("/ingestiondata", sr="c"), ["upload"], None),  # control: fine
    ],
)
def test_bad_tokens_get_a_clear_message(bad, ops, expected):
    """Every bad token raises one line naming the problem; the control row passes."""
    if expected is None:
        check_sas(parse_sas(bad), ops, now=NOW)
        return
    assert expected in problem(bad, ops)


def test_several_problems_are_reported_together():
    """An expired read-only token names both problems in one line."""
    text = problem(url(sp="r", se="2026-05-01T00:00:00Z"), ["upload"])
    assert "expired" in text and "missing write" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-06-08T00:00:00Z", dt.datetime(2026, 6, 8, tzinfo=dt.UTC)),
        ("2026-06-08T02:00:00+02:00", dt.datetime(2026, 6, 8, tzinfo=dt.UTC)),
        ("2026-06-07T19:00:00-0500", dt.datetime(2026, 6, 8, tzinfo=dt.UTC)),
        ("2026-06-08", dt.datetime(2026, 6, 8, tzinfo=dt.UTC)),
        ("2026-06-08T00:00Z", dt.datetime(2026, 6, 8, tzinfo=dt.UTC)),
        ("2026-06-08T00:00:00.1234567Z", dt.datetime(2026, 6, 8, 0, 0, 0, 123456, tzinfo=dt.UTC)),
        ("2026-06-08T00:00:00", dt.datetime(2026, 6, 8, tzinfo=dt.UTC)),
    ],
)
def test_times_with_z_offsets_and_dates(value, expected):
    """`se` in Z, +hh:mm, -hhmm, date-only, minute precision, 7 fractional digits or no zone -> UTC."""
    assert parse_sas(url(se=value)).expiry == expected


def test_stored_access_policy_without_times_or_permissions_warns():
    """The Import Service's URL form (si=, no sp/se) passes with warnings saying what cannot be checked."""
    sas = parse_sas(url(sp=None, se=None, st=None, si="IngestionSasForAzCopy201601121920498117", sv="2012-02-12"))
    warnings = check_sas(sas, ["upload"], now=NOW).warnings
    assert any("expiry comes from stored access policy" in w for w in warnings)
    assert any("permissions come from stored access policy" in w for w in warnings)


def test_soon_expiry_and_no_read_are_warnings():
    """A token expiring within the hour and lacking read still passes for upload, with two warnings."""
    warnings = check_sas(parse_sas(url(sp="wl", se="2026-06-01T12:30:00Z")), ["upload"], now=NOW).warnings
    assert any("expires soon" in w for w in warnings)
    assert any("no read permission" in w for w in warnings)


def test_http_is_allowed_for_local_azurite():
    """Path-style http URLs on 127.0.0.1 parse the account from the path and pass the https check."""
    sas = parse_sas(url().replace(HOST, "http://127.0.0.1:10000/devstoreaccount1"))
    assert (sas.account, sas.container, sas.path_style) == ("devstoreaccount1", "ingestiondata", True)
    check_sas(sas, ["upload"], now=NOW)
    assert sas.account_url == "http://127.0.0.1:10000/devstoreaccount1"


def test_folder_prefix_in_url():
    """A container URL with a folder (.../ingestiondata/PSTUploads?...) is fine and yields the prefix."""
    sas = parse_sas(url("/ingestiondata/PSTUploads"))
    check_sas(sas, ["upload"], now=NOW)
    assert sas.folder == "PSTUploads/"


def test_blob_level_token_on_blob_url_is_fine_for_one_blob():
    """sr=b on a URL naming that blob is accepted when one blob is the target."""
    check_sas(parse_sas(url("/ingestiondata/a.pst", sr="b", sp="r")), ["import"], target="blob", now=NOW)


@pytest.mark.parametrize("bad", ["", "ftp://x/y?sig=a", "https://acct.blob.core.windows.net/?sv=1"])
def test_unparseable_urls(bad):
    """Empty, non-http, or container-less URLs are refused at parse time."""
    with pytest.raises(SasError):
        parse_sas(bad)


def test_repeated_field_is_refused():
    """A field given twice (a copy-paste accident) is an error, not a silent pick."""
    with pytest.raises(SasError, match="sp appears 2 times"):
        parse_sas(url() + "&sp=r")


def test_redact_plain_encoded_and_in_text():
    """redact() hides sig in a URL, in a percent-encoded query and inside a longer message."""
    u = url()
    quoted = urllib.parse.quote(u, safe="")
    text = f"PUT {u} failed; next={quoted}"
    out = redact(text)
    assert SIG not in out and urllib.parse.quote(SIG, safe="") not in out
    assert out.count("REDACTED") == 2
    assert "sv=2021-08-06" in out
