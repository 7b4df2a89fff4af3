"""Unpatched exchangelib against the sandbox: a whole import-like session per auth mode.

Every request and response of these tests is validated against Microsoft's EWS schema
by the `sandbox` fixture (tests/sandbox/conftest.py); one invalid envelope fails the test.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    DistributionList,
    ExtendedProperty,
    Folder,
    Identity,
    Message,
    OAuth2AuthorizationCodeCredentials,
    OAuth2Credentials,
    Task,
)
from exchangelib.errors import ErrorFolderNotFound, ErrorImpersonateUserDenied, UnauthorizedError
from exchangelib.indexed_properties import EmailAddress
from exchangelib.properties import Mailbox, Member
from exchangelib.protocol import BaseProtocol, close_connections

from core.mapi.props import PSETID_PstImport
from tests.sandbox.conftest import (
    ALICE,
    APP_ID,
    APP_SECRET,
    BOB,
    BOB_PASSWORD,
    PASSWORD,
    SERVICE,
    SERVICE_PASSWORD,
)

UTC = dt.UTC


class SourceKey(ExtendedProperty):
    """The pstimport source stamp (DESIGN.md)."""

    property_set_id = str(PSETID_PstImport)
    property_name = "PstImportSourceKey"
    property_type = "String"


class MessageFlags(ExtendedProperty):
    """PidTagMessageFlags, which decides draft or not at creation."""

    property_tag = 0x0E07
    property_type = "Integer"


GET_INBOX = (
    b'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    b'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
    b'<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body><m:GetFolder><m:FolderShape>'
    b'<t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
    b"</m:FolderIds></m:GetFolder></s:Body></s:Envelope>"
)
ITEM_CLASSES = (Message, CalendarItem, Contact, Task, DistributionList)


@pytest.fixture(autouse=True, scope="module")
def _register_props():
    for cls in ITEM_CLASSES:
        cls.register("pst_source_key", SourceKey)
    Message.register("message_flags", MessageFlags)
    yield
    Message.deregister("message_flags")
    for cls in ITEM_CLASSES:
        cls.deregister("pst_source_key")
    close_connections()


def mime(subject: str) -> bytes:
    return (
        f"From: Carol <carol@example.com>\r\nTo: Alice <{ALICE}>\r\nSubject: {subject}\r\n"
        "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"
    ).encode()


def account(sandbox, address, credentials, auth_type=None, access_type=DELEGATE) -> Account:
    config = Configuration(service_endpoint=sandbox.ews_url, credentials=credentials, auth_type=auth_type)
    return Account(address, config=config, autodiscover=False, access_type=access_type)


def import_session(acc: Account, archive: bool, tag: str) -> None:
    """What an import does: folders, batches of MIME and typed items, stamp lookups, GAL, counts."""
    top = acc.archive_msg_folder_root if archive else acc.msg_folder_root
    base = Folder(parent=top, name=f"PST {tag}")
    base.save()
    mail = Folder(parent=base, name="Mail")
    mail.save()
    cal = Folder(parent=base, name="Agenda", folder_class="IPF.Appointment")
    cal.save()
    people = Folder(parent=base, name="People", folder_class="IPF.Contact")
    people.save()
    todo = Folder(parent=base, name="Todo", folder_class="IPF.Task")
    todo.save()

    messages = [
        Message(folder=mail, mime_content=mime(f"m{i}"), is_read=True, pst_source_key=f"{tag}:{i}", message_flags=1)
        for i in range(7)
    ]
    results = acc.bulk_create(folder=mail, items=messages, chunk_size=3)  # 3 batches
    assert all(not isinstance(r, Exception) for r in results), results
    start = dt.datetime(2024, 3, 1, 9, 0, tzinfo=acc.default_timezone)
    typed = [
        (
            cal,
            CalendarItem(
                folder=cal,
                subject="Review",
                start=start,
                end=start + dt.timedelta(hours=1),
                location="Room 1",
                pst_source_key=f"{tag}:cal",
            ),
        ),
        (
            people,
            Contact(
                folder=people,
                given_name="Dora",
                surname="Doe",
                display_name="Dora Doe",
                email_addresses=[EmailAddress(email="dora@example.com", label="EmailAddress1")],
                pst_source_key=f"{tag}:contact",
            ),
        ),
        (
            people,
            DistributionList(
                folder=people,
                display_name="Team",
                pst_source_key=f"{tag}:dl",
                members=[Member(mailbox=Mailbox(email_address="dora@example.com"))],
            ),
        ),
        (todo, Task(folder=todo, subject="File taxes", due_date=dt.date(2024, 4, 15), pst_source_key=f"{tag}:task")),
    ]
    for folder, item in typed:
        res = acc.bulk_create(folder=folder, items=[item])
        assert not isinstance(res[0], Exception), res

    found = list(mail.filter(pst_source_key=f"{tag}:4").only("subject", "pst_source_key"))
    assert [m.subject for m in found] == ["m4"]
    assert list(mail.filter(pst_source_key=f"{tag}:nope")) == []
    assert [c.display_name for c in people.filter(pst_source_key=f"{tag}:contact").only("display_name")] == ["Dora Doe"]
    drafts = [m.is_draft for m in mail.all().only("is_draft")]
    assert drafts == [False] * 7, "PidTagMessageFlags in the create request makes a sent (non-draft) item"

    acc.root.clear_cache()
    if archive:
        acc.archive_root.clear_cache()
    again = top / f"PST {tag}"
    counts = {f.name: f.total_count for f in again.children}
    assert counts == {"Mail": 7, "Agenda": 1, "People": 2, "Todo": 1}
    names = acc.protocol.resolve_names(["bob"])
    assert [m.email_address for m in names] == [BOB]


def test_ntlm_session_mailbox_and_archive(sandbox):
    """NTLM (negotiated from the 401 like Exchange) runs a full import session in mailbox and archive."""
    acc = account(sandbox, ALICE, Credentials(ALICE, PASSWORD))
    assert acc.protocol.auth_type == NTLM
    assert acc.version.build.major_version == 15
    import_session(acc, archive=False, tag="n1")
    import_session(acc, archive=True, tag="n2")
    assert sandbox.items(ALICE, "PST n2/Mail", archive=True)[0].subject == "m0"


def test_basic_session(sandbox):
    """Basic auth works when asked for explicitly; items land where the store says."""
    acc = account(sandbox, BOB, Credentials(BOB, BOB_PASSWORD), auth_type=BASIC)
    import_session(acc, archive=False, tag="b1")
    assert len(sandbox.items(BOB, "PST b1/Mail")) == 7
    tree = sandbox.folder_tree(BOB)
    assert {p: n for p, n in tree.items() if p[0] == "PST b1"} == {
        ("PST b1",): 0,
        ("PST b1", "Mail"): 7,
        ("PST b1", "Agenda"): 1,
        ("PST b1", "People"): 2,
        ("PST b1", "Todo"): 1,
    }
    assert tree[("Inbox",)] == 0 and sandbox.folder_tree(BOB, archive=True) == {}


def test_basic_session_with_impersonation(sandbox):
    """Basic auth as the service account, impersonating alice, into her archive."""
    acc = account(sandbox, ALICE, Credentials(SERVICE, SERVICE_PASSWORD), auth_type=BASIC, access_type=IMPERSONATION)
    import_session(acc, archive=True, tag="b2")
    assert len(sandbox.items(ALICE, "PST b2/Mail", archive=True)) == 7


def test_find_folder_paging(sandbox):
    """FindFolder pages with IndexedPageFolderView (offset, total, last-in-range) like FindItem."""
    acc = account(sandbox, ALICE, Credentials(ALICE, PASSWORD))
    parent = Folder(parent=acc.inbox, name="Many")
    parent.save()
    for i in range(7):
        Folder(parent=parent, name=f"f{i}").save()
    from lxml import etree

    m, t = (
        "{http://schemas.microsoft.com/exchange/services/2006/messages}",
        "{http://schemas.microsoft.com/exchange/services/2006/types}",
    )
    pages = []
    for offset in (0, 5):
        body = (
            GET_INBOX.replace(b"<m:GetFolder>", b'<m:FindFolder Traversal="Shallow">')
            .replace(b"</m:GetFolder>", b"</m:FindFolder>")
            .replace(
                b"</m:FolderShape><m:FolderIds>",
                f'</m:FolderShape><m:IndexedPageFolderView MaxEntriesReturned="5" Offset="{offset}" '
                f'BasePoint="Beginning"/><m:ParentFolderIds>'.encode(),
            )
            .replace(
                b'<t:DistinguishedFolderId Id="inbox"/></m:FolderIds>',
                f'<t:FolderId Id="{parent.id}"/></m:ParentFolderIds>'.encode(),
            )
        )
        reply = requests.post(sandbox.ews_url, data=body, auth=(ALICE, PASSWORD), timeout=10)
        root = etree.fromstring(reply.content).find(f".//{m}RootFolder")
        pages.append(
            (
                root.get("IndexedPagingOffset"),
                root.get("TotalItemsInView"),
                root.get("IncludesLastItemInRange"),
                [f.findtext(f"{t}DisplayName") for f in root.find(f"{t}Folders")],
            )
        )
    assert pages == [("5", "7", "false", ["f0", "f1", "f2", "f3", "f4"]), ("7", "7", "true", ["f5", "f6"])]
    assert sorted(f.name for f in parent.children) == [f"f{i}" for i in range(7)]


def test_bearer_user_token_session(tls_sandbox):
    """Over HTTPS, a user's Bearer token from the sandbox token endpoint (password grant) drives a session."""
    sandbox = tls_sandbox
    reply = requests.post(
        sandbox.token_url("contoso"),
        data={
            "grant_type": "password",
            "client_id": APP_ID,
            "username": ALICE,
            "password": PASSWORD,
            "scope": "https://outlook.office365.com/EWS.AccessAsUser.All",
        },
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    token = reply.json()
    creds = OAuth2AuthorizationCodeCredentials(access_token=token)
    acc = account(sandbox, ALICE, creds, auth_type=OAUTH2)
    import_session(acc, archive=True, tag="t1")


def test_app_token_with_impersonation(tls_sandbox):
    """Over HTTPS, client_credentials gives an app token; with ExchangeImpersonation it imports anywhere."""
    sandbox = tls_sandbox
    reply = requests.post(
        sandbox.token_url("contoso"),
        data={
            "grant_type": "client_credentials",
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "scope": "https://outlook.office365.com/.default",
        },
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    creds = OAuth2Credentials(
        client_id=APP_ID,
        client_secret=APP_SECRET,
        tenant_id="contoso",
        identity=Identity(primary_smtp_address=BOB),
        access_token=reply.json(),
    )
    acc = account(sandbox, BOB, creds, auth_type=OAUTH2, access_type=IMPERSONATION)
    import_session(acc, archive=False, tag="a1")
    assert len(sandbox.items(BOB, "PST a1/Mail")) == 7


def test_wrong_app_secret_is_refused(sandbox):
    """The token endpoint refuses a wrong client secret the way Entra ID does (401 invalid_client)."""
    reply = requests.post(
        sandbox.token_url(),
        data={"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": "wrong"},
        timeout=10,
    )
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_client"


def test_impersonation_by_granted_service_account(sandbox):
    """A granted service account impersonates alice, over NTLM, into her archive."""
    acc = account(sandbox, ALICE, Credentials(SERVICE, SERVICE_PASSWORD), access_type=IMPERSONATION)
    import_session(acc, archive=True, tag="i1")
    assert [e.principal for e in sandbox.exchanges if e.operation == "CreateItem"][0] == SERVICE


def test_impersonation_denied(sandbox):
    """Bob is not granted impersonation: Exchange's ErrorImpersonateUserDenied."""
    acc = account(sandbox, ALICE, Credentials(BOB, BOB_PASSWORD), access_type=IMPERSONATION)
    with pytest.raises(ErrorImpersonateUserDenied):
        acc.root.refresh()


def test_wrong_password_gets_401(sandbox):
    """Wrong credentials: 401, which exchangelib reports as UnauthorizedError."""
    with pytest.raises(UnauthorizedError):
        account(sandbox, ALICE, Credentials(ALICE, "not-it"), auth_type=NTLM).root.refresh()
    reply = requests.post(sandbox.ews_url, data=GET_INBOX, auth=(ALICE, "not-it"), timeout=10)
    assert reply.status_code == 401


def test_archive_without_archive(sandbox):
    """Bob has no archive: archive folders are not found, as on Exchange."""
    acc = account(sandbox, BOB, Credentials(BOB, BOB_PASSWORD))
    with pytest.raises(ErrorFolderNotFound):
        acc.archive_msg_folder_root.refresh()


def test_mime_only_message_is_a_draft(sandbox):
    """MIME alone gives a draft (MSGFLAG_UNSENT), as on Exchange; the flags property makes it sent."""
    acc = account(sandbox, ALICE, Credentials(ALICE, PASSWORD))
    draft, sent = acc.bulk_create(
        folder=acc.inbox,
        items=[
            Message(folder=acc.inbox, mime_content=mime("draft")),
            Message(folder=acc.inbox, mime_content=mime("sent"), message_flags=1),
        ],
    )
    got = {
        m.subject: (m.is_draft, m.message_flags)
        for m in acc.fetch([draft, sent], only_fields=["subject", "is_draft", "message_flags"])
    }
    assert got == {"draft": (True, 8), "sent": (False, 0)}
    stored = {it.subject: it.is_draft for it in sandbox.items(ALICE, "Inbox")}
    assert stored == {"draft": True, "sent": False}


def test_getitem_returns_the_mime_and_stamp(sandbox):
    """GetItem gives back the MIME bytes uploaded and the stamp (typed and MIME items)."""
    acc = account(sandbox, ALICE, Credentials(ALICE, PASSWORD))
    (res,) = acc.bulk_create(
        folder=acc.inbox, items=[Message(folder=acc.inbox, mime_content=mime("round trip"), pst_source_key="k:1")]
    )
    (msg,) = acc.fetch([res], only_fields=["mime_content", "subject", "pst_source_key", "datetime_created"])
    assert msg.mime_content == mime("round trip")
    assert msg.pst_source_key == "k:1" and msg.subject == "round trip"
    (hit,) = sandbox.find_by_source_key("k:1", ALICE)
    assert hit.subject == "round trip"


def test_full_item_fetch_validates(sandbox):
    """Fetching typed items with every field exchangelib knows gives schema-valid answers it parses."""
    acc = account(sandbox, ALICE, Credentials(ALICE, PASSWORD))
    start = dt.datetime(2024, 5, 1, 9, 0, tzinfo=acc.default_timezone)
    items = [
        CalendarItem(folder=acc.calendar, subject="Standup", start=start, end=start + dt.timedelta(minutes=15)),
        Contact(folder=acc.contacts, given_name="Eve", surname="Ex", display_name="Eve Ex"),
        Task(folder=acc.tasks, subject="Plan", status="InProgress", percent_complete=Decimal(50)),
    ]
    for item in items:
        item.save()
    (cal,) = acc.calendar.all()
    assert cal.subject == "Standup" and cal.start == start
    (contact,) = acc.contacts.all()
    assert contact.display_name == "Eve Ex" and contact.surname == "Ex"
    (task,) = acc.tasks.all()
    assert task.subject == "Plan" and task.status == "InProgress"


@pytest.fixture
def _no_adapter_leak():
    yield
    assert BaseProtocol.HTTP_ADAPTER_CLS.__name__ == "HTTPAdapter"


def test_send_and_save_copy_is_recorded_not_delivered(sandbox):
    """Sending saves a non-draft copy in Sent Items and is only recorded: the sandbox delivers nothing."""
    acc = account(sandbox, ALICE, Credentials(ALICE, PASSWORD))
    Message(account=acc, subject="out", to_recipients=[BOB], body="hi").send_and_save()
    (copy,) = sandbox.items(ALICE, "Sent Items")
    assert copy.subject == "out" and not copy.is_draft
    assert sandbox.store.sent(ALICE) == ["out"]
    assert sandbox.items(BOB, "Inbox") == []


def test_impersonating_an_unknown_mailbox(sandbox):
    """Impersonating an address without a mailbox: ErrorNonExistentMailbox, as on Exchange."""
    from exchangelib.errors import ErrorNonExistentMailbox

    acc = account(sandbox, "ghost@sandbox.test", Credentials(SERVICE, SERVICE_PASSWORD), access_type=IMPERSONATION)
    with pytest.raises(ErrorNonExistentMailbox):
        acc.root.refresh()


def test_mime_headers_are_promoted(sandbox):
    """Like Exchange, GetItem shows the subject, sender, recipients, sent date and body taken from the MIME."""
    acc = account(sandbox, ALICE, Credentials(ALICE, PASSWORD))
    (res,) = acc.bulk_create(folder=acc.inbox, items=[Message(folder=acc.inbox, mime_content=mime("promoted"))])
    (msg,) = acc.fetch([res])
    assert msg.subject == "promoted"
    assert msg.author.email_address == "carol@example.com" and msg.author.name == "Carol"
    assert [r.email_address for r in msg.to_recipients] == [ALICE]
    assert msg.datetime_sent == dt.datetime(2024, 1, 1, 10, 0, tzinfo=dt.UTC)
    assert msg.text_body is None or "Hello" in msg.text_body
    assert "Hello" in str(msg.body) and msg.has_attachments is False


def test_impersonation_granted_per_mailbox(sandbox):
    """A grant for one mailbox lets bob impersonate alice but not the service account."""
    sandbox.store.grant_impersonation(BOB, [ALICE])
    as_alice = account(sandbox, ALICE, Credentials(BOB, BOB_PASSWORD), access_type=IMPERSONATION)
    assert as_alice.inbox.total_count == 0
    as_service = account(sandbox, SERVICE, Credentials(BOB, BOB_PASSWORD), access_type=IMPERSONATION)
    with pytest.raises(ErrorImpersonateUserDenied):
        as_service.root.refresh()
