"""The EWS side of the sandbox's recurring series (core/sandbox/server/calendar.py): CalendarView,
occurrence ids in GetItem/UpdateItem/DeleteItem, Exchange's computed calendar fields. A mixin placed
first in `EwsService`'s bases: it takes what concerns series and hands the rest to the item reads
(ewsread.ItemReads) and deletions (ewsdelete.ItemDeletes) it sits in front of."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lxml import etree

from core.sandbox.server import attachments as atts
from core.sandbox.server import calendar
from core.sandbox.server import ewsbase as w
from core.sandbox.server.ewsread import parse_shape
from core.sandbox.server.store import Item

if TYPE_CHECKING:
    from core.sandbox.server.ewsbase import Request


class CalendarOps:
    """Mixed into EwsService: what Exchange does with series and their occurrences."""

    store: Any

    # --- ids -----------------------------------------------------------------------------------
    def resolve_item(self, el: etree._Element, req: Request) -> tuple[Item, calendar.Occurrence | None]:
        """An ItemId, OccurrenceItemId or RecurringMasterItemId: (item, occurrence or None).

        Raises:
            OpError: no such item (or occurrence), or not this mailbox's.
        """
        name = w._local(el)
        occ_index: int | None = None
        if name == "OccurrenceItemId":
            number = w.decode_id(el.get("RecurringMasterId", ""), "I")
            try:
                occ_index = int(el.get("InstanceIndex", ""))
            except ValueError:
                raise w.OpError("ErrorInvalidIdMalformed", "Id is malformed.") from None
        elif name == "RecurringMasterItemId":
            parsed = calendar.parse_occurrence_id(el.get("OccurrenceId", ""))
            number = parsed[0] if parsed else w.decode_id(el.get("OccurrenceId", ""), "I")
        elif name == "ItemId":
            parsed = calendar.parse_occurrence_id(el.get("Id", ""))
            if parsed is not None:
                number, occ_index = parsed
            else:
                number = w.decode_id(el.get("Id", ""), "I")
        else:
            raise w.OpError("ErrorInvalidIdMalformed", "Id is malformed.")
        item = self.store.item(number)
        if item is None:
            raise w.OpError("ErrorItemNotFound", "The specified object was not found in the store.")
        folder = self.store.folder(item.folder_id)
        assert folder is not None
        self._check_access(folder.mailbox, req)  # type: ignore[attr-defined]
        if occ_index is None:
            return item, None
        try:
            return item, calendar.occurrence(item, occ_index)
        except calendar.CalendarError as err:
            raise w.OpError(err.code, err.message) from None

    def mailbox_of(self, item: Item) -> str:
        folder = self.store.folder(item.folder_id)
        return folder.mailbox if folder is not None else ""

    def _item_xml(self, parent: etree._Element, src: Any, shape: Any) -> None:
        """Every rendered calendar item shows Exchange's computed fields (CalendarItemType, Organizer...)."""
        if src.item.kind == "CalendarItem" and not calendar.is_viewed(src.item):
            src = replace(src, item=calendar.as_viewed(src.item, self.mailbox_of(src.item)))
        super()._item_xml(parent, src, shape)  # type: ignore[misc]

    def find_item(self, req: Request) -> etree._Element:
        """FindItem with a CalendarView expands series; any other FindItem is ItemReads'."""
        if req.op.find(w.M + "CalendarView") is not None:
            return self.calendar_view(req)
        return super().find_item(req)  # type: ignore[misc]

    def get_item(self, req: Request) -> etree._Element:
        """GetItem of occurrences (OccurrenceItemId, RecurringMasterItemId, an occurrence's ItemId);
        plain ItemIds only go to ItemReads."""
        ids = w._kids(req.op.find(w.M + "ItemIds"))
        if not any(self._names_occurrence(el) for el in ids):
            return super().get_item(req)  # type: ignore[misc]
        shape = parse_shape(req.op.find(w.M + "ItemShape"))
        resp, messages = self._response("GetItem")  # type: ignore[attr-defined]
        for el in ids:
            try:
                item, occ = self.resolve_item(el, req)
            except w.OpError as err:
                w._sub(self._message(messages, "GetItem", err), w.M + "Items")  # type: ignore[attr-defined]
                continue
            msg = self._message(messages, "GetItem")  # type: ignore[attr-defined]
            self.render_item(w._sub(msg, w.M + "Items"), item, occ, shape)
        return resp

    @staticmethod
    def _names_occurrence(el: etree._Element) -> bool:
        name = etree.QName(el).localname
        return name != "ItemId" or calendar.parse_occurrence_id(el.get("Id", "")) is not None

    def render_item(self, parent: etree._Element, item: Item, occ: calendar.Occurrence | None, shape: Any) -> None:
        """A store item as ItemReads renders it; an occurrence with its own times, changes,
        attachments and ItemId."""
        if occ is None:
            self._item_xml(parent, self._source(item), shape)  # type: ignore[attr-defined]
            return
        shown = calendar.as_viewed(item, self.mailbox_of(item), occ)
        records = calendar.occurrence_attachments(occ)

        def listed() -> list[atts.Attachment]:
            return [atts._from_record(self.store, r, (n,)) for n, r in enumerate(records)]

        src = replace(self._source(item), item=shown, attachments=listed)  # type: ignore[attr-defined]
        self._item_xml(parent, src, shape)
        calendar.set_occurrence_id(parent[-1], w.T_NS, item.id, occ.index)

    # --- FindItem with a CalendarView --------------------------------------------------------------
    def calendar_view(self, req: Request) -> etree._Element:
        shape = parse_shape(req.op.find(w.M + "ItemShape"), find=True)
        view = req.op.find(w.M + "CalendarView")
        resp, messages = self._response("FindItem")  # type: ignore[attr-defined]
        for fid in w._kids(req.op.find(w.M + "ParentFolderIds")):
            try:
                try:
                    start = calendar.parse_time(view.get("StartDate", ""))
                    end = calendar.parse_time(view.get("EndDate", ""))
                except ValueError:
                    raise w.OpError("ErrorInvalidRequest", "The CalendarView dates are not valid.") from None
                if end < start:
                    raise w.OpError("ErrorInvalidRequest", "The CalendarView end is before its start.")
                folder = self.resolve_folder(fid, req)  # type: ignore[attr-defined]
                if not (folder.folder_class or "").startswith("IPF.Appointment"):
                    raise w.OpError("ErrorCalendarFolderIsInvalidForCalendarView", "The folder is not a calendar.")
                found = calendar.in_view(self.store, folder.id, start, end)
            except w.OpError as err:
                self._message(messages, "FindItem", err)  # type: ignore[attr-defined]
                continue
            limit = view.get("MaxEntriesReturned")
            page = found[: int(limit)] if limit else found
            msg = self._message(messages, "FindItem")  # type: ignore[attr-defined]
            root = w._sub(
                msg,
                w.M + "RootFolder",
                TotalItemsInView=str(len(found)),
                IncludesLastItemInRange=w._xml_bool(len(page) == len(found)),
            )
            items = w._sub(root, w.T + "Items")
            for item, occ in page:
                self.render_item(items, item, occ, shape)
        return resp

    # --- UpdateItem ------------------------------------------------------------------------------
    def update_item(self, req: Request) -> etree._Element:
        """UpdateItem: SetItemField/DeleteItemField on items and occurrences (an occurrence becomes an
        exception). Calendar items need SendMeetingInvitationsOrCancellations, as in Exchange."""
        resp, messages = self._response("UpdateItem")  # type: ignore[attr-defined]
        send = req.op.get("SendMeetingInvitationsOrCancellations")
        for change in w._kids(req.op.find(w.M + "ItemChanges")):
            try:
                id_el = next((c for c in w._kids(change) if w._local(c).endswith("Id")), None)
                if id_el is None:
                    raise w.OpError("ErrorInvalidIdEmpty", "The item id is empty.")
                item, occ = self.resolve_item(id_el, req)
                if item.kind == "CalendarItem" and send is None:
                    raise w.OpError(
                        "ErrorSendMeetingInvitationsOrCancellationsRequired",
                        "SendMeetingInvitationsOrCancellations is required for calendar items.",
                    )
                sets, removes = [], []
                for upd in w._kids(change.find(w.T + "Updates")):
                    kind = w._local(upd)
                    uri = next((c for c in w._kids(upd) if w._local(c).endswith("FieldURI")), None)
                    name = (uri.get("FieldURI", "") if uri is not None else "").split(":")[-1]
                    if kind == "DeleteItemField":
                        removes.append(name)
                        continue
                    holder = next((c for c in w._kids(upd) if not w._local(c).endswith("FieldURI")), None)
                    if holder is None:
                        raise w.OpError("ErrorIncorrectUpdatePropertyCount", "An update needs one item element.")
                    values = [c for c in w._kids(holder)]
                    if len(values) != 1:
                        raise w.OpError("ErrorIncorrectUpdatePropertyCount", "An update sets one property.")
                    if w._local(values[0]) == "ExtendedProperty":
                        continue  # extended properties of occurrences are not kept by the sandbox
                    sets.append(w.element_to_json(values[0]))
                if occ is not None:
                    item = calendar.modify(self.store, item, occ.index, sets)
                    occ = calendar.occurrence(item, occ.index)
                else:
                    names = {n[0] for n in sets} | set(removes)
                    fields = [n for n in item.fields if n[0] not in names] + sets
                    subject = next((n[2] for n in sets if n[0] == "Subject"), item.subject)
                    item = self.store.update_item(item.id, fields=fields, subject=subject)
                if send not in (None, "SendToNone"):
                    self.store.record_sent(req.mailbox, item.subject)  # never by an importer
            except calendar.CalendarError as err:
                self._update_error(messages, w.OpError(err.code, err.message))
                continue
            except w.OpError as err:
                self._update_error(messages, err)
                continue
            msg = self._message(messages, "UpdateItem")  # type: ignore[attr-defined]
            out = w._sub(w._sub(msg, w.M + "Items"), w.T + item.kind)
            if occ is not None:
                w._sub(
                    out,
                    w.T + "ItemId",
                    Id=calendar.occurrence_id(item.id, occ.index),
                    ChangeKey=calendar._ck(item, occ.index),
                )
            else:
                w._sub(out, w.T + "ItemId", Id=w.encode_id("I", item.id), ChangeKey=w.change_key("I", item.id))
            w._sub(w._sub(msg, w.M + "ConflictResults"), w.T + "Count", "0")
        return resp

    def _update_error(self, messages: etree._Element, err: Any) -> None:
        w._sub(self._message(messages, "UpdateItem", err), w.M + "Items")  # type: ignore[attr-defined]

    # --- CreateAttachment on occurrences ----------------------------------------------------------
    def create_attachment(self, req: Request) -> etree._Element:
        """CreateAttachment with an occurrence as ParentItemId: the occurrence becomes an exception
        holding the attachments (one ResponseMessage per attachment, as Exchange answers)."""
        resp, messages = self._response("CreateAttachment")  # type: ignore[attr-defined]
        parent = req.op.find(w.M + "ParentItemId")
        elements = w._kids(req.op.find(w.M + "Attachments"))
        try:
            if parent is None:
                raise w.OpError("ErrorInvalidIdEmpty", "The parent item id is empty.")
            item, occ = self.resolve_item(etree.Element(w.T + "ItemId", Id=parent.get("Id", "")), req)
            if occ is None:
                raise w.OpError("ErrorInvalidOperation", "The sandbox adds attachments to occurrences only.")
            records = [self._attachment_record(a) for a in elements]  # type: ignore[attr-defined]
            first = len(calendar.occurrence_attachments(occ))
            item = calendar.attach(self.store, item, occ.index, records)
        except (w.OpError, calendar.CalendarError) as err:
            error = err if isinstance(err, w.OpError) else w.OpError(err.code, err.message)
            for _ in elements or [None]:
                self._message(messages, "CreateAttachment", error)  # type: ignore[attr-defined]
            return resp
        for n, el in enumerate(elements):
            msg = self._message(messages, "CreateAttachment")  # type: ignore[attr-defined]
            out = w._sub(w._sub(msg, w.M + "Attachments"), w.T + w._local(el))
            w._sub(
                out,
                w.T + "AttachmentId",
                Id=w.encode_attachment_id(item.id, (first + n,)),
                RootItemId=calendar.occurrence_id(item.id, occ.index),
                RootItemChangeKey=calendar._ck(item, occ.index),
            )
        return resp

    # --- DeleteItem of occurrences ---------------------------------------------------------------------
    def delete_items(self, req: Request) -> etree._Element:
        """DeleteItem: an occurrence leaves its series (Exchange lists it in the master's
        DeletedOccurrences); a request naming none is ItemDeletes.delete_item's, and other ids in a
        mixed request are disposed of as it does."""
        from core.sandbox.server.ewsdelete import DISPOSAL_TYPES

        ids = w._kids(req.op.find(w.M + "ItemIds"))
        delete_type = req.op.get("DeleteType")
        if delete_type not in DISPOSAL_TYPES or not any(self._names_occurrence(el) for el in ids):
            return self.delete_item(req)  # type: ignore[attr-defined]
        resp, messages = self._response("DeleteItem")  # type: ignore[attr-defined]
        send = req.op.get("SendMeetingCancellations")
        for id_el in ids:
            try:
                if not self._names_occurrence(id_el):
                    item = self._item_to_delete(id_el, req)  # type: ignore[attr-defined]
                    self._dispose(item, delete_type, req.op)  # type: ignore[attr-defined]
                else:
                    item, occ = self.resolve_item(id_el, req)
                    if occ is None:
                        raise w.OpError("ErrorInvalidOperation", "A recurring master is deleted by its own id.")
                    if send is None:
                        raise w.OpError(
                            "ErrorSendMeetingCancellationsRequired",
                            "SendMeetingCancellations is required for calendar items.",
                        )
                    calendar.delete(self.store, item, occ.index)
                    if send != "SendToNone":
                        self.store.record_sent(req.mailbox, f"Canceled: {item.subject}")  # never by an importer
            except calendar.CalendarError as err:
                self._message(messages, "DeleteItem", w.OpError(err.code, err.message))  # type: ignore[attr-defined]
                continue
            except w.OpError as err:
                self._message(messages, "DeleteItem", err)  # type: ignore[attr-defined]
                continue
            self._message(messages, "DeleteItem")  # type: ignore[attr-defined]
        return resp
