"""Seeded mailbox content for sample PSTs, and its ground truth.

`generate(path, seed, mode)` writes `path` and `path + ".truth.json"`. Everything comes from
`random.Random(seed)`, with no clock and no system UUIDs, so one seed gives the same bytes.

Truth JSON (version 1):
    {"version": 1, "seed": 7, "mode": "realistic", "store": {"display_name": ...},
     "folders": [{"path": ["Inbox"], "container_class": "IPF.Note", "role": "inbox", "items": 12}],
     "items": [{"folder": ["Inbox"], "class": "IPM.Note", "subject": ..., "nid": 2097188,
                "submit_time": "2014-05-01T10:00:00Z", "delivery_time": ..., "flags": 1,
                "read": true, "importance": 1, "sensitivity": 0, "categories": [...],
                "flag_status": 2 | null, "body": "plain text" | null, "html": ... | null,
                "rtf": "{\\rtf1 ...}" | null, "sender": {...} | null,
                "recipients": [{"type": "to", "name": ..., "address_type": "SMTP"|"EX",
                                "email": ..., "smtp": ... | null, "resolvable": true}],
                "attachments": [{"name": ..., "size": n, "sha256": ..., "content_id": ... | null,
                                 "inline": false, "embedded": {item, without folder} | null}],
                "readpst": true, "extra": {class-specific values}}]}
Item order is write order, which is also each folder's contents-table order.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import compressed_rtf

from core.mapi import (
    ADDRTYPE_EX,
    ADDRTYPE_SMTP,
    ATT_MHTML_REF,
    DOW_FRIDAY,
    DOW_MONDAY,
    EX_ADDRESS_BOOK_PROVIDER_UID,
    ICON_MAIL_REPLIED,
    IMPORTANCE_HIGH,
    IMPORTANCE_LOW,
    IMPORTANCE_NORMAL,
    MAPI_BCC,
    MAPI_CC,
    MAPI_ONE_OFF_NO_RICH_INFO,
    MAPI_ONE_OFF_UNICODE,
    MAPI_TO,
    MSGFLAG_HASATTACH,
    MSGFLAG_READ,
    MSGFLAG_UNSENT,
    NOTE_COLOR_YELLOW,
    NOTEIVERB_REPLYTOSENDER,
    ONE_OFF_PROVIDER_UID,
    SENSITIVITY_CONFIDENTIAL,
    SENSITIVITY_NONE,
    SENSITIVITY_PERSONAL,
    SENSITIVITY_PRIVATE,
    WRAPPED_ENTRY_ID_PROVIDER_UID,
    WRAPPED_TYPE_ONE_OFF,
    PidLidAppointmentEndWhole,
    PidLidAppointmentRecur,
    PidLidAppointmentStartWhole,
    PidLidAppointmentStateFlags,
    PidLidAppointmentSubType,
    PidLidAppointmentTimeZoneDefinitionEndDisplay,
    PidLidAppointmentTimeZoneDefinitionRecur,
    PidLidAppointmentTimeZoneDefinitionStartDisplay,
    PidLidBusyStatus,
    PidLidClipEnd,
    PidLidClipStart,
    PidLidCommonEnd,
    PidLidCommonStart,
    PidLidDistributionListMembers,
    PidLidDistributionListName,
    PidLidDistributionListOneOffMembers,
    PidLidEmail1AddressType,
    PidLidEmail1DisplayName,
    PidLidEmail1EmailAddress,
    PidLidEmail1OriginalDisplayName,
    PidLidEmail2AddressType,
    PidLidEmail2DisplayName,
    PidLidEmail2EmailAddress,
    PidLidEmail2OriginalDisplayName,
    PidLidEmail3AddressType,
    PidLidEmail3DisplayName,
    PidLidEmail3EmailAddress,
    PidLidEmail3OriginalDisplayName,
    PidLidExceptionReplaceTime,
    PidLidFileUnder,
    PidLidFlagRequest,
    PidLidLocation,
    PidLidLogDuration,
    PidLidLogEnd,
    PidLidLogStart,
    PidLidLogType,
    PidLidNoteColor,
    PidLidNoteHeight,
    PidLidNoteWidth,
    PidLidPercentComplete,
    PidLidRecurring,
    PidLidResponseStatus,
    PidLidTaskDueDate,
    PidLidTaskFRecurring,
    PidLidTaskRecurrence,
    PidLidTaskStartDate,
    PidLidTaskStatus,
    PidLidTimeZoneDescription,
    PidLidTimeZoneStruct,
    PidLidWorkAddressCity,
    PidLidWorkAddressCountry,
    PidLidWorkAddressPostalCode,
    PidLidWorkAddressStreet,
    PidNameKeywords,
    PidTagAddressType,
    PidTagAttachContentId,
    PidTagAttachExtension,
    PidTagAttachFilename,
    PidTagAttachFlags,
    PidTagAttachLongFilename,
    PidTagAttachmentHidden,
    PidTagAttachMethod,
    PidTagAttachMimeTag,
    PidTagBody,
    PidTagBusinessTelephoneNumber,
    PidTagClientSubmitTime,
    PidTagCompanyName,
    PidTagConversationIndex,
    PidTagConversationTopic,
    PidTagCreationTime,
    PidTagDisplayBcc,
    PidTagDisplayCc,
    PidTagDisplayName,
    PidTagDisplayTo,
    PidTagEmailAddress,
    PidTagEndDate,
    PidTagEntryId,
    PidTagExceptionEndTime,
    PidTagExceptionStartTime,
    PidTagFlagStatus,
    PidTagGivenName,
    PidTagHomeAddressCity,
    PidTagHomeAddressCountry,
    PidTagHomeAddressPostalCode,
    PidTagHomeAddressStreet,
    PidTagHomeTelephoneNumber,
    PidTagHtml,
    PidTagIconIndex,
    PidTagImportance,
    PidTagInReplyToId,
    PidTagInternetCodepage,
    PidTagInternetMessageId,
    PidTagInternetReferences,
    PidTagLastModificationTime,
    PidTagLastVerbExecuted,
    PidTagMessageCcMe,
    PidTagMessageClass,
    PidTagMessageDeliveryTime,
    PidTagMessageFlags,
    PidTagMessageToMe,
    PidTagMobileTelephoneNumber,
    PidTagNativeBody,
    PidTagNormalizedSubject,
    PidTagRecipientFlags,
    PidTagRecipientTrackStatus,
    PidTagRecipientType,
    PidTagResponsibility,
    PidTagRtfCompressed,
    PidTagRtfInSync,
    PidTagSearchKey,
    PidTagSenderAddressType,
    PidTagSenderEmailAddress,
    PidTagSenderEntryId,
    PidTagSenderName,
    PidTagSenderSmtpAddress,
    PidTagSendRichInfo,
    PidTagSensitivity,
    PidTagSentRepresentingAddressType,
    PidTagSentRepresentingEmailAddress,
    PidTagSentRepresentingName,
    PidTagSmtpAddress,
    PidTagStartDate,
    PidTagSubject,
    PidTagSubjectPrefix,
    PidTagSurname,
    PidTagTitle,
    afByValue,
    afEmbeddedMessage,
    asfMeeting,
    followupFlagged,
    olBusy,
    olFree,
    recipOrganizer,
    recipSendable,
    respAccepted,
    respNone,
    respOrganized,
    tsvInProgress,
    tsvNotStarted,
)
from core.sandbox.pstwriter.messaging import (
    Attachment,
    FolderHandle,
    Message,
    PstWriter,
    special_folder_ids,
    store_role_ids,
)
from core.sandbox.pstwriter.recurrence import (
    PACIFIC,
    UTC_ZONE,
    WEST_EUROPE,
    Change,
    ModifiedOccurrence,
    Series,
    WeeklyRecurrence,
)

TRUTH_VERSION = 1
FILETIME_EPOCH_OFFSET = 11644473600  # seconds from 1601-01-01 to 1970-01-01
DATE_RANGE_START = datetime(2010, 1, 1, tzinfo=UTC)
DATE_RANGE_YEARS = 15
# readpst (libpst 0.6.76) exports none of these: the first four per the corpus MANIFEST, the
# configuration classes of folder-associated items as observed ("items skipped").
READPST_SKIPPED_CLASSES = (
    "IPM.Task",
    "IPM.StickyNote",
    "IPM.DistList",
    "IPM.Post",
    "IPM.Microsoft.",
    "IPM.Configuration.",
)
CODEPAGE_UTF8 = 65001
NATIVE_BODY_PLAIN, NATIVE_BODY_RTF, NATIVE_BODY_HTML = 1, 2, 3
BIG_ATTACHMENT_SIZES = (9 * 1024 * 1024 + 12345, 21 * 1024 * 1024 + 777)  # over one XBLOCK's 8 MB
EX_DN_PREFIX = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn="
CHUNK = 1 << 20

WELL_KNOWN = [
    # (role, name, container class)
    ("inbox", "Inbox", "IPF.Note"),
    ("sent", "Sent Items", "IPF.Note"),
    ("deleted", "Deleted Items", "IPF.Note"),
    ("drafts", "Drafts", "IPF.Note"),
    ("outbox", "Outbox", "IPF.Note"),
    ("junk", "Junk E-mail", "IPF.Note"),
    ("calendar", "Calendar", "IPF.Appointment"),
    ("contacts", "Contacts", "IPF.Contact"),
    ("tasks", "Tasks", "IPF.Task"),
    ("notes", "Notes", "IPF.StickyNote"),
    ("journal", "Journal", "IPF.Journal"),
]
# Six levels under the Inbox, with Unicode names, and "Archive" at two depths.
NESTED_PATH = ["Projects", "2019", "Ωmega – Q1", "Straße & Café", "日本語フォルダー", "Archive"]
FIRST_NAMES = [
    "Anna",
    "Björn",
    "Chloé",
    "Dmitri",
    "Eun-ji",
    "Fatima",
    "Gareth",
    "Hiroshi",
    "Ingrid",
    "José",
    "Kwame",
    "Leïla",
    "Mateo",
    "Noor",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
]
LAST_NAMES = [
    "Andersson",
    "Bauer",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fernández",
    "García",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Petrov",
]
DOMAINS = ["example.com", "contoso.example", "fabrikam.example", "northwind.example"]
WORDS = (
    "budget review meeting project deadline report draft invoice schedule customer release "
    "update quarterly plan design server migration backup policy contract proposal agenda "
    "notes follow-up approval training workshop travel expense summary feedback roadmap "
    "Überprüfung café naïve 日本 данные δοκιμή"
).split()
CATEGORIES = ["Red Category", "Blue Category", "Projekt Ω", "Personal", "Follow-up"]


def filetime(dt: datetime) -> int:
    """A FILETIME (100 ns since 1601) from an aware datetime."""
    return (int(dt.timestamp()) + FILETIME_EPOCH_OFFSET) * 10_000_000


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def one_off_entry_id(name: str, addrtype: str, email: str) -> bytes:
    """A one-off entry id (MS-OXCDATA 2.2.5.1), Unicode."""
    flags = MAPI_ONE_OFF_UNICODE | MAPI_ONE_OFF_NO_RICH_INFO
    body = b"".join((s + "\0").encode("utf-16-le") for s in (name, addrtype, email))
    return b"\0\0\0\0" + ONE_OFF_PROVIDER_UID + struct.pack("<HH", 0, flags) + body


def ex_entry_id(dn: str) -> bytes:
    """An address book entry id for an Exchange user (MS-OXCDATA 2.2.5.2)."""
    return b"\0\0\0\0" + EX_ADDRESS_BOOK_PROVIDER_UID + struct.pack("<II", 1, 0) + dn.encode("ascii") + b"\0"


def tiny_png(rng: random.Random, side: int = 4) -> bytes:
    """A valid PNG of `side` x `side` random RGB pixels."""
    raw = b"".join(b"\0" + rng.randbytes(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


class Person:
    """A correspondent: SMTP, or Exchange (EX) with or without a known SMTP address."""

    def __init__(self, rng: random.Random, kind: str = "smtp") -> None:
        self.first = rng.choice(FIRST_NAMES)
        self.last = rng.choice(LAST_NAMES)
        self.name = f"{self.first} {self.last}"
        alias = (self.first[0] + self.last).lower().encode("ascii", "ignore").decode() or "user"
        alias += str(rng.randrange(10, 99))
        self.smtp = f"{alias}@{rng.choice(DOMAINS)}"
        self.kind = kind
        self.dn = EX_DN_PREFIX + f"{rng.randbytes(16).hex()}-{alias}"

    @property
    def address_type(self) -> str:
        return ADDRTYPE_SMTP if self.kind == "smtp" else ADDRTYPE_EX

    @property
    def email(self) -> str:
        return self.smtp if self.kind == "smtp" else self.dn

    @property
    def known_smtp(self) -> str | None:
        return None if self.kind == "ex-unresolvable" else self.smtp

    def recipient(self, rtype: int, extra: dict | None = None) -> tuple[dict, dict]:
        """(recipient row props, truth) for this person."""
        entry = (
            one_off_entry_id(self.name, self.address_type, self.email) if self.kind == "smtp" else ex_entry_id(self.dn)
        )
        row: dict[Any, Any] = {
            PidTagRecipientType: rtype,
            PidTagDisplayName: self.name,
            PidTagAddressType: self.address_type,
            PidTagEmailAddress: self.email,
            PidTagEntryId: entry,
            PidTagResponsibility: False,
            PidTagSendRichInfo: False,
            PidTagSearchKey: f"{self.address_type}:{self.email.upper()}\0".encode(),
            PidTagSmtpAddress: self.known_smtp,
            PidTagRecipientFlags: recipSendable,
        }
        row.update(extra or {})
        truth = {
            "type": {MAPI_TO: "to", MAPI_CC: "cc", MAPI_BCC: "bcc"}[rtype],
            "name": self.name,
            "address_type": self.address_type,
            "email": self.email,
            "smtp": self.known_smtp,
            "resolvable": self.known_smtp is not None,
        }
        return row, truth


class Generator:
    """Builds items into a PstWriter and records their truth."""

    def __init__(self, writer: PstWriter, rng: random.Random, truth_out: TextIO) -> None:
        self.w = writer
        self.rng = rng
        self.out = truth_out
        self.first_item = True
        self.folder_paths: dict[int, list[str]] = {}
        self.folder_roles: dict[int, str | None] = {}
        self.folders: list[FolderHandle] = []
        self.owner = Person(rng)
        self.owner.name = "Sandbox Owner"
        self.owner.smtp = "owner@example.com"
        self._text = " ".join(rng.choice(WORDS) for _ in range(20000))
        self.written_bytes = 0

    # -- folders -------------------------------------------------------------------
    def folder(self, parent: FolderHandle, name: str, cls: str | None, role: str | None = None) -> FolderHandle:
        f = self.w.add_folder(parent, name, cls)
        base = self.folder_paths.get(parent.nid, [])
        self.folder_paths[f.nid] = [*base, name]
        self.folder_roles[f.nid] = role
        self.folders.append(f)
        return f

    def folder_truth(self) -> list[dict]:
        top = self.w.ipm_subtree
        out = [
            {"path": [], "container_class": None, "role": None, "items": top.count, "associated": top.associated_count}
        ]
        for f in self.folders:
            out.append(
                {
                    "path": self.folder_paths[f.nid],
                    "container_class": f.container_class,
                    "role": self.folder_roles[f.nid],
                    "items": f.count,
                    "associated": f.associated_count,
                }
            )
        return out

    # -- random bits ----------------------------------------------------------------
    def date(self) -> datetime:
        span = DATE_RANGE_YEARS * 365 * 86400
        return DATE_RANGE_START + timedelta(seconds=self.rng.randrange(span))

    def words(self, n: int) -> str:
        start = self.rng.randrange(0, len(self._text) - 20 * n - 1)
        return " ".join(self._text[start:].split(" ", n + 1)[1 : n + 1])

    def sentence(self) -> str:
        s = self.words(self.rng.randint(3, 8))
        return s[:1].upper() + s[1:]

    def paragraph_text(self, size: int) -> str:
        start = self.rng.randrange(0, max(1, len(self._text) - size))
        return self._text[start : start + size].strip()

    # -- items ---------------------------------------------------------------------
    def emit(self, folder: FolderHandle, message: Message, truth: dict, associated: bool = False) -> None:
        nid = self.w.add_message(folder, message, associated=associated)
        if associated:
            truth["flags"] = message.props[PidTagMessageFlags]
        truth = {"folder": self.folder_paths.get(folder.nid, []), "nid": nid, "associated": associated, **truth}
        self.out.write(("" if self.first_item else ",\n") + json.dumps(truth, ensure_ascii=False, sort_keys=True))
        self.first_item = False

    def mail(
        self,
        *,
        subject: str,
        cls: str = "IPM.Note",
        body_kind: str = "plain",
        body_size: int = 600,
        sender: Person | None = None,
        to: list[Person] | None = None,
        cc: list[Person] | None = None,
        bcc: list[Person] | None = None,
        when: datetime | None = None,
        read: bool = True,
        importance: int = IMPORTANCE_NORMAL,
        sensitivity: int = SENSITIVITY_NONE,
        categories: list[str] | None = None,
        flagged: bool = False,
        attachments: list[tuple[Attachment, dict]] | None = None,
        prefix: str = "",
        thread: dict | None = None,
        unsent: bool = False,
        extra_props: dict | None = None,
        extra_truth: dict | None = None,
    ) -> tuple[Message, dict]:
        """An email-like message and its truth (also the base of the other classes)."""
        rng = self.rng
        when = when or self.date()
        sender = sender or Person(rng)
        text = self.paragraph_text(body_size) if body_size else ""
        full_subject = prefix + subject
        props: dict[Any, Any] = {
            PidTagMessageClass: cls,
            PidTagSubject: full_subject,
            PidTagNormalizedSubject: subject,
            PidTagConversationTopic: subject,
            PidTagImportance: importance,
            PidTagSensitivity: sensitivity,
            PidTagClientSubmitTime: filetime(when),
            PidTagMessageDeliveryTime: filetime(when + timedelta(seconds=7)),
            PidTagCreationTime: filetime(when + timedelta(seconds=9)),
            PidTagLastModificationTime: filetime(when + timedelta(seconds=11)),
            PidTagMessageFlags: (MSGFLAG_READ if read else 0) | (MSGFLAG_UNSENT if unsent else 0),
            PidTagSenderName: sender.name,
            PidTagSenderAddressType: sender.address_type,
            PidTagSenderEmailAddress: sender.email,
            PidTagSenderSmtpAddress: sender.known_smtp,
            PidTagSenderEntryId: one_off_entry_id(sender.name, sender.address_type, sender.email)
            if sender.kind == "smtp"
            else ex_entry_id(sender.dn),
            PidTagSentRepresentingName: sender.name,
            PidTagSentRepresentingAddressType: sender.address_type,
            PidTagSentRepresentingEmailAddress: sender.email,
            PidTagInternetCodepage: CODEPAGE_UTF8,
            PidTagInternetMessageId: f"<{rng.randbytes(8).hex()}@{sender.smtp.split('@')[1]}>",
        }
        if prefix:
            props[PidTagSubjectPrefix] = prefix
        truth: dict[str, Any] = {
            "class": cls,
            "subject": full_subject,
            "submit_time": iso(when),
            "delivery_time": iso(when + timedelta(seconds=7)),
            "read": read,
            "flags": props[PidTagMessageFlags],
            "importance": importance,
            "sensitivity": sensitivity,
            "categories": categories or [],
            "flag_status": followupFlagged if flagged else None,
            "body": None,
            "html": None,
            "rtf": None,
            "message_id": props[PidTagInternetMessageId],
            "sender": {
                "name": sender.name,
                "address_type": sender.address_type,
                "email": sender.email,
                "smtp": sender.known_smtp,
            },
            "readpst": not cls.startswith(READPST_SKIPPED_CLASSES),
        }
        if body_kind == "plain" and text:
            props[PidTagBody] = text
            props[PidTagNativeBody] = NATIVE_BODY_PLAIN
            truth["body"] = text
        elif body_kind == "html":
            html = f"<html><body><p>{text}</p>{{inline}}</body></html>"
            truth["_html_template"] = html
            props[PidTagBody] = text
            props[PidTagNativeBody] = NATIVE_BODY_HTML
            truth["body"] = text
        elif body_kind == "rtf":
            rtf = (
                "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Calibri;}}\\f0\\fs22 "
                + text.encode("ascii", "replace").decode().replace("?", "")
                + "\\par}"
            )
            props[PidTagRtfCompressed] = compressed_rtf.compress(rtf.encode("ascii"))
            props[PidTagRtfInSync] = True
            props[PidTagNativeBody] = NATIVE_BODY_RTF
            truth["rtf"] = rtf
        if categories:
            props[PidNameKeywords] = categories
        if flagged:
            props[PidTagFlagStatus] = followupFlagged
            props[PidLidFlagRequest] = "Follow up"
        if thread:
            props.update(thread.get("props", {}))
            truth.update(thread.get("truth", {}))
        recips: list[dict] = []
        rtruth: list[dict] = []
        for rtype, people in ((MAPI_TO, to), (MAPI_CC, cc), (MAPI_BCC, bcc)):
            for p in people or []:
                row, t = p.recipient(rtype)
                recips.append(row)
                rtruth.append(t)
        props[PidTagDisplayTo] = "; ".join(p.name for p in to or []) or None
        props[PidTagMessageToMe] = self.owner in (to or [])
        props[PidTagMessageCcMe] = self.owner in (cc or [])
        props[PidTagSearchKey] = rng.randbytes(16)
        props[PidTagDisplayCc] = "; ".join(p.name for p in cc or []) or None
        props[PidTagDisplayBcc] = "; ".join(p.name for p in bcc or []) or None
        truth["recipients"] = rtruth
        atts: list[Attachment] = []
        atruth: list[dict] = []
        inline_html = ""
        for att, t in attachments or []:
            atts.append(att)
            atruth.append(t)
            if t.get("content_id"):
                inline_html += f'<img src="cid:{t["content_id"]}">'
        if "_html_template" in truth:
            html = truth.pop("_html_template").replace("{inline}", inline_html)
            props[PidTagHtml] = html.encode("utf-8")
            truth["html"] = html
        truth["attachments"] = atruth
        if atts:  # the writer sets it too; the truth records the stored value
            props[PidTagMessageFlags] |= MSGFLAG_HASATTACH
            truth["flags"] = props[PidTagMessageFlags]
        props.update(extra_props or {})
        truth["extra"] = extra_truth or {}
        return Message(props=props, recipients=recips, attachments=atts), truth

    def file_attachment(
        self,
        name: str,
        size: int,
        mime: str = "application/octet-stream",
        content_id: str | None = None,
        data: bytes | None = None,
    ) -> tuple[Attachment, dict]:
        """A by-value attachment; big ones are streamed from a seeded generator."""
        props: dict[Any, Any] = {
            PidTagAttachMethod: afByValue,
            PidTagAttachLongFilename: name,
            PidTagAttachFilename: name,
            PidTagDisplayName: name,
            PidTagAttachExtension: os.path.splitext(name)[1] or None,
            PidTagAttachMimeTag: mime,
        }
        if content_id:
            props[PidTagAttachContentId] = content_id
            props[PidTagAttachFlags] = ATT_MHTML_REF
            props[PidTagAttachmentHidden] = True
        truth = {"name": name, "size": size, "content_id": content_id, "inline": bool(content_id), "embedded": None}
        if data is not None or size <= CHUNK:
            data = data if data is not None else self.rng.randbytes(size)
            truth["sha256"] = hashlib.sha256(data).hexdigest()
            truth["size"] = len(data)
            return Attachment(props=props, data=data), truth
        # Stream: the bytes come from a private RNG seeded from the main one; hash them once
        # up front so the truth is known before the writer reads the stream.
        sub_seed = self.rng.getrandbits(64)
        truth["sha256"] = _stream_sha256(sub_seed, size)
        return Attachment(props=props, stream=(size, lambda: _stream_chunks(sub_seed, size))), truth

    def embedded_attachment(self, inner: Message, inner_truth: dict, name: str) -> tuple[Attachment, dict]:
        props = {PidTagAttachMethod: afEmbeddedMessage, PidTagDisplayName: name, PidTagAttachLongFilename: name}
        inner_truth = {k: v for k, v in inner_truth.items() if k != "readpst"}
        truth = {
            "name": name,
            "size": None,
            "sha256": None,
            "content_id": None,
            "inline": False,
            "embedded": inner_truth,
        }
        return Attachment(props=props, message=inner), truth


def _stream_chunks(seed: int, size: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    left = size
    while left:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def _stream_sha256(seed: int, size: int) -> str:
    h = hashlib.sha256()
    for chunk in _stream_chunks(seed, size):
        h.update(chunk)
    return h.hexdigest()


# -- realistic mode -------------------------------------------------------------------
def _realistic(g: Generator, roles: dict[str, FolderHandle]) -> None:
    rng = g.rng
    people = [Person(rng) for _ in range(8)]
    ex_ok = [Person(rng, "ex") for _ in range(3)]
    ex_bad = [Person(rng, "ex-unresolvable") for _ in range(2)]
    inbox = roles["inbox"]
    nested: list[FolderHandle] = []
    parent = inbox
    for name in NESTED_PATH:
        parent = g.folder(parent, name, "IPF.Note")
        nested.append(parent)
    g.folder(inbox, "Archive", "IPF.Note")  # same name as the 6th level, at level 2
    top_projects = g.folder(g.w.ipm_subtree, "Projects", "IPF.Note")  # and "Projects" at top level
    kinds = ["plain", "html", "rtf"]
    importances = [IMPORTANCE_LOW, IMPORTANCE_NORMAL, IMPORTANCE_HIGH]
    sens = [SENSITIVITY_NONE, SENSITIVITY_PERSONAL, SENSITIVITY_PRIVATE, SENSITIVITY_CONFIDENTIAL]
    # Ordinary mail with every variation, spread over the mail folders.
    for i in range(24):
        folder = [inbox, inbox, roles["sent"], roles["deleted"], roles["junk"], nested[i % 6], top_projects][i % 7]
        to = rng.sample(people, rng.randint(1, 3))
        cc = [ex_ok[i % 3]] if i % 3 == 0 else ([ex_bad[i % 2]] if i % 4 == 1 else [])
        bcc = [people[(i + 5) % 8]] if i % 5 == 0 else []
        atts = []
        if i % 4 == 2:
            atts.append(g.file_attachment(f"report-{i}.pdf", rng.choice([3, 700, 5000, 64 * 1024, 300_000])))
        if i % 6 == 3:
            atts.append(g.file_attachment(f"notes {i} – ü.txt", rng.randint(1, 40), "text/plain"))
        kind = kinds[i % 3]
        if kind == "html" and i % 2 == 1:
            cid = f"image{i:03d}.png@01D{rng.randbytes(4).hex().upper()}"
            atts.append(g.file_attachment(f"image{i:03d}.png", 0, "image/png", content_id=cid, data=tiny_png(rng)))
        msg, truth = g.mail(
            subject=f"{g.sentence()} #{i}",
            body_kind=kind,
            body_size=rng.choice([40, 600, 3000, 12000]),
            sender=ex_ok[0] if i % 8 == 7 else rng.choice(people),
            to=to,
            cc=cc,
            bcc=bcc,
            read=i % 3 != 1,
            importance=importances[i % 3],
            sensitivity=sens[i % 4],
            categories=rng.sample(CATEGORIES, i % 3),
            flagged=i % 5 == 2,
            attachments=atts,
        )
        g.emit(folder, msg, truth)
    # A thread: original, reply, forward, with threading headers.
    when = g.date()
    orig_id = f"<thread-{rng.randbytes(6).hex()}@example.com>"
    conv = b"\x01" + struct.pack(">Q", filetime(when))[:5] + rng.randbytes(16)
    subj = "Quarterly numbers"
    msg, truth = g.mail(
        subject=subj,
        sender=people[0],
        to=[g.owner],
        when=when,
        thread={
            "props": {
                PidTagInternetMessageId: orig_id,
                PidTagConversationIndex: conv,
                PidTagLastVerbExecuted: NOTEIVERB_REPLYTOSENDER,
                PidTagIconIndex: ICON_MAIL_REPLIED,
            },
            "truth": {"message_id": orig_id},
        },
    )
    g.emit(inbox, msg, truth)
    reply_id = f"<reply-{rng.randbytes(6).hex()}@example.com>"
    msg, truth = g.mail(
        subject=subj,
        prefix="RE: ",
        sender=g.owner,
        to=[people[0]],
        when=when + timedelta(hours=2),
        thread={
            "props": {
                PidTagInternetMessageId: reply_id,
                PidTagInReplyToId: orig_id,
                PidTagInternetReferences: orig_id,
                PidTagConversationIndex: conv + rng.randbytes(5),
            },
            "truth": {"message_id": reply_id, "in_reply_to": orig_id, "references": orig_id},
        },
    )
    g.emit(roles["sent"], msg, truth)
    fwd_id = f"<fwd-{rng.randbytes(6).hex()}@example.com>"
    msg, truth = g.mail(
        subject=subj,
        prefix="FW: ",
        sender=g.owner,
        to=[people[3]],
        when=when + timedelta(days=1),
        thread={
            "props": {
                PidTagInternetMessageId: fwd_id,
                PidTagInReplyToId: reply_id,
                PidTagInternetReferences: f"{orig_id} {reply_id}",
                PidTagConversationIndex: conv + rng.randbytes(10),
            },
            "truth": {"message_id": fwd_id, "in_reply_to": reply_id, "references": f"{orig_id} {reply_id}"},
        },
    )
    g.emit(roles["sent"], msg, truth)
    # Embedded messages two levels deep.
    inner2, t2 = g.mail(
        subject="Innermost message", sender=people[4], to=[people[5]], attachments=[g.file_attachment("deep.bin", 2048)]
    )
    inner1, t1 = g.mail(
        subject="Middle message",
        body_kind="html",
        sender=people[5],
        to=[people[6]],
        attachments=[g.embedded_attachment(inner2, t2, "Innermost message")],
    )
    msg, truth = g.mail(
        subject="Outer message with a forwarded mail",
        sender=people[6],
        to=[g.owner],
        attachments=[
            g.embedded_attachment(inner1, t1, "Middle message"),
            g.file_attachment("outer.txt", 11, "text/plain"),
        ],
    )
    g.emit(inbox, msg, truth)
    # Big attachments: over 8 MB (XXBLOCK) and tens of MB.
    for n, size in enumerate(BIG_ATTACHMENT_SIZES):
        msg, truth = g.mail(
            subject=f"Large attachment {size // (1024 * 1024)} MB",
            sender=rng.choice(people),
            to=[g.owner],
            attachments=[g.file_attachment(f"big-{n}.bin", size)],
        )
        g.emit(inbox, msg, truth)
    # Drafts and outbox.
    msg, truth = g.mail(subject="Unfinished draft", sender=g.owner, to=[people[1]], unsent=True, read=True)
    g.emit(roles["drafts"], msg, truth)
    msg, truth = g.mail(subject="Waiting to be sent", sender=g.owner, to=[ex_bad[0]], unsent=True)
    g.emit(roles["outbox"], msg, truth)
    _calendar(g, roles["calendar"], people)
    _contacts(g, roles["contacts"], people)
    _tasks(g, roles["tasks"])
    _notes_and_journal(g, roles["notes"], roles["journal"], people)
    # Folder-associated (hidden) items: a saved view in the Inbox, calendar settings.
    for folder, cls, subject in (
        (inbox, "IPM.Microsoft.FolderDesign.NamedView", "Compact"),
        (roles["calendar"], "IPM.Configuration.Calendar", "IPM.Configuration.Calendar"),
    ):
        msg, truth = g.mail(subject=subject, cls=cls, body_size=0, sender=g.owner)
        g.emit(folder, msg, truth, associated=True)


def _appointment(
    g: Generator,
    subject: str,
    start: datetime,
    end: datetime,
    *,
    all_day: bool = False,
    location: str = "",
    attendees: list[Person] | None = None,
    recur: WeeklyRecurrence | None = None,
    attachments: list | None = None,
) -> tuple[Message, dict]:
    props: dict[Any, Any] = {
        PidLidAppointmentStartWhole: filetime(start),
        PidLidAppointmentEndWhole: filetime(end),
        PidLidCommonStart: filetime(start),
        PidLidCommonEnd: filetime(end),
        PidTagStartDate: filetime(start),
        PidTagEndDate: filetime(end),
        PidLidAppointmentSubType: all_day,
        PidLidBusyStatus: olFree if all_day else olBusy,
        PidLidLocation: location or None,
        PidLidRecurring: recur is not None,
        PidLidClipStart: filetime(start),
        PidLidClipEnd: filetime(end),
    }
    extra: dict[str, Any] = {
        "start": iso(start),
        "end": iso(end),
        "all_day": all_day,
        "location": location or None,
        "recurrence": None,
        "meeting": bool(attendees),
    }
    if recur is not None:
        props[PidLidAppointmentRecur] = recur.appointment_pattern()
        occ = recur.occurrences()
        props[PidLidClipEnd] = filetime(occ[-1].replace(tzinfo=UTC) + recur.duration)
        extra["recurrence"] = {
            "pattern": "weekly",
            "interval": recur.period,
            "days_mask": recur.days_mask,
            "count": recur.count,
            "deleted": [iso(d.replace(tzinfo=UTC)) for d in recur.deleted],
            "modified": [
                {
                    "original_start": iso(m.original_start.replace(tzinfo=UTC)),
                    "start": iso(m.start.replace(tzinfo=UTC)),
                    "end": iso(m.end.replace(tzinfo=UTC)),
                    "subject": m.subject,
                    "location": m.location,
                }
                for m in recur.modified
            ],
        }
    if attendees:
        props[PidLidAppointmentStateFlags] = asfMeeting
        props[PidLidResponseStatus] = respOrganized
    msg, truth = g.mail(
        subject=subject,
        cls="IPM.Appointment",
        sender=g.owner,
        to=attendees,
        when=start - timedelta(days=3),
        attachments=attachments,
        extra_props=props,
        extra_truth=extra,
    )
    for row in msg.recipients:
        row[PidTagRecipientTrackStatus] = respAccepted if len(msg.recipients) % 2 else respNone
    if attendees:
        orow, _ = g.owner.recipient(
            MAPI_TO, {PidTagRecipientFlags: recipSendable | recipOrganizer, PidTagRecipientTrackStatus: respNone}
        )
        msg.recipients.insert(0, orow)
        truth["recipients"].insert(
            0,
            {
                "type": "to",
                "name": g.owner.name,
                "address_type": "SMTP",
                "email": g.owner.smtp,
                "smtp": g.owner.smtp,
                "resolvable": True,
            },
        )
    return msg, truth


def _calendar(g: Generator, cal: FolderHandle, people: list[Person]) -> None:
    utc = UTC
    start = datetime(2021, 2, 15, 9, 30, tzinfo=utc)
    msg, truth = _appointment(g, "Dentist", start, start + timedelta(minutes=45), location="Clinic")
    g.emit(cal, msg, truth)
    day = datetime(2021, 7, 4, tzinfo=utc)
    msg, truth = _appointment(g, "Holiday", day, day + timedelta(days=1), all_day=True)
    g.emit(cal, msg, truth)
    first = datetime(2021, 3, 1, 10, 0)  # a Monday; naive = UTC wall time in the blob
    recur = WeeklyRecurrence(first_start=first, duration=timedelta(hours=1), days_mask=DOW_MONDAY, count=10)
    occ = recur.occurrences()
    recur.deleted = [occ[3]]
    moved = ModifiedOccurrence(
        original_start=occ[5],
        start=occ[5] + timedelta(hours=4),
        end=occ[5] + timedelta(hours=5),
        subject="Weekly sync (moved)",
        location="Room 2",
    )
    recur.modified = [moved]
    # The modified occurrence also lives as a hidden embedded exception message (MS-OXOCAL 2.2.10.1).
    exc_msg, exc_truth = _appointment(
        g,
        moved.subject or "",
        moved.start.replace(tzinfo=utc),
        moved.end.replace(tzinfo=utc),
        location=moved.location or "",
    )
    exc_msg.props[PidTagMessageClass] = "IPM.OLE.CLASS.{00061055-0000-0000-C000-000000000046}"
    exc_msg.props[PidLidExceptionReplaceTime] = filetime(moved.original_start.replace(tzinfo=utc))
    exc_truth["class"] = "IPM.OLE.CLASS.{00061055-0000-0000-C000-000000000046}"
    exc_att, exc_att_truth = g.embedded_attachment(exc_msg, exc_truth, "Weekly sync (moved)")
    exc_att.props.update(
        {
            PidTagAttachmentHidden: True,
            PidTagExceptionStartTime: filetime(moved.start.replace(tzinfo=utc)),
            PidTagExceptionEndTime: filetime(moved.end.replace(tzinfo=utc)),
        }
    )
    msg, truth = _appointment(
        g,
        "Weekly sync",
        first.replace(tzinfo=utc),
        (first + timedelta(hours=1)).replace(tzinfo=utc),
        location="Room 1",
        recur=recur,
        attendees=people[:2],
        attachments=[(exc_att, exc_att_truth)],
    )
    g.emit(cal, msg, truth)
    mstart = datetime(2022, 5, 10, 14, 0, tzinfo=utc)
    msg, truth = _appointment(
        g, "Project kickoff", mstart, mstart + timedelta(hours=2), location="Big room", attendees=people[2:6]
    )
    g.emit(cal, msg, truth)


def _contacts(g: Generator, folder: FolderHandle, people: list[Person]) -> None:
    for i, p in enumerate(people[:3]):
        emails = [
            p.smtp,
            f"{p.first.lower()}.private@{DOMAINS[(i + 1) % 4]}",
            f"{p.last.lower()}@{DOMAINS[(i + 2) % 4]}",
        ]
        emails = [e.encode("ascii", "ignore").decode() for e in emails]
        props: dict[Any, Any] = {
            PidTagDisplayName: p.name,
            PidTagGivenName: p.first,
            PidTagSurname: p.last,
            PidTagCompanyName: "Contoso Ltd",
            PidTagTitle: "Engineer",
            PidTagBusinessTelephoneNumber: f"+1 555 01{i:02d}",
            PidTagHomeTelephoneNumber: f"+44 20 7946 0{i:03d}",
            PidTagMobileTelephoneNumber: f"+49 151 0000{i:04d}",
            PidTagHomeAddressStreet: f"{10 + i} Rue de la Paix",
            PidTagHomeAddressCity: "Paris",
            PidTagHomeAddressPostalCode: "75002",
            PidTagHomeAddressCountry: "France",
            PidLidWorkAddressStreet: "1 Microsoft Way",
            PidLidWorkAddressCity: "Redmond",
            PidLidWorkAddressPostalCode: "98052",
            PidLidWorkAddressCountry: "USA",
            PidLidFileUnder: f"{p.last}, {p.first}",
        }
        for n, (dn, at, em, od) in enumerate(
            (
                (
                    PidLidEmail1DisplayName,
                    PidLidEmail1AddressType,
                    PidLidEmail1EmailAddress,
                    PidLidEmail1OriginalDisplayName,
                ),
                (
                    PidLidEmail2DisplayName,
                    PidLidEmail2AddressType,
                    PidLidEmail2EmailAddress,
                    PidLidEmail2OriginalDisplayName,
                ),
                (
                    PidLidEmail3DisplayName,
                    PidLidEmail3AddressType,
                    PidLidEmail3EmailAddress,
                    PidLidEmail3OriginalDisplayName,
                ),
            )
        ):
            props.update({dn: f"{p.name} ({emails[n]})", at: "SMTP", em: emails[n], od: emails[n]})
        msg, truth = g.mail(
            subject=p.name,
            cls="IPM.Contact",
            body_size=0,
            sender=g.owner,
            extra_props=props,
            extra_truth={
                "emails": emails,
                "phones": {
                    "business": props[PidTagBusinessTelephoneNumber],
                    "home": props[PidTagHomeTelephoneNumber],
                    "mobile": props[PidTagMobileTelephoneNumber],
                },
                "company": "Contoso Ltd",
                "given_name": p.first,
                "surname": p.last,
            },
        )
        g.emit(folder, msg, truth)
    members = people[3:6]
    one_offs = [one_off_entry_id(p.name, "SMTP", p.smtp) for p in members]
    wrapped = [b"\0\0\0\0" + WRAPPED_ENTRY_ID_PROVIDER_UID + bytes([WRAPPED_TYPE_ONE_OFF]) + e for e in one_offs]
    msg, truth = g.mail(
        subject="Team list",
        cls="IPM.DistList",
        body_size=0,
        sender=g.owner,
        extra_props={
            PidLidDistributionListName: "Team list",
            PidTagDisplayName: "Team list",
            PidLidDistributionListMembers: wrapped,
            PidLidDistributionListOneOffMembers: one_offs,
        },
        extra_truth={"members": [{"name": p.name, "email": p.smtp} for p in members]},
    )
    g.emit(folder, msg, truth)


def _tasks(g: Generator, folder: FolderHandle) -> None:
    utc = UTC
    start = datetime(2023, 1, 9, tzinfo=utc)
    msg, truth = g.mail(
        subject="File the expense report",
        cls="IPM.Task",
        sender=g.owner,
        extra_props={
            PidLidTaskStartDate: filetime(start),
            PidLidTaskDueDate: filetime(start + timedelta(days=4)),
            PidLidTaskStatus: tsvInProgress,
            PidLidPercentComplete: 0.5,
            PidLidTaskFRecurring: False,
        },
        extra_truth={"status": tsvInProgress, "due": iso(start + timedelta(days=4)), "recurring": False},
    )
    g.emit(folder, msg, truth)
    recur = WeeklyRecurrence(first_start=datetime(2023, 1, 13), duration=timedelta(0), days_mask=DOW_FRIDAY, count=8)
    fri = datetime(2023, 1, 13, tzinfo=utc)
    msg, truth = g.mail(
        subject="Weekly status report",
        cls="IPM.Task",
        sender=g.owner,
        extra_props={
            PidLidTaskStartDate: filetime(fri),
            PidLidTaskDueDate: filetime(fri),
            PidLidTaskStatus: tsvNotStarted,
            PidLidPercentComplete: 0.0,
            PidLidTaskFRecurring: True,
            PidLidTaskRecurrence: recur.pattern(),
        },
        extra_truth={
            "status": tsvNotStarted,
            "due": iso(fri),
            "recurring": True,
            "recurrence": {"pattern": "weekly", "days_mask": DOW_FRIDAY, "count": 8},
        },
    )
    g.emit(folder, msg, truth)


def _notes_and_journal(g: Generator, notes: FolderHandle, journal: FolderHandle, people: list[Person]) -> None:
    for i in range(2):
        text = f"Sticky {i}: {g.sentence()}"
        msg, truth = g.mail(
            subject=text.split(":")[0],
            cls="IPM.StickyNote",
            body_size=0,
            sender=g.owner,
            extra_props={
                PidTagBody: text,
                PidLidNoteColor: NOTE_COLOR_YELLOW,
                PidLidNoteWidth: 200,
                PidLidNoteHeight: 166,
            },
            extra_truth={"color": NOTE_COLOR_YELLOW},
        )
        truth["body"] = text
        g.emit(notes, msg, truth)
    for i in range(2):
        start = g.date()
        end = start + timedelta(minutes=15 + i)
        msg, truth = g.mail(
            subject=f"Call with {people[i].name}",
            cls="IPM.Activity",
            sender=g.owner,
            extra_props={
                PidLidLogType: "Phone call",
                PidLidLogStart: filetime(start),
                PidLidLogEnd: filetime(end),
                PidLidLogDuration: 15 + i,
            },
            extra_truth={"log_type": "Phone call", "start": iso(start), "end": iso(end)},
        )
        g.emit(journal, msg, truth)


# -- calendar mode ----------------------------------------------------------------------
def _series_item(
    g: Generator,
    cal: FolderHandle,
    subject: str,
    series: Series,
    *,
    location: str = "",
    attendees: list[Person] | None = None,
) -> None:
    """A recurring appointment (or meeting) in its zone, with its exceptions as Outlook writes them:
    in the recurrence blob, and each modified occurrence also as a hidden embedded message."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(series.zone.iana)

    def utc(local: datetime) -> datetime:
        return local.replace(tzinfo=zone).astimezone(UTC)

    atts = []
    for c in series.changes:
        files = []
        if c.attachment:
            files.append(g.file_attachment(c.attachment, 0, "text/plain", data=f"{c.attachment}\r\n".encode()))
        exc_msg, exc_truth = _appointment(
            g,
            c.subject or subject,
            utc(c.start),
            utc(c.end),
            location=c.location or location,
            attachments=files,
        )
        exc_msg.props[PidTagMessageClass] = "IPM.OLE.CLASS.{00061055-0000-0000-C000-000000000046}"
        exc_msg.props[PidLidExceptionReplaceTime] = filetime(utc(c.original_start))
        exc_truth["class"] = "IPM.OLE.CLASS.{00061055-0000-0000-C000-000000000046}"
        att, att_truth = g.embedded_attachment(exc_msg, exc_truth, c.subject or subject)
        att.props.update(
            {
                PidTagAttachmentHidden: True,
                PidTagExceptionStartTime: filetime(utc(c.start)),
                PidTagExceptionEndTime: filetime(utc(c.end)),
            }
        )
        atts.append((att, att_truth))
    start = utc(series.start)
    msg, truth = _appointment(
        g,
        subject,
        start,
        utc(series.start + series.duration),
        all_day=series.all_day,
        location=location,
        attendees=attendees,
        attachments=atts,
    )
    occ = series.occurrences()
    rec = series.recurrence()
    definition = series.zone.definition()
    msg.props.update(
        {
            PidLidRecurring: True,
            PidLidAppointmentRecur: series.appointment_blob(),
            PidLidTimeZoneStruct: series.zone.tz_struct(),
            PidLidTimeZoneDescription: series.zone.description,
            PidLidAppointmentTimeZoneDefinitionRecur: definition,
            PidLidAppointmentTimeZoneDefinitionStartDisplay: definition,
            PidLidAppointmentTimeZoneDefinitionEndDisplay: definition,
            PidLidClipEnd: filetime(utc(occ[-1] + series.duration)) if series.end != "none" else filetime(start),
        }
    )
    local = "%Y-%m-%dT%H:%M:%S"
    truth["extra"]["recurrence"] = {
        "pattern": series.pattern,
        "interval": series.interval,
        "days": list(rec.days_of_week),
        "day_of_month": series.day_of_month,
        "nth": series.nth,
        "month": rec.month,
        "end": series.end,
        "count": series.count,
        "end_date": series.end_date.date().isoformat() if series.end_date else None,
        "zone": series.zone.key,
        "iana": series.zone.iana,
        "start_local": series.start.strftime(local),
        "duration_minutes": int(series.duration.total_seconds() // 60),
        "all_day": series.all_day,
        "deleted": [d.strftime(local) for d in series.deleted],
        "modified": [
            {
                "original_start": c.original_start.strftime(local),
                "start": c.start.strftime(local),
                "end": c.end.strftime(local),
                "subject": c.subject,
                "location": c.location,
                "attachments": [c.attachment] if c.attachment else [],
            }
            for c in series.changes
        ],
    }
    g.emit(cal, msg, truth)


def _calendar_cases(g: Generator, roles: dict[str, FolderHandle]) -> None:
    """Every recurrence pattern and end Outlook writes, in zones with DST, all-day events and a
    meeting with exceptions; each case's pattern is in its truth ("extra"."recurrence")."""
    cal = roles["calendar"]
    people = [Person(g.rng) for _ in range(4)]
    h = timedelta(hours=1)
    day = timedelta(days=1)
    cases: list[tuple[str, Series, str]] = [
        ("Daily every 2 days", Series("daily", datetime(2021, 3, 22, 9, 0), h, WEST_EUROPE, 2, count=5), "Desk"),
        (
            "Every weekday",
            Series(
                "weekday", datetime(2021, 11, 1, 8, 30), h / 2, PACIFIC, end="date", end_date=datetime(2021, 11, 12)
            ),
            "",
        ),
        (
            "Mon Wed Fri across DST",
            Series(
                "weekly", datetime(2021, 3, 22, 10, 0), h, WEST_EUROPE, days=["monday", "wednesday", "friday"], count=9
            ),
            "Room 3",
        ),
        (
            "Fortnightly review",
            Series("weekly", datetime(2022, 1, 4, 14, 0), 2 * h, PACIFIC, 2, days=["tuesday"], end="none"),
            "",
        ),
        (
            "Month end on the 31st",
            Series("monthly", datetime(2021, 1, 31, 16, 0), h, WEST_EUROPE, day_of_month=31, count=6),
            "",
        ),
        (
            "Second Tuesday",
            Series(
                "monthly_nth",
                datetime(2021, 1, 12, 11, 0),
                h,
                WEST_EUROPE,
                days=["tuesday"],
                nth="second",
                end="date",
                end_date=datetime(2021, 12, 31),
            ),
            "",
        ),
        (
            "Last weekday of the month",
            Series(
                "monthly_nth",
                datetime(2021, 1, 29, 15, 0),
                h,
                PACIFIC,
                days=["monday", "tuesday", "wednesday", "thursday", "friday"],
                nth="last",
                count=4,
            ),
            "",
        ),
        (
            "Quarterly, no end",
            Series("monthly", datetime(2022, 1, 1, 9, 0), h, UTC_ZONE, 3, day_of_month=1, end="none"),
            "",
        ),
        (
            "Yearly on 15 March",
            Series("yearly", datetime(2021, 3, 15, 12, 0), h, WEST_EUROPE, day_of_month=15, count=3),
            "",
        ),
        (
            "Fourth Thursday of November",
            Series(
                "yearly_nth",
                datetime(2021, 11, 25, 10, 0),
                3 * h,
                PACIFIC,
                days=["thursday"],
                nth="fourth",
                end="date",
                end_date=datetime(2024, 12, 31),
            ),
            "",
        ),
        (
            "All-day Fridays",
            Series("weekly", datetime(2021, 10, 22), day, WEST_EUROPE, days=["friday"], count=4, all_day=True),
            "",
        ),
    ]
    for subject, series, location in cases:
        if subject == "Mon Wed Fri across DST":
            series.deleted = [series.occurrences()[4]]
        _series_item(g, cal, subject, series, location=location)
    # A meeting whose exceptions change time and location, one occurrence deleted.
    meeting = Series("weekly", datetime(2021, 3, 4, 15, 0), h, WEST_EUROPE, days=["thursday"], count=8)
    occ = meeting.occurrences()
    meeting.changes = [
        Change(occ[2], occ[2] + 2 * h, occ[2] + 3 * h, "Team meeting (moved)", "Room B", "agenda (moved).txt"),
        Change(occ[4], occ[4], occ[4] + h, None, "Online"),
    ]
    meeting.deleted = [occ[6]]
    _series_item(g, cal, "Team meeting", meeting, location="Room A", attendees=people[:3])
    # A single all-day event over three days, in a zone east of UTC (its days start the evening before in UTC).
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo(WEST_EUROPE.iana)
    first = datetime(2021, 6, 7, tzinfo=berlin).astimezone(UTC)
    msg, truth = _appointment(g, "Conference (3 days)", first, first + 3 * day, all_day=True)
    definition = WEST_EUROPE.definition()
    msg.props.update(
        {
            PidLidTimeZoneStruct: WEST_EUROPE.tz_struct(),
            PidLidTimeZoneDescription: WEST_EUROPE.description,
            PidLidAppointmentTimeZoneDefinitionStartDisplay: definition,
            PidLidAppointmentTimeZoneDefinitionEndDisplay: definition,
        }
    )
    truth["extra"]["zone"] = WEST_EUROPE.key
    truth["extra"]["days"] = ["2021-06-07", "2021-06-08", "2021-06-09"]
    g.emit(cal, msg, truth)


# -- scale mode ----------------------------------------------------------------------
SCALE_FOLDER_ITEMS = 50_000  # items per scale folder before the next one starts
SCALE_SIZE_MIXES = {
    # (share, min, max) attachment bytes; a share with max 0 has no attachment
    "default": (
        (0.70, 0, 0),
        (0.22, 8 * 1024, 96 * 1024),
        (0.07, 200 * 1024, 1024 * 1024),
        (0.01, 2 * 1024 * 1024, 6 * 1024 * 1024),
    ),
    "small": ((1.0, 0, 0),),  # text only: many items in little space (100,000-item folders)
}


def _scale(
    g: Generator,
    roles: dict[str, FolderHandle],
    items: int | None,
    size_mb: int | None,
    progress: Callable[[int, int], None] | None,
    folder_items: int = SCALE_FOLDER_ITEMS,
    mix: str = "default",
    large: tuple[int, ...] = (),
) -> None:
    rng = g.rng
    people = [Person(rng) for _ in range(20)]
    # Messages carrying one of the `large` attachments: spread evenly over the first `items` messages.
    spread = max(items or len(large), len(large))
    large_at = {(i * spread) // len(large) + spread // (2 * len(large)): size for i, size in enumerate(large)}
    target_bytes = size_mb * 1024 * 1024 if size_mb else None
    folder = g.folder(roles["inbox"], "Scale 0001", "IPF.Note")
    in_folder = 0
    n = 0
    while True:
        if items is not None and n >= items:
            break
        if target_bytes is not None and g.w.ndb.position >= target_bytes:
            break
        if items is None and target_bytes is None:
            break
        if in_folder >= folder_items:
            g.w.finish_contents(folder)  # its table goes to disk now: memory stays flat
            folder = g.folder(roles["inbox"], f"Scale {len(g.folders) - len(WELL_KNOWN) + 1:04d}", "IPF.Note")
            in_folder = 0
        r = rng.random()
        acc = 0.0
        att_size = 0
        for share, lo, hi in SCALE_SIZE_MIXES[mix]:
            acc += share
            if r < acc:
                att_size = rng.randint(lo, hi) if hi else 0
                break
        if n in large_at:
            att_size = large_at[n]
        atts = [g.file_attachment(f"file-{n}.bin", att_size)] if att_size else []
        msg, truth = g.mail(
            subject=f"Scale message {n}",
            body_size=rng.choice([200, 1500, 6000]),
            sender=people[n % 20],
            to=[people[(n + 1) % 20]],
            read=n % 4 != 0,
            attachments=atts,
        )
        g.emit(folder, msg, truth)
        in_folder += 1
        n += 1
        if progress is not None:
            progress(n, g.w.ndb.position)


# -- entry point -----------------------------------------------------------------------
def generate(
    path: str,
    seed: int = 0,
    mode: str = "realistic",
    items: int | None = None,
    size_mb: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    crypt_method: int = 0,
    folder_items: int = SCALE_FOLDER_ITEMS,
    mix: str = "default",
    large: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Write a sample PST and its ground truth (`path` + ".truth.json"); returns a summary.

    Args:
        path: the PST to write (overwritten).
        seed: the RNG seed; the same seed gives byte-identical files.
        mode: "realistic" (every kind of content), "scale" (many ordinary messages) or "calendar"
            (every recurrence pattern and end, in zones with DST, all-day events, a meeting with exceptions).
        items: in scale mode, how many messages to write.
        size_mb: in scale mode, write messages until the file reaches this size.
        progress: called as progress(items_written, bytes_written) in scale mode.
        crypt_method: 0 (none, default) or 1 (compressible encryption).
        folder_items: in scale mode, messages per folder before the next folder starts.
        mix: in scale mode, the attachment size mix: "default" or "small" (text only).
        large: in scale mode, sizes in bytes of attachments some messages carry besides the mix,
            spread evenly over the messages (the Graph soak's 10-40 MB attachments).
    """
    if mix not in SCALE_SIZE_MIXES:
        raise ValueError(f"unknown size mix {mix!r}: use one of {', '.join(SCALE_SIZE_MIXES)}")
    if mode not in ("realistic", "scale", "calendar"):
        raise ValueError(f"unknown mode {mode!r}: use realistic, scale or calendar")
    if mode == "scale" and items is None and size_mb is None:
        items = 1000
    rng = random.Random(seed)
    truth_path = path + ".truth.json"
    started = time.monotonic()
    with open(truth_path, "w", encoding="utf-8") as out:
        writer = PstWriter(
            path, display_name=f"Sandbox {mode} {seed}", store_uid=rng.randbytes(16), crypt_method=crypt_method
        )
        g = Generator(writer, rng, out)
        out.write(
            json.dumps(
                {
                    "version": TRUTH_VERSION,
                    "seed": seed,
                    "mode": mode,
                    "store": {
                        "display_name": writer.display_name,
                        "encryption": "compressible" if crypt_method else "none",
                    },
                }
            )[:-1]
        )
        out.write(', "items": [\n')
        roles = {role: g.folder(writer.ipm_subtree, name, cls, role) for role, name, cls in WELL_KNOWN}
        ids = special_folder_ids(writer, roles)
        writer.root.extra.update(ids)
        roles["inbox"].extra.update(ids)
        writer.store_extra.update(store_role_ids(writer, roles))
        if mode == "realistic":
            _realistic(g, roles)
        elif mode == "calendar":
            _calendar_cases(g, roles)
        else:
            _scale(g, roles, items, size_mb, progress, folder_items, mix, tuple(large))
        summary = writer.close()
        out.write('\n],\n"folders": ')
        out.write(json.dumps(g.folder_truth(), ensure_ascii=False, sort_keys=True))
        out.write("}\n")
    summary["seconds"] = round(time.monotonic() - started, 3)
    summary["items"] = sum(f["items"] for f in g.folder_truth())
    return summary


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most 5 times a second."""

    def __init__(self, total: int, unit: str, stream: TextIO = sys.stderr) -> None:
        self.total = max(1, total)
        self.unit = unit
        self.stream = stream
        self._last = 0.0
        self._state: tuple[int, int] | None = None

    def __call__(self, items: int, written: int, force: bool = False) -> None:
        self._state = (items, written)
        now = time.monotonic()
        if now - self._last < 0.2 and not force:
            return
        self._last = now
        done = items if self.unit == "items" else written // (1024 * 1024)
        frac = min(1.0, done / self.total)
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r[{bar:<30}] {frac:6.1%}  {items} items, {written / 1048576:,.0f} MB")
        self.stream.flush()

    def finish(self) -> None:
        """Draw the final state and end the line."""
        if self._state is not None:
            self(*self._state, force=True)
        self.stream.write("\n")
        self.stream.flush()
