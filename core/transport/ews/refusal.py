"""EWS refused by policy (HTTP 403): recognised once, named in one line with the fix.

The connect path (`EwsTransport.connect`, the preflight) and the upload path
(`core.transport.ews.errors.upload_error`) both call this module, so a refusal reads the same
wherever it is met.

What the detection is based on (public sources; no response text is guessed at):

- **Licence blocked (Kiosk, F1, F3).** Microsoft 365 message center MC1191578, "Update to EWS Access
  for Kiosk / Frontline Worker Licenses" (updated 2025-12-15): "Starting June 30, 2026, requests to
  use EWS without a suitable license will result in a HTTP 403 response."
- **App not on `EWSAllowedAppIDs`, or `EWSEnabled` false (tenant or mailbox), or EWS retired.** These
  are the tenant's EWS access policies (Exchange team blog, "Introducing EWSAllowedAppIDs", 2026-06-19;
  "The way to control EWS usage in Exchange Online is changing", 2025-02-20). Exchange answers an EWS
  request its access policy blocks with HTTP 403: microsoft/CSS-Exchange issue #1637 (a Microsoft
  engineer, an `EwsAllowList` policy): "The request failed. The remote server returned an error: (403)
  Forbidden."; David-Barrett-MS/PowerShell-EWS-Scripts issue #62, the Microsoft maintainer on an
  Exchange Online EWS 403: "403 is policy block, likely an app policy is applied preventing access."
  Public reports of Exchange Online's 403 show an empty body (ecederstrand/exchangelib issue #1324:
  "it gets a 403 with an empty body"; #1199, #1234: `Unknown failure in response. Code: 403`).
- We found no public report of a body, header or error code that tells these causes apart, so none
  is matched: a 403 from the EWS endpoint after the sign-in succeeded is one refusal, and the line
  names the causes and their fixes. What we do know besides the answer is the date: from
  2027-04-01 EWS in Exchange Online is off for every app (`core.online.EWS_RETIRED`), and the line
  says only that.

A 401 is a refused sign-in, not this (`errors.connect_error` names it).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from core import online
from core.errors import ConnectError, TransportError

HTTP_FORBIDDEN = 403
EWS_PATH = "/ews/exchange.asmx"


class EwsRefused(Exception):
    """The EWS endpoint answered HTTP 403: its access policy refuses this caller (raised by the
    transport's HTTP adapter, before exchangelib reads the answer)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"HTTP 403 from {url}")
        self.url = url


def is_ews_endpoint(url: str) -> bool:
    """Whether `url` is an EWS endpoint (not Autodiscover, not a token endpoint)."""
    return urlsplit(url).path.lower().rstrip("/").endswith(EWS_PATH)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else url


def refusal_message(
    url: str,
    *,
    online_target: bool,
    mailbox: str,
    client_id: str | None,
    store: str = "mailbox",
    profile_path: str | None = None,
    when: dt.date | None = None,
) -> str:
    """The one line for an EWS refusal, with the fix for each cause that answers this way."""
    where = _where(url)
    if not online_target:
        return (
            f"{where}: the server refused EWS (HTTP 403) for {mailbox}: its EWS access policy blocks this "
            "account or application; an Exchange admin checks EwsEnabled (Get-CASMailbox, Get-OrganizationConfig) "
            "and EwsApplicationAccessPolicy with EwsAllowList/EwsBlockList"
        )
    if online.ews_retired(when):
        fix = (
            online.archive_advice(profile_path, when)
            if store == "archive"
            else "set connection.transport: graph (Microsoft Graph)"
        )
        return (
            f"{where}: Exchange Online refused EWS (HTTP 403): it turned EWS off for every app on "
            f"{online.EWS_RETIRED.isoformat()}; {fix}"
        )
    app = f"app {client_id}" if client_id else "this app"
    route = online.archive_advice(profile_path, when) if store == "archive" else "set connection.transport: graph"
    return (
        f"{where}: Exchange Online refused EWS (HTTP 403) for {app} and {mailbox}: {route}; or have an admin allow "
        f"EWS: add {client_id or 'the app id'} to EWSAllowedAppIDs (Set-OrganizationConfig -EwsEnabled $true "
        f"-EwsAllowedAppIDs <the whole list>; works until {online.EWS_RETIRED.isoformat()}), check EwsEnabled of "
        f"{mailbox} (Get-CASMailbox), and that it is not licensed only Kiosk/F1/F3"
    )


def refusal_error(
    exc: BaseException,
    *,
    online_target: bool,
    mailbox: str,
    client_id: str | None,
    store: str = "mailbox",
    profile_path: str | None = None,
    when: dt.date | None = None,
) -> ConnectError | None:
    """A one-line ConnectError when `exc` is an EWS refusal (HTTP 403), else None (the preflight's use)."""
    if not isinstance(exc, EwsRefused):
        return None
    return ConnectError(
        refusal_message(
            exc.url,
            online_target=online_target,
            mailbox=mailbox,
            client_id=client_id,
            store=store,
            profile_path=profile_path,
            when=when,
        )
    )


def refused_upload(exc: EwsRefused) -> TransportError:
    """An EWS refusal met during upload (the tenant changed its policy mid-run, or EWS was retired while
    it ran): permanent, so items are not sent again and again; `refused` tells the engine it may stop."""
    err = TransportError(
        f"{_where(exc.url)}: EWS refused (HTTP 403): the server's EWS access policy now refuses this app or "
        "mailbox (for Exchange Online: EWSAllowedAppIDs, EwsEnabled, a Kiosk/F1/F3 licence, or EWS retired on "
        f"{online.EWS_RETIRED.isoformat()}); nothing more can be sent over EWS"
    )
    err.permanent = True  # type: ignore[attr-defined]
    err.refused = True  # type: ignore[attr-defined]
    err.unknown_outcome = False  # type: ignore[attr-defined]
    return err
