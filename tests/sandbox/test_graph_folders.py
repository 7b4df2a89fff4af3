"""Graph folders on the sandbox: well-known names, child folders, paging, filters and folder kinds."""

from __future__ import annotations

from tests.sandbox.conftest import ALICE
from tests.sandbox.test_graph_basics import assert_error

WELL_KNOWN = {
    "inbox": "Inbox", "sentitems": "Sent Items", "deleteditems": "Deleted Items", "drafts": "Drafts",
    "junkemail": "Junk Email", "outbox": "Outbox", "archive": "Archive", "msgfolderroot": "Top of Information Store",
    "conversationhistory": "Conversation History",
}  # fmt: skip


def test_well_known_names(graph):
    """Each well-known name answers its folder, with Graph's mailFolder shape."""
    for name, display in WELL_KNOWN.items():
        folder = graph.app.get(f"/users/{ALICE}/mailFolders/{name}").json()
        assert folder["displayName"] == display
        assert {"id", "parentFolderId", "childFolderCount", "unreadItemCount", "totalItemCount"} <= set(folder)
    by_id = graph.app.get(f"/users/{ALICE}/mailFolders/{folder['id']}").json()
    assert by_id["displayName"] == display


def test_create_child_folder_and_find_it_by_name(graph):
    """childFolders POST creates a mail folder; $filter=displayName eq finds it, case-insensitively."""
    base = f"/users/{ALICE}/mailFolders/inbox/childFolders"
    created = graph.app.post(base, json={"displayName": "O'Brien 2016"})
    assert created.status_code == 201, created.text
    found = graph.app.get(base, params={"$filter": "displayName eq 'o''brien 2016'"}).json()["value"]
    assert [f["id"] for f in found] == [created.json()["id"]]
    assert graph.app.get(base, params={"$filter": "displayName eq 'Nope'"}).json()["value"] == []
    assert graph.sb.folder(ALICE, "Inbox/O'Brien 2016").folder_class == "IPF.Note"


def test_duplicate_folder_is_409(graph):
    """Creating a second folder of the same name is 409 ErrorFolderExists (never a second folder)."""
    base = f"/users/{ALICE}/mailFolders/msgfolderroot/childFolders"
    assert graph.app.post(base, json={"displayName": "Imported"}).status_code == 201
    assert_error(graph.app.post(base, json={"displayName": "imported"}), 409, "ErrorFolderExists")


def test_folder_unknown_property_refused(graph):
    """A folder create with a property mailFolder does not have is refused, and nothing is created."""
    reply = graph.app.post(f"/users/{ALICE}/mailFolders", json={"displayName": "X", "folderClass": "IPF.Note"})
    assert_error(reply, 400, "RequestBodyRead")
    assert graph.sb.folder(ALICE, "X") is None


def test_paging_with_next_link(graph):
    """$top pages the folder list; following @odata.nextLink visits every folder exactly once."""
    base = f"/users/{ALICE}/mailFolders/inbox/childFolders"
    for n in range(7):
        graph.app.post(base, json={"displayName": f"F{n}"})
    seen: list[str] = []
    page = graph.app.get(base, params={"$top": "3", "$count": "true"}).json()
    assert page["@odata.count"] == 7
    while True:
        seen += [f["displayName"] for f in page["value"]]
        if "@odata.nextLink" not in page:
            break
        assert len(page["value"]) == 3
        page = graph.app.get(page["@odata.nextLink"]).json()
    assert sorted(seen) == [f"F{n}" for n in range(7)]


def test_folder_counts_follow_items(graph):
    """totalItemCount and unreadItemCount count the items stored in a folder."""
    folder = graph.app.post(f"/users/{ALICE}/mailFolders", json={"displayName": "Counted"}).json()
    for read in ("1", "0", "0"):
        reply = graph.app.post(
            f"/users/{ALICE}/mailFolders/{folder['id']}/messages",
            json={"subject": "m", "singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": read}]},
        )
        assert reply.status_code == 201
    again = graph.app.get(f"/users/{ALICE}/mailFolders/{folder['id']}").json()
    assert again["totalItemCount"] == 3 and again["unreadItemCount"] == 2


def test_calendar_contact_and_task_folders_have_their_kind(graph):
    """/calendars, /contactFolders and /todo/lists create folders of the right class, listed by their kind."""
    cal = graph.app.post(f"/users/{ALICE}/calendars", json={"name": "PST Calendar"})
    assert cal.status_code == 201 and cal.json()["name"] == "PST Calendar"
    contacts = graph.app.post(f"/users/{ALICE}/contactFolders", json={"displayName": "PST Contacts"})
    assert contacts.status_code == 201
    sub = graph.app.post(
        f"/users/{ALICE}/contactFolders/{contacts.json()['id']}/childFolders", json={"displayName": "Sub"}
    )
    assert sub.status_code == 201
    tasks = graph.app.post(f"/users/{ALICE}/todo/lists", json={"displayName": "PST Tasks"})
    assert tasks.status_code == 201 and tasks.json()["wellknownListName"] == "none"
    assert graph.sb.folder(ALICE, "PST Calendar").folder_class == "IPF.Appointment"
    assert graph.sb.folder(ALICE, "Contacts/PST Contacts/Sub").folder_class == "IPF.Contact"
    assert graph.sb.folder(ALICE, "PST Tasks").folder_class == "IPF.Task"
    names = [c["name"] for c in graph.app.get(f"/users/{ALICE}/calendars").json()["value"]]
    assert "Calendar" in names and "PST Calendar" in names
    lists = graph.app.get(f"/users/{ALICE}/todo/lists").json()["value"]
    assert {"Tasks", "PST Tasks"} <= {t["displayName"] for t in lists}
    assert [t["wellknownListName"] for t in lists if t["displayName"] == "Tasks"] == ["defaultList"]
    # a mail folder is not a calendar
    assert_error(graph.app.get(f"/users/{ALICE}/calendars/{contacts.json()['id']}"), 404, "ErrorItemNotFound")


def test_kind_by_container_class_under_a_mail_folder(graph):
    """A child folder created with PidTagContainerClass in the create request keeps that kind in the tree."""
    root = graph.app.post(f"/users/{ALICE}/mailFolders", json={"displayName": "Backup.pst"}).json()
    body = {
        "displayName": "Calendar",
        "singleValueExtendedProperties": [{"id": "String 0x3613", "value": "IPF.Appointment"}],
    }
    cal = graph.app.post(f"/users/{ALICE}/mailFolders/{root['id']}/childFolders", json=body).json()
    assert graph.sb.folder(ALICE, "Backup.pst/Calendar").folder_class == "IPF.Appointment"
    expanded = graph.app.get(
        f"/users/{ALICE}/mailFolders/{cal['id']}",
        params={"$expand": "singleValueExtendedProperties($filter=id eq 'String 0x3613')"},
    ).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": "String 0x3613", "value": "IPF.Appointment"}]
    event = {"subject": "e", "start": {"dateTime": "2020-01-01T10:00:00", "timeZone": "UTC"},
             "end": {"dateTime": "2020-01-01T11:00:00", "timeZone": "UTC"}}  # fmt: skip
    assert graph.app.post(f"/users/{ALICE}/calendars/{cal['id']}/events", json=event).status_code == 201


def test_folders_created_over_graph_are_seen_by_ews(graph):
    """A folder made through Graph is the same store folder the EWS front end serves."""
    graph.app.post(f"/users/{ALICE}/mailFolders", json={"displayName": "Shared view"})
    assert ("Shared view",) in graph.sb.folder_tree(ALICE)
