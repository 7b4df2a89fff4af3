"""Read every item of a mailbox back with plain exchangelib, as JSON lines (one item a line).

Run in its own process (`python -m tests.fidelity.read_ews URL USER PASSWORD AUTH`) so that nothing the
importer registered on exchangelib's classes is in play: only exchangelib and the few extended
properties a client reading Outlook items would ask for (below). Every item is fetched with all its
fields (GetItem), every file attachment's content and every embedded message (GetAttachment) is read.
An exception anywhere is written as {"error": ...} and counted by the test.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import sys
import traceback
from typing import Any

from exchangelib import (
    BASIC,
    DELEGATE,
    NTLM,
    Account,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    DistributionList,
    ExtendedProperty,
    FileAttachment,
    HTMLBody,
    ItemAttachment,
    Message,
    Task,
)
from exchangelib.items import Item, MeetingCancellation, MeetingRequest, MeetingResponse, PostItem


class SourceStamp(ExtendedProperty):
    property_set_id = "4a3b1f4e-6c2d-4e8a-9f17-2d5c8b0e7a61"  # DESIGN.md source stamp
    property_name = "PstImportSourceKey"
    property_type = "String"


class MessageFlags(ExtendedProperty):  # PidTagMessageFlags
    property_tag = 0x0E07
    property_type = "Integer"


class FlagStatus(ExtendedProperty):  # PidTagFlagStatus (follow-up flag)
    property_tag = 0x1090
    property_type = "Integer"


class NoteColor(ExtendedProperty):  # PidLidNoteColor (PSETID_Note)
    property_set_id = "0006200E-0000-0000-C000-000000000046"
    property_id = 0x8B00
    property_type = "Integer"


class LogType(ExtendedProperty):  # PidLidLogType (PSETID_Log)
    property_set_id = "0006200A-0000-0000-C000-000000000046"
    property_id = 0x8700
    property_type = "String"


PROPS = {"x_stamp": SourceStamp, "x_flags": MessageFlags, "x_flag_status": FlagStatus, "x_note_color": NoteColor,
         "x_log_type": LogType}  # fmt: skip
CLASSES = (Item, Message, PostItem, MeetingRequest, MeetingResponse, MeetingCancellation, CalendarItem, Contact,
           Task, DistributionList)  # fmt: skip


def html_text(content: str) -> str:
    content = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", "", content)
    content = re.sub(r"(?i)<(br|/p|/div|/tr|/li)\b[^>]*>", "\n", content)
    return html.unescape(re.sub(r"(?s)<[^>]*>", "", content))


def _mailbox(m: Any) -> dict | None:
    if m is None:
        return None
    return {"address": getattr(m, "email_address", None), "name": getattr(m, "name", None)}


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _attachments(item: Any, prefix: str, out: list, depth: int = 0) -> None:
    for att in item.attachments or []:
        if isinstance(att, FileAttachment):
            out.append({"path": prefix + (att.name or ""), "sha256": hashlib.sha256(att.content or b"").hexdigest(),
                        "inline": bool(att.is_inline)})  # fmt: skip
        elif isinstance(att, ItemAttachment) and depth < 16:
            inner = att.item
            if inner is not None:
                _attachments(inner, f"{prefix}{att.name or ''}/", out, depth + 1)


def record(item: Any, path: list[str]) -> dict:
    recipients = []
    for kind, attr in (("to", "to_recipients"), ("cc", "cc_recipients"), ("bcc", "bcc_recipients")):
        for m in getattr(item, attr, None) or []:
            recipients.append({"kind": kind, **(_mailbox(m) or {})})
    atts: list = []
    _attachments(item, "", atts)
    body = getattr(item, "text_body", None)
    body_source = "TextBody" if body is not None else None
    if body is None and getattr(item, "body", None) is not None:
        body_source = "Body"
        body = str(item.body)
        if isinstance(item.body, HTMLBody):  # no TextBody from the server: the HTML as a reader sees its text
            body = html_text(body)
    return {
        "stamp": getattr(item, "x_stamp", None),
        "folder": path,
        "element": type(item).__name__,
        "class": item.item_class,
        "subject": item.subject,
        "sender": _mailbox(getattr(item, "author", None) or getattr(item, "sender", None)),
        "recipients": recipients,
        "display_to": item.display_to,
        "display_cc": item.display_cc,
        "sent": _time(item.datetime_sent),
        "received": _time(item.datetime_received),
        "created": _time(item.datetime_created),
        "is_read": getattr(item, "is_read", None),
        "is_draft": item.is_draft,
        "flags": getattr(item, "x_flags", None),
        "importance": item.importance,
        "sensitivity": item.sensitivity,
        "categories": list(item.categories or []),
        "flag_status": getattr(item, "x_flag_status", None),
        "note_color": getattr(item, "x_note_color", None),
        "log_type": getattr(item, "x_log_type", None),
        "body": body,
        "body_source": body_source,
        "attachments": atts,
    }


def main(url: str, user: str, password: str, auth: str) -> int:
    for cls in CLASSES:
        for name, prop in PROPS.items():
            cls.register(name, prop)
    auth_type = {"basic": BASIC, "ntlm": NTLM}.get(auth)
    config = Configuration(service_endpoint=url, credentials=Credentials(user, password), auth_type=auth_type)
    account = Account(user, config=config, autodiscover=False, access_type=DELEGATE)
    root = account.msg_folder_root
    out = sys.stdout
    for folder in root.walk():
        if not folder.total_count:
            continue
        path = []
        f = folder
        while f is not None and f.id != root.id:
            path.insert(0, f.name)
            f = f.parent
        try:
            ids = list(folder.all().values_list("id", "changekey"))
        except Exception as e:  # noqa: BLE001 - reported, and the test fails on it
            out.write(json.dumps({"error": f"{'/'.join(path)}: FindItem: {type(e).__name__}: {e}"}) + "\n")
            continue
        for item in account.fetch(ids):
            try:
                if isinstance(item, Exception):
                    raise item
                out.write(json.dumps(record(item, path)) + "\n")
            except Exception as e:  # noqa: BLE001
                detail = traceback.format_exception_only(type(e), e)[-1].strip()
                out.write(json.dumps({"error": f"{'/'.join(path)}: {getattr(item, 'subject', '?')}: {detail}"}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
