"""Reading a calendar back as a client would: plain exchangelib over EWS, plain HTTP over Graph."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.calendar.oracle import Occ


def ews_account(url: str, user: str, password: str, auth: str = "basic") -> Any:
    """A plain exchangelib Account (Basic auth, direct URL, no impersonation)."""
    from exchangelib import DELEGATE, Account, Configuration, Credentials
    from exchangelib.transport import BASIC

    cfg = Configuration(service_endpoint=url, auth_type=BASIC, credentials=Credentials(user, password))
    return Account(primary_smtp_address=user, config=cfg, autodiscover=False, access_type=DELEGATE)


def _instant(value: Any) -> datetime:
    return datetime.fromtimestamp(value.timestamp(), UTC)


def ews_view(account: Any, start: datetime, end: datetime) -> list[Any]:
    """CalendarView of the account's Calendar over [start, end), as exchangelib gives it."""
    from exchangelib import EWSDateTime
    from exchangelib.ewsdatetime import UTC as EWS_UTC

    def ews(v: datetime) -> EWSDateTime:
        return EWSDateTime(v.year, v.month, v.day, v.hour, v.minute, v.second, tzinfo=EWS_UTC)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(account.calendar.view(start=ews(start), end=ews(end)))


def as_occ(item: Any) -> Occ | tuple:
    """An exchangelib calendar item as an Occ; an all-day one (exchangelib gives dates, the end
    inclusive) as ("all-day", first day, last day, subject, location)."""
    if isinstance(item.start, date) and not isinstance(item.start, datetime):
        return ("all-day", item.start, item.end, item.subject or "", item.location or "")
    return Occ(_instant(item.start), _instant(item.end), item.subject or "", item.location or "")


def all_day_days(occ: Occ, iana: str) -> tuple:
    """An expected all-day occurrence as exchangelib shows one: its first and last local day."""
    zone = ZoneInfo(iana)
    first = occ.start.astimezone(zone).date()
    last = (occ.end.astimezone(zone) - timedelta(days=1)).date()
    return ("all-day", first, last, occ.subject, occ.location)


def graph_get(sandbox: Any, path: str, params: dict | None = None) -> Any:
    """GET a Graph path of the sandbox (app-only token from its OAuth endpoint), as any client would."""
    import ssl

    import httpx

    from tests.engine.helpers import APP_ID, APP_SECRET, TENANT

    ca = getattr(sandbox, "ca_cert", None)
    verify: Any = ssl.create_default_context(cafile=str(ca)) if ca else True
    form = {
        "grant_type": "client_credentials",
        "client_id": APP_ID,
        "client_secret": APP_SECRET,
        "scope": "https://graph.microsoft.com/.default",
    }
    token = httpx.post(sandbox.token_url(TENANT), data=form, timeout=30, verify=verify).json()["access_token"]
    answer = httpx.get(
        f"{sandbox.graph_url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        verify=verify,
    )
    answer.raise_for_status()
    return answer.json()


def _graph_instant(value: dict) -> datetime:
    """A Graph dateTimeTimeZone as a UTC instant (a Windows zone name mapped by exchangelib's table)."""
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

    text = value["dateTime"].split(".")[0]
    name = value.get("timeZone") or "UTC"
    zone = UTC if name == "UTC" else ZoneInfo(MS_TIMEZONE_TO_IANA_MAP.get(name, name))
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


def graph_event_occ(event: dict) -> Occ:
    return Occ(
        _graph_instant(event["start"]),
        _graph_instant(event["end"]),
        event.get("subject") or "",
        (event.get("location") or {}).get("displayName") or "",
    )


def graph_view(sandbox: Any, mailbox: str, start: datetime, end: datetime) -> list[dict]:
    """Graph's calendarView of the mailbox's calendar over [start, end)."""
    params = {
        "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "$top": "1000",
    }
    return graph_get(sandbox, f"/users/{mailbox}/calendar/calendarView", params)["value"]
