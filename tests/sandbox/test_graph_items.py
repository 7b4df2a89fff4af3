"""Graph events, contacts and To Do tasks on the sandbox: documented fields stored, unknown ones refused."""

from __future__ import annotations

from tests.sandbox.conftest import ALICE
from tests.sandbox.test_graph_basics import assert_error
from tests.sandbox.test_graph_messages import STAMP_ID, stamp_filter

EVENT = {
    "subject": "Weekly sync",
    "body": {"contentType": "html", "content": "<b>agenda</b>"},
    "start": {"dateTime": "2016-03-07T09:00:00", "timeZone": "W. Europe Standard Time"},
    "end": {"dateTime": "2016-03-07T10:00:00", "timeZone": "W. Europe Standard Time"},
    "location": {"displayName": "Room 1"},
    "attendees": [{"emailAddress": {"address": "bob@sandbox.test", "name": "Bob"}, "type": "required"}],
    "recurrence": {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
        "range": {"type": "numbered", "startDate": "2016-03-07", "numberOfOccurrences": 10},
    },
    "categories": ["Blue"],
    "singleValueExtendedProperties": [{"id": STAMP_ID, "value": "ev:1"}],
}


def test_event_with_recurrence_and_attendees(graph):
    """An event with patternedRecurrence and attendees is stored in the calendar and read back as a series."""
    reply = graph.app.post(f"/users/{ALICE}/calendar/events", json=EVENT)
    assert reply.status_code == 201, reply.text
    event = reply.json()
    assert event["type"] == "seriesMaster" and event["recurrence"]["range"]["numberOfOccurrences"] == 10
    assert event["attendees"][0]["emailAddress"]["address"] == "bob@sandbox.test"
    item = graph.sb.items(ALICE, "Calendar")[0]
    assert item.kind == "CalendarItem" and item.subject == "Weekly sync"
    fields = {n[0]: n[2] for n in item.fields}
    assert fields["Start"] == "2016-03-07T08:00:00Z" and fields["End"] == "2016-03-07T09:00:00Z"  # CET is UTC+1
    found = graph.app.get(f"/users/{ALICE}/calendar/events", params=stamp_filter("ev:1")).json()["value"]
    assert [e["subject"] for e in found] == ["Weekly sync"]
    assert graph.sb.find_by_source_key("ev:1", ALICE)[0].id == item.id


def test_event_strictness(graph):
    """Unknown event fields, a bad recurrence, an unknown time zone and a missing end are refused."""
    base = f"/users/{ALICE}/calendar/events"
    assert_error(graph.app.post(base, json={**EVENT, "colour": "red"}), 400, "RequestBodyRead")
    bad_pattern = {**EVENT, "recurrence": {"pattern": {"type": "fortnightly"}, "range": EVENT["recurrence"]["range"]}}
    assert_error(graph.app.post(base, json=bad_pattern), 400, "RequestBodyRead")
    weekly_without_days = {
        **EVENT,
        "recurrence": {"pattern": {"type": "weekly", "interval": 1}, "range": EVENT["recurrence"]["range"]},
    }
    assert_error(graph.app.post(base, json=weekly_without_days), 400, "ErrorInvalidRecurrence")
    bad_zone = {**EVENT, "start": {"dateTime": "2016-03-07T09:00:00", "timeZone": "Mars Standard Time"}}
    assert_error(graph.app.post(base, json=bad_zone), 400, "TimeZoneNotSupportedException")
    no_end = {k: v for k, v in EVENT.items() if k != "end"}
    assert_error(graph.app.post(base, json=no_end), 400, "ErrorInvalidRequest")
    assert graph.sb.items(ALICE, "Calendar") == []


def test_events_only_in_calendars(graph):
    """Posting an event to a mail folder's id as a calendar is 404."""
    inbox = graph.app.get(f"/users/{ALICE}/mailFolders/inbox").json()["id"]
    assert_error(graph.app.post(f"/users/{ALICE}/calendars/{inbox}/events", json=EVENT), 404, "ErrorItemNotFound")


def test_contact_in_a_contact_folder(graph):
    """A contact with documented fields lands in its folder; unknown fields and 4 e-mail addresses are refused."""
    folder = graph.app.post(f"/users/{ALICE}/contactFolders", json={"displayName": "PST People"}).json()
    contact = {
        "givenName": "Carol", "surname": "Smith", "displayName": "Carol Smith", "companyName": "Contoso",
        "emailAddresses": [{"address": "carol@example.com", "name": "Carol Smith"}],
        "businessPhones": ["+1 555 0100"], "birthday": "1980-01-02T00:00:00Z",
        "homeAddress": {"street": "1 Main St", "city": "Springfield"},
        "singleValueExtendedProperties": [{"id": STAMP_ID, "value": "ct:1"}],
    }  # fmt: skip
    path = f"/users/{ALICE}/contactFolders/{folder['id']}/contacts"
    reply = graph.app.post(path, json=contact)
    assert reply.status_code == 201, reply.text
    assert reply.json()["businessPhones"] == ["+1 555 0100"] and reply.json()["parentFolderId"] == folder["id"]
    item = graph.sb.items(ALICE, "Contacts/PST People")[0]
    assert item.kind == "Contact" and ["GivenName", {}, "Carol"] in item.fields
    assert [c["displayName"] for c in graph.app.get(path, params=stamp_filter("ct:1")).json()["value"]] == [
        "Carol Smith"
    ]
    assert_error(graph.app.post(path, json={**contact, "twitter": "@c"}), 400, "RequestBodyRead")
    four = [{"address": f"c{n}@example.com"} for n in range(4)]
    assert_error(graph.app.post(path, json={**contact, "emailAddresses": four}), 400, "ErrorInvalidRequest")


def test_todo_task_and_linked_resource_lookup(graph):
    """A To Do task is stored in its list; it takes no extended properties (as Graph) and is found by its
    linkedResource externalId instead."""
    tasks = graph.app.post(f"/users/{ALICE}/todo/lists", json={"displayName": "PST Tasks"}).json()
    path = f"/users/{ALICE}/todo/lists/{tasks['id']}/tasks"
    task = {
        "title": "File taxes", "importance": "high", "status": "inProgress",
        "dueDateTime": {"dateTime": "2016-04-15T00:00:00", "timeZone": "UTC"},
        "body": {"contentType": "text", "content": "before April"},
        "linkedResources": [{"applicationName": "pstimport", "externalId": "tk:1", "displayName": "PST item"}],
    }  # fmt: skip
    reply = graph.app.post(path, json=task)
    assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "inProgress" and reply.json()["title"] == "File taxes"
    item = graph.sb.items(ALICE, "PST Tasks")[0]
    assert item.kind == "Task" and ["DueDate", {}, "2016-04-15T00:00:00Z"] in item.fields
    found = graph.app.get(path, params={"$filter": "linkedResources/any(r: r/externalId eq 'tk:1')"}).json()
    assert [t["title"] for t in found["value"]] == ["File taxes"]
    assert "linkedResources" not in found["value"][0]  # a navigation property: only with $expand
    expanded = graph.app.get(path, params={"$select": "id", "$expand": "linkedResources"}).json()["value"]
    assert [r["externalId"] for r in expanded[0]["linkedResources"]] == ["tk:1"] and expanded[0]["linkedResources"][0][
        "id"
    ]
    with_props = {**task, "singleValueExtendedProperties": [{"id": STAMP_ID, "value": "tk:2"}]}
    assert_error(graph.app.post(path, json=with_props), 400, "RequestBodyRead")
    assert_error(graph.app.post(path, json={**task, "status": "someday"}), 400, "RequestBodyRead")


def test_ews_created_calendar_item_is_listed_as_event(graph):
    """Items of the store's calendar kinds appear in Graph's events, whichever front end made them."""
    from core.sandbox.server.store import NewItem

    folder = graph.sb.folder(ALICE, "Calendar")
    graph.sb.store.create_items(
        folder.id,
        [NewItem("CalendarItem", "IPM.Appointment", "from ews", fields=[["Start", {}, "2020-01-01T10:00:00Z"]])],
    )
    events = graph.app.get(f"/users/{ALICE}/calendar/events").json()["value"]
    assert [e["subject"] for e in events] == ["from ews"]
    assert events[0]["start"]["dateTime"].startswith("2020-01-01T10:00:00")


def test_graph_items_read_over_ews_are_schema_valid(sandbox, schema_checker):
    """Every kind Graph creates is served by EWS GetItem (AllProperties) as schema-valid XML with its fields."""
    import httpx

    from core.sandbox.server.ews import encode_id
    from tests.sandbox.conftest import PASSWORD, GraphClient
    from tests.sandbox.test_graph_messages import message

    graph = GraphClient(sandbox)
    try:
        contact = {"givenName": "C", "surname": "S", "displayName": "C S", "companyName": "Co", "jobTitle": "Boss",
                   "emailAddresses": [{"address": "c@example.com"}]}  # fmt: skip
        task = {"title": "T", "status": "completed",
                "dueDateTime": {"dateTime": "2016-04-15T00:00:00", "timeZone": "UTC"},
                "startDateTime": {"dateTime": "2016-04-01T00:00:00", "timeZone": "UTC"}}  # fmt: skip
        mail = message("M", flags=1, toRecipients=[{"emailAddress": {"address": "b@x.test", "name": "B"}}],
                       sender={"emailAddress": {"address": "s@x.test"}}, isReadReceiptRequested=True,
                       categories=["Red"], importance="low", internetMessageId="<m@x>")  # fmt: skip
        lists = graph.app.get(f"/users/{ALICE}/todo/lists").json()["value"]
        posts = [
            (f"/users/{ALICE}/mailFolders/inbox/messages", mail),
            (
                f"/users/{ALICE}/calendar/events",
                {k: v for k, v in EVENT.items() if k != "singleValueExtendedProperties"},
            ),
            (f"/users/{ALICE}/contacts", contact),
            (f"/users/{ALICE}/todo/lists/{lists[0]['id']}/tasks", task),
        ]
        ids = []
        for path, body in posts:
            reply = graph.app.post(path, json=body)
            assert reply.status_code == 201, reply.text
            ids.append(reply.json()["id"])
    finally:
        graph.close()
    items = [graph.sb.items(ALICE, p)[0] for p in ("Inbox", "Calendar", "Contacts", "Tasks")]
    item_ids = "".join(f'<t:ItemId Id="{encode_id("I", it.id)}"/>' for it in items)
    envelope = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>
<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
<m:ItemIds>{item_ids}</m:ItemIds></m:GetItem></s:Body></s:Envelope>"""
    reply = httpx.post(
        sandbox.ews_url, content=envelope.encode(), auth=(ALICE, PASSWORD), headers={"Content-Type": "text/xml"}
    )
    assert reply.status_code == 200 and reply.text.count('ResponseClass="Success"') == 4, reply.text[:2000]
    for text in ("<t:Subject>M</t:Subject>", "<t:Start>2016-03-07T08:00:00Z</t:Start>", "<t:Surname>S</t:Surname>",
                 "<t:Status>Completed</t:Status>", "<t:IsDraft>false</t:IsDraft>", "b@x.test"):  # fmt: skip
        assert text in reply.text, text
    assert not schema_checker.failures
