"""A private gromox (grommunio's open-source EWS server, ../shared/gromox) for tests: a second,
independent EWS implementation beside our sandbox.

One instance per test session, started by `../shared/gromox/start.sh` on 127.0.0.1 with a pool of
users; each test leases mailboxes of its own (`Gromox.lease()`), so tests never see each other's
items and no test has to clean up. When the pool runs out, another instance is started.

Where gromox is not Exchange, tests name the deviation with one of the `DEVIATION_*` texts below
(from ../shared/gromox/README.md), so a reader sees why a check differs on gromox.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

# Where ../shared/gromox/README.md says gromox differs from Exchange.
DEVIATION_AUTH = "gromox: Basic auth only over plain HTTP (no NTLM, OAuth or TLS)"
DEVIATION_DISTLIST = (
    "gromox: no distribution lists (CreateItem of t:DistributionList is a request-level SOAP fault E-3045)"
)
DEVIATION_DOUBLE_PROP = "gromox: FindItem may return the same ExtendedProperty twice on calendar items and tasks"
DEVIATION_MAPI_RECURRENCE = "gromox: recurrence sent as MAPI properties is not applied (reads back as Single)"
DEVIATION_RECEIVED = "gromox: DateTimeReceived is empty on items created from MIME without a Received: header"
DEVIATION_IMPERSONATION = "gromox: impersonation and Autodiscover are untested there (README)"
# Seen by this suite, not in the README: an extended property of type Binary (meeting messages carry
# PidLidGlobalObjectId and PidLidCleanGlobalObjectId; any tag or named property alike) makes the whole
# CreateItem a SOAP:Server fault "E-3107: cannot deserialize property of unsupported type Binary", in an
# envelope exchangelib cannot read (`<SOAP:Envelope` without an XML declaration: MalformedResponseError).
DEVIATION_BINARY_PROP = (
    "gromox: an ExtendedProperty of type Binary makes CreateItem a request-level SOAP:Server fault E-3107"
)
# Seen by this suite, not in the README: after a request body of more than 64 KiB (and up to 512 KiB,
# above which gromox spools bodies to disk), the next request on the same keep-alive connection is
# answered "400 Bad Request" with Connection: close; sent again on a new connection, it succeeds.
DEVIATION_KEEPALIVE = (
    "gromox: after a request body over 64 KiB, the next request on that keep-alive connection gets "
    "HTTP 400 Bad Request (Connection: close)"
)
# Also seen by the fidelity test: a t:Contact created with t:ItemClass IPM.AbchPerson reads back as IPM.Contact.
DEVIATION_TYPED_CLASS = "gromox: t:ItemClass is not kept on a typed item (a t:Contact is always IPM.Contact)"
# Also seen: no item:TextBody in GetItem answers (Exchange 2013+ has it), so a client reads the HTML body's text.
DEVIATION_NO_TEXT_BODY = "gromox: GetItem answers no TextBody; a client has the HTML body only"
# Also seen: a message created without MIME (sticky note, journal entry) reads back with no DateTimeSent or
# DateTimeReceived, its PidTagClientSubmitTime / PidTagMessageDeliveryTime notwithstanding (see DEVIATION_RECEIVED).
DEVIATION_NO_TIMES = "gromox: no DateTimeSent/DateTimeReceived on a message created without MIME"
# Also seen: classes gromox does not type (IPM.Post, IPM.Activity) are answered as t:Item, which has no IsRead
# (Exchange: "MessageType objects represent e-mail messages and all other items that are not strongly typed").
DEVIATION_GENERIC_ITEM = "gromox: posts and journal entries are answered as t:Item, without IsRead"
# Also seen: an attachment named without an extension reads back with ".bin" added ("att00580" -> "att00580.bin").
DEVIATION_BIN_NAME = "gromox: an attachment name without an extension gets '.bin' added"
# Also seen: GetAttachment of an item attachment answers an item without subject or attachments.
DEVIATION_ATTACHED_ITEM = "gromox: GetAttachment of an item attachment answers an empty item (no attachments)"
# Also seen: a message whose MIME From has no address (an empty From, or a name-only RFC 5322 group such as
# "Microsoft Outlook 2000:;") reads back with an address gromox makes up: the mailbox owner, or the first word
# of the name at its host name ("Microsoft@vm"). Exchange makes no address up.
DEVIATION_SENDER_MADE_UP = "gromox: a MIME From without an address reads back with an address gromox makes up"
# Also seen: file attachments in the CreateItem of a t:CalendarItem are not kept (HasAttachments false).
DEVIATION_CALENDAR_ATTACHMENTS = "gromox: file attachments sent in the CreateItem of a calendar item are dropped"

POOL_SIZE = 64
START_TIMEOUT = 180


class GromoxUnavailable(Exception):
    """gromox is not installed here, or would not start: the reason, for a skip message."""


@dataclass(frozen=True)
class GromoxMailbox:
    email: str
    password: str
    ews_url: str


@dataclass
class _Instance:
    state: Path
    ews_url: str
    users: list[tuple[str, str]]
    next: int = 0


@dataclass
class Gromox:
    """Running gromox instances and the mailboxes not yet leased."""

    shared: Path
    base: Path
    instances: list[_Instance] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def start_sh(self) -> Path:
        return self.shared / "gromox" / "start.sh"

    def check(self) -> None:
        """Raise GromoxUnavailable with a reason when gromox cannot run here."""
        if not self.start_sh.is_file():
            raise GromoxUnavailable(f"gromox is not at {self.start_sh.parent} (set PSTIMPORT_SHARED)")
        prefix = Path(os.environ.get("GROMOX_PREFIX", "/opt/gromox"))
        if not (prefix / "libexec" / "gromox" / "http").exists():
            raise GromoxUnavailable(
                f"gromox is not installed in {prefix}: run `sudo bash {self.shared / 'gromox' / 'install.sh'}` "
                "(.ci/run does it)"
            )

    def _start(self, users: list[tuple[str, str]] | None = None) -> _Instance:
        n = next(self._ids)
        state = self.base / f"gx{n}"
        if users is None:
            users = [(f"t{n}u{i:03d}@sandbox.test", f"Pw-{secrets.token_hex(6)}") for i in range(1, POOL_SIZE + 1)]
        env = dict(os.environ, GROMOX_USERS=" ".join(f"{e}:{p}" for e, p in users))
        proc = subprocess.run(
            ["bash", str(self.start_sh), str(state)],
            env=env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise GromoxUnavailable("gromox start.sh failed: " + " | ".join(tail))
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        inst = _Instance(state=state, ews_url=info["ews_url"], users=users)
        self.instances.append(inst)
        return inst

    def lease(self) -> GromoxMailbox:
        """A mailbox nobody else in this session uses."""
        with self._lock:
            inst = next((i for i in self.instances if i.next < len(i.users)), None) or self._start()
            email, password = inst.users[inst.next]
            inst.next += 1
            return GromoxMailbox(email=email, password=password, ews_url=inst.ews_url)

    def fresh_server(self, like: GromoxMailbox | None = None) -> GromoxMailbox:
        """A mailbox on a gromox instance of its own (a 'new server'): empty, with the address and
        password of `like` when given (the same mailbox, moved to a new server), else a new address."""
        with self._lock:
            inst = self._start([(like.email, like.password)] if like is not None else None)
            email, password = inst.users[0]
            inst.next = 1  # the caller's; the rest of a new pool may be leased
            return GromoxMailbox(email=email, password=password, ews_url=inst.ews_url)

    def stop(self) -> None:
        stop_sh = self.shared / "gromox" / "stop.sh"
        for inst in self.instances:
            subprocess.run(
                ["bash", str(stop_sh), str(inst.state)],
                capture_output=True,
                timeout=120,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        self.instances.clear()


OWNER_FILE = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale(shared: Path) -> int:
    """Stop the instances of earlier test sessions that died without stopping them (a killed pytest
    leaves its MariaDB and gromox running): each base dir names its owner's PID. Returns how many."""
    stop_sh = shared / "gromox" / "stop.sh"
    reaped = 0
    for base in Path(tempfile.gettempdir()).glob("pstimport-gx-*"):
        try:
            owner = int((base / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue  # not ours to judge (no owner recorded)
        if _alive(owner):
            continue
        for state in sorted(base.glob("gx*")):
            subprocess.run(
                ["bash", str(stop_sh), str(state)], capture_output=True, timeout=120, stdin=subprocess.DEVNULL
            )
        shutil.rmtree(base, ignore_errors=True)
        reaped += 1
    return reaped


def make_gromox(shared: Path) -> Gromox:
    """A Gromox handle with its state under a fresh temp dir (short path: MariaDB's socket path),
    after stopping what dead earlier sessions left running."""
    if (shared / "gromox" / "stop.sh").is_file():
        reap_stale(shared)
    base = Path(tempfile.mkdtemp(prefix="pstimport-gx-"))
    (base / OWNER_FILE).write_text(str(os.getpid()))
    return Gromox(shared=shared, base=base)


def exchangelib_account(mb: GromoxMailbox):  # noqa: ANN201 - exchangelib type, imported lazily
    """A plain exchangelib Account on a gromox mailbox (Basic auth; see DEVIATION_AUTH)."""
    from exchangelib import DELEGATE, Account, Configuration, Credentials
    from exchangelib.transport import BASIC

    cfg = Configuration(
        service_endpoint=mb.ews_url, auth_type=BASIC, credentials=Credentials(mb.email, mb.password), max_connections=4
    )
    return Account(primary_smtp_address=mb.email, config=cfg, autodiscover=False, access_type=DELEGATE)


# Calendars (seen with gromox 3.10, ../shared/gromox): what a series created by its Recurrence
# element (the documented way, which gromox keeps) does there, unlike Exchange.
DEVIATION_CALENDAR_VIEW = "gromox: a CalendarView lists a series' master only, not its occurrences"
DEVIATION_OCCURRENCE_DST = (
    "gromox: occurrences keep the first one's UTC offset (an occurrence after a DST change is an hour off)"
)
DEVIATION_OCCURRENCE_RENUMBER = (
    "gromox: after an occurrence is deleted, the later ones' InstanceIndex shifts down by one "
    "(Exchange keeps each occurrence's index)"
)
DEVIATION_OCCURRENCE_LISTS = "gromox: ModifiedOccurrences/DeletedOccurrences carry no Start/End/OriginalStart"
DEVIATION_RECURRENCE_DATES = (
    "gromox: a Recurrence's StartDate/EndDate come back as xs:dateTime, not xs:date (exchangelib reads None), "
    "and a Monday-Friday weekly pattern as DaysOfWeek 'Weekday' (which exchangelib cannot read)"
)
DEVIATION_OCCURRENCE_LIMIT = (
    "gromox: only the first 10 occurrences of a series ending by date or never are found by InstanceIndex"
)
DEVIATION_RELATIVE_WEEKDAY = (
    "gromox: a RelativeMonthly/Yearly pattern on DaysOfWeek 'Weekday' ('the last weekday of the month') "
    "expands to the wrong days"
)
DEVIATION_OCCURRENCE_ATTACHMENT = (
    "gromox: CreateAttachment on an occurrence (an exception's id) is refused (E-3216 invalid ID type)"
)
DEVIATION_GETITEM_EXTENDED = (
    "gromox: a GetItem that asks for many extended properties (as exchangelib does once pstimport registered "
    "its own) answers without Start, End, IsAllDayEvent and the attendee lists"
)
