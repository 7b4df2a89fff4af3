"""`convert(item, ctx)`: the one entry point from a PST item to a payload."""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.convert.addresses import AddressResolver, RewriteOptions
from core.convert.extended import (
    categories,
    importance_and_sensitivity,
    mail_extended,
    message_flags,
    sent_time,
    source_key,
)
from core.convert.mime import build_mime
from core.convert.payload import ConversionError, MimePayload, Payload
from core.convert.typed import (
    to_appointment,
    to_contact,
    to_distribution_list,
    to_journal,
    to_note,
    to_task,
)
from core.mapi import PidTagCreationTime, PidTagLastModificationTime, PidTagMessageDeliveryTime


@dataclass(slots=True)
class ConvertContext:
    """What conversion needs beyond the item itself.

    `store_key` is the PST store's record key in hex (the first half of every source stamp).
    `resolver` rewrites EX addresses; None reads only each item's own SMTP properties.
    """

    store_key: str
    resolver: AddressResolver | None = None

    @classmethod
    def for_pst(
        cls,
        pst: Any,
        options: RewriteOptions | None = None,
        resolve_name: Any = None,
        learn: bool = True,
        lazy: bool = True,
    ) -> ConvertContext:
        """A context for an open PST (`core.pst.open_pst`).

        With `learn`, the address resolver makes one streaming pass over the PST (recipient
        collection and contacts): by default (`lazy`) only when the first EX address turns up that
        its own item cannot resolve, which in most PSTs is never; the pass then runs on the calling
        (reader) thread in the middle of the run. `lazy=False` makes the pass now."""
        record_key = pst.info.record_key or b""
        if learn:
            resolver = AddressResolver.build(pst, options, resolve_name, lazy=lazy)
        else:
            resolver = AddressResolver(options, resolve_name)
        return cls(store_key=record_key.hex(), resolver=resolver)


def payload_kind(message_class: str) -> str:
    """'appointment', 'contact', 'task', 'note', 'journal', 'distribution_list' or 'mime'."""
    mc = message_class.upper()
    if mc == "IPM.APPOINTMENT" or mc.startswith("IPM.APPOINTMENT."):
        return "appointment"
    if (
        mc == "IPM.CONTACT"
        or mc.startswith("IPM.CONTACT.")
        or mc == "IPM.ABCHPERSON"
        or mc.startswith("IPM.ABCHPERSON.")
    ):
        return "contact"
    if mc == "IPM.TASK" or mc.startswith("IPM.TASK."):
        return "task"
    if mc == "IPM.STICKYNOTE" or mc.startswith("IPM.STICKYNOTE."):
        return "note"
    if mc == "IPM.ACTIVITY" or mc.startswith("IPM.ACTIVITY."):
        return "journal"
    if mc == "IPM.DISTLIST" or mc.startswith("IPM.DISTLIST."):
        return "distribution_list"
    return "mime"


_TYPED = {
    "appointment": to_appointment,
    "contact": to_contact,
    "task": to_task,
    "note": to_note,
    "journal": to_journal,
    "distribution_list": to_distribution_list,
}


def convert(item: Any, ctx: ConvertContext) -> Payload:
    """Convert one `core.pst.model.Item` to a payload.

    Raises:
        ConversionError: the item cannot be converted at all (the run goes on; the engine
            records it against the item). Partial losses are in `payload.problems` instead.
    """
    try:
        return _convert(item, ctx)
    except ConversionError:
        raise
    except Exception as e:  # any unexpected failure is this item's, not the run's
        raise ConversionError(item.where, f"{type(e).__name__}: {e}") from e


def convert_mime(item: Any, ctx: ConvertContext) -> MimePayload:
    """Convert any item as mail (MIME), whatever its class; used for embedded messages too."""
    stamp = source_key(ctx.store_key, item)
    result = build_mime(item, ctx.resolver)
    _, is_read, is_draft = message_flags(item)
    importance, sensitivity = importance_and_sensitivity(item)
    p = item.props
    return MimePayload(
        importance=importance,  # type: ignore[arg-type]
        sensitivity=sensitivity,  # type: ignore[arg-type]
        source_key=stamp,
        message_class=item.message_class,
        subject=item.subject,
        mime=result.mime,
        extended=mail_extended(item, stamp),
        problems=list(item.problems) + result.problems,
        size=len(result.mime),
        is_read=is_read,
        is_draft=is_draft,
        sent=_date_header(result.mime) or sent_time(item),
        received=p.time(PidTagMessageDeliveryTime),
        created=p.time(PidTagCreationTime),
        modified=p.time(PidTagLastModificationTime),
        categories=categories(item),
    )


_DATE = re.compile(rb"^Date:[ \t]*([^\r\n]*)", re.MULTILINE | re.IGNORECASE)


def _date_header(mime: bytes) -> datetime | None:
    """The Date the MIME says (the item's own transport headers may give it rather than its properties)."""
    head = mime.split(b"\r\n\r\n", 1)[0]
    m = _DATE.search(head)
    if not m:
        return None
    try:
        when = email.utils.parsedate_to_datetime(m.group(1).decode("ascii", "replace"))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else None


def _convert(item: Any, ctx: ConvertContext) -> Payload:
    kind = payload_kind(item.message_class)
    if kind == "mime":
        return convert_mime(item, ctx)
    stamp = source_key(ctx.store_key, item)
    return _TYPED[kind](item, stamp, ctx.resolver, lambda inner: convert_mime(inner, ctx))
