"""DeleteItem (MS-OXWSCORE 3.1.4.3), mixed into EwsService: one ResponseMessage per id, in order.

HardDelete removes the item for good; SoftDelete moves it to Recoverable Items/Deletions (the
dumpster); MoveToDeletedItems to Deleted Items, or from Deleted Items itself to the dumpster. As
Exchange requires, a calendar item needs SendMeetingCancellations and a task AffectedTaskOccurrences.
Ids other than t:ItemId (occurrences, recurring masters) name no stored item here: `_item_to_delete`
is where they would be resolved.
"""

from __future__ import annotations

from lxml import etree

from core.sandbox.server.ewsbase import EwsFault, M, OpError, Request, _kids, _local, decode_id
from core.sandbox.server.store import Item

# DisposalType (MS-OXWSCDATA 2.2.5.9): how DeleteItem disposes of an item.
DISPOSAL_TYPES = ("HardDelete", "SoftDelete", "MoveToDeletedItems")


class ItemDeletes:
    """DeleteItem over `self.store` (mixed into EwsService, which provides `_response`, `_message`
    and `_check_access`)."""

    def delete_item(self, req: Request) -> etree._Element:
        delete_type = req.op.get("DeleteType")
        if delete_type not in DISPOSAL_TYPES:
            # The XSD makes DeleteType a required enumeration: Exchange refuses the whole request.
            raise EwsFault(
                "ErrorSchemaValidation",
                f"The request failed schema validation: The 'DeleteType' attribute is invalid: {delete_type!r}.",
            )
        resp, messages = self._response("DeleteItem")  # type: ignore[attr-defined]
        for iid in _kids(req.op.find(M + "ItemIds")):
            try:
                item = self._item_to_delete(iid, req)
                self._dispose(item, delete_type, req.op)
            except OpError as err:
                self._message(messages, "DeleteItem", err)  # type: ignore[attr-defined]
                continue
            self._message(messages, "DeleteItem")  # type: ignore[attr-defined]
        return resp

    def _item_to_delete(self, iid: etree._Element, req: Request) -> Item:
        """The stored item an ItemIds child names."""
        if _local(iid) != "ItemId":
            raise OpError("ErrorInvalidOperation", f"{_local(iid)} is not supported by this server.")
        item = self.store.item(decode_id(iid.get("Id", ""), "I"))  # type: ignore[attr-defined]
        if item is None:
            raise OpError("ErrorItemNotFound", "The specified object was not found in the store.")
        folder = self.store.folder(item.folder_id)  # type: ignore[attr-defined]
        assert folder is not None
        self._check_access(folder.mailbox, req)  # type: ignore[attr-defined]
        return item

    def _dispose(self, item: Item, delete_type: str, op: etree._Element) -> None:
        if item.kind == "CalendarItem" and op.get("SendMeetingCancellations") is None:
            raise OpError(
                "ErrorSendMeetingCancellationsRequired",
                "SendMeetingCancellations attribute is required for Calendar items.",
            )
        if item.kind == "Task" and op.get("AffectedTaskOccurrences") is None:
            raise OpError(
                "ErrorAffectedTaskOccurrencesRequired", "AffectedTaskOccurrences attribute is required for Task items."
            )
        store = self.store  # type: ignore[attr-defined]
        if delete_type == "HardDelete":
            store.delete_item(item.id)
            return
        folder = store.folder(item.folder_id)
        prefix = "archive" if folder.archive else ""
        deleted = store.distinguished(folder.mailbox, prefix + "deleteditems")
        if delete_type == "MoveToDeletedItems" and deleted is not None and deleted.id != folder.id:
            store.move_item(item.id, deleted.id)
            return
        store.move_item(item.id, store.distinguished(folder.mailbox, prefix + "recoverableitemsdeletions").id)
