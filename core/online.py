"""Exchange Online from 2026 on: which route reaches which store, and the defaults that follow.

The platform facts this module encodes (each date named once, here):

- EWS for mailboxes licensed only with Exchange Online Kiosk or Microsoft/Office 365 F1/F3 is refused
  with HTTP 403 from 2026-06-30 (Microsoft 365 message center MC1191578, "Update to EWS Access for
  Kiosk / Frontline Worker Licenses": "requests to use EWS without a suitable license will result
  in a HTTP 403 response").
- From 2026-10-01 Exchange Online refuses EWS to every app that is not on the tenant's
  `EWSAllowedAppIDs` list (`Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs ...`), and
  tenants that never set `EWSEnabled` are switched to `False` (Exchange team blog, "Introducing
  EWSAllowedAppIDs: Preparing for the Final Phase of EWS Retirement", 2026-06-19).
- On 2027-04-01 EWS in Exchange Online is turned off for every app, "no exceptions" (Exchange team
  blog, "Exchange Online EWS, Your Time is Almost Up"). On-premises Exchange keeps EWS.
- Microsoft Graph is the road into Exchange Online mailboxes; Graph's mail API cannot reach online
  archives, and its import/export API reaches archives in beta only. So an archive in Exchange
  Online goes over EWS while the tenant allows it, and otherwise through the PST Import Service.

Nothing here imports a transport or the profile package, so both can use it.
"""

from __future__ import annotations

import datetime as dt
import shlex
from dataclasses import dataclass

EWS_LICENCE_BLOCK = dt.date(2026, 6, 30)
EWS_ALLOW_LIST_ENFORCED = dt.date(2026, 10, 1)
EWS_RETIRED = dt.date(2027, 4, 1)

EXCHANGE_ONLINE = "exchange-online"
ON_PREMISES = "on-premises"


def default_transport(target: object) -> str:
    """The transport a new profile gets: Graph for Exchange Online, EWS on-premises."""
    return "graph" if target == EXCHANGE_ONLINE else "ews"


def same_account(username: str | None, mailbox: str | None) -> bool:
    """Whether the account that signs in is the mailbox's own.

    `user@domain` is compared with the mailbox address; `DOMAIN\\alias` (or a bare alias) with the
    mailbox's local part, ignoring case. An unknown account (None) is not the mailbox's own.
    """
    if not username or not mailbox:
        return False
    user = username.strip().lower()
    box = mailbox.strip().lower()
    if "@" in user:
        return user == box
    alias = user.rsplit("\\", 1)[-1]
    return bool(alias) and alias == box.split("@", 1)[0]


def impersonation_default(method: object, username: str | None, mailbox: str | None) -> bool:
    """EWS impersonation, unless the profile says otherwise (the one rule the wizard and profiles use).

    On for app-only access (an app acts for no user of its own) and whenever the account that signs
    in is not the mailbox itself (a technician's service account, the usual case); off when the
    mailbox's owner signs in, or when the signing-in account is not known (a device-code sign-in
    without a username hint).
    """
    if method == "oauth-app":
        return True
    if not username:
        return False
    return not same_account(username, mailbox)


def ews_online_notice(client_id: str | None) -> str:
    """The one line shown when EWS is chosen for Exchange Online."""
    app = f"app id {client_id}" if client_id else "the app's id (connection.auth.client_id)"
    return (
        f"EWS into Exchange Online works only while the tenant allows this app: an admin adds {app} "
        f"to EWSAllowedAppIDs (Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs, the whole list); "
        f"Exchange Online turns EWS off for every app on {EWS_RETIRED.isoformat()}, so prefer transport: graph"
    )


def today() -> dt.date:
    """Today's date (one place, so tests can move the clock past 2027-04-01)."""
    return dt.date.today()


def ews_retired(when: dt.date | None = None) -> bool:
    """Whether EWS in Exchange Online is off for every app on `when` (default today): from 2027-04-01."""
    return (when or today()) >= EWS_RETIRED


def plan_command(profile_path: str | None) -> str:
    """The command that turns a profile into a ready Import Service run."""
    where = shlex.quote(profile_path) if profile_path else "PROFILE.yaml"
    return f"pstimport importservice plan {where} --storage-host ACCOUNT.blob.core.windows.net"


def archive_advice(profile_path: str | None, when: dt.date | None = None) -> str:
    """How to reach an Exchange Online archive when Graph cannot: EWS while allowed, else the Import Service."""
    service = f"the PST Import Service with the same PSTs, mailbox and folders ({plan_command(profile_path)})"
    if ews_retired(when):
        return f"Exchange Online turned EWS off on {EWS_RETIRED.isoformat()}, so import the archive through {service}"
    return (
        "use transport: ews while the tenant allows this app on EWS (EWSAllowedAppIDs; EWS ends on "
        f"{EWS_RETIRED.isoformat()}), or {service}"
    )


@dataclass(frozen=True)
class Route:
    """How pstimport reaches one kind of destination, before and after EWS leaves Exchange Online."""

    target: str
    store: str
    until_retirement: str
    from_retirement: str


ROUTES = (
    Route(
        "Exchange Online",
        "mailbox",
        "Microsoft Graph (default); EWS only if the tenant lists the app in EWSAllowedAppIDs",
        "Microsoft Graph",
    ),
    Route(
        "Exchange Online",
        "archive",
        "EWS if the tenant lists the app in EWSAllowedAppIDs; otherwise the PST Import Service",
        "the PST Import Service (Graph cannot reach archives)",
    ),
    Route("on-premises Exchange", "mailbox or archive", "EWS", "EWS (unchanged)"),
)


def route_for(target: str, store: str, when: dt.date | None = None) -> str:
    """The route text for a target (`exchange-online`/`on-premises`) and store, as of `when` (today)."""
    if target != EXCHANGE_ONLINE:
        return ROUTES[2].until_retirement
    route = ROUTES[1] if store == "archive" else ROUTES[0]
    return route.from_retirement if ews_retired(when) else route.until_retirement


# The same table in few words, for an 80-column screen (the wizard's connection step).
SHORT_ROUTES = (
    ("Online mailbox", "Graph (EWS if the app is allow-listed)", "Graph"),
    ("Online archive", "EWS if allow-listed, else Import Service", "Import Service"),
    ("On-premises", "EWS", "EWS"),
)


def route_table_lines(short: bool = False) -> list[str]:
    """The route table as aligned plain-text lines: `short` for the wizard, else README's words."""
    until = f"until {EWS_RETIRED - dt.timedelta(days=1):%Y-%m-%d}"
    since = f"from {EWS_RETIRED:%Y-%m-%d}"
    if short:
        rows = [("", until, since), *SHORT_ROUTES]
    else:
        rows = [
            ("target", "store", until, since),
            *((r.target, r.store, r.until_retirement, r.from_retirement) for r in ROUTES),
        ]
    last = len(rows[0]) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(last)]
    return [
        "  ".join(cell.ljust(widths[i]) if i < last else cell for i, cell in enumerate(row)).rstrip() for row in rows
    ]
