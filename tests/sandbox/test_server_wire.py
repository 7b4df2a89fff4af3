"""The sandbox's envelopes against the genuine samples, paging, and the store under it."""

from __future__ import annotations

import pytest
import requests
from exchangelib import DELEGATE, Account, Configuration, Credentials, ExtendedProperty, Message
from exchangelib.errors import UnauthorizedError
from exchangelib.protocol import close_connections
from lxml import etree

from core.mapi.props import PSETID_PstImport
from core.sandbox.server.store import INLINE_BLOB_BYTES, NewItem, Store, prop_key
from tests.sandbox.conftest import ALICE, PASSWORD, SAMPLES_DIR, SCHEMA_DIR, SERVER_SCHEMA, need_shared
from tests.sandbox.test_server_faults import GET_INBOX, post

SAMPLES = SAMPLES_DIR
S = "{http://schemas.xmlsoap.org/soap/envelope/}"
T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"


class SourceKey(ExtendedProperty):
    property_set_id = str(PSETID_PstImport)
    property_name = "PstImportSourceKey"
    property_type = "String"


@pytest.fixture(autouse=True)
def _close():
    yield
    close_connections()


def shape(el: etree._Element, attrs: bool = True) -> list:
    """Tags (with prefixes) and attribute names of an element tree: what 'looks like Exchange' means here."""
    return [
        (el.prefix, etree.QName(el).localname, sorted(el.attrib) if attrs else []),
        [shape(c, attrs) for c in el if isinstance(c.tag, str)],
    ]


def test_envelope_matches_exchange_samples(sandbox):
    """s:Envelope, h:ServerVersionInfo (build + V2017_07_11), m:/t: prefixes, as Exchange 2016/2019 send."""
    need_shared(SAMPLES / "exchangelib-tests")
    reply = post(sandbox)
    doc = etree.fromstring(reply.content)
    assert doc.prefix == "s" and doc.tag == S + "Envelope"
    (svi,) = doc.find(S + "Header")
    sample = etree.parse(str(SAMPLES / "exchangelib-tests" / "ConvertId-Error-with-ServerVersionInfo-V2017_07_11.xml"))
    (sample_svi,) = sample.getroot().find(S + "Header")
    assert (svi.prefix, svi.tag) == (sample_svi.prefix, sample_svi.tag) == ("h", f"{{{T_NS}}}ServerVersionInfo")
    assert sorted(svi.attrib) == sorted(sample_svi.attrib)
    assert svi.get("Version") == "V2017_07_11" and svi.get("MajorVersion") == "15"
    (resp,) = doc.find(S + "Body")
    assert (resp.prefix, resp.tag) == ("m", f"{{{M_NS}}}GetFolderResponse")
    assert resp.nsmap["t"] == T_NS
    assert reply.headers["Content-Type"].startswith("text/xml; charset=utf-8")


def test_busy_fault_matches_the_sample(sandbox):
    """The ErrorServerBusy fault has the same element structure as exchangelib's real-world fixture."""
    need_shared(SAMPLES / "exchangelib-tests")
    sandbox.set_knobs(busy_next=1, back_off_ms=297749)
    ours = etree.fromstring(post(sandbox).content)
    sample = etree.parse(str(SAMPLES / "exchangelib-tests" / "Fault-ErrorServerBusy-BackOffMilliseconds.xml"))
    assert shape(ours) == shape(sample.getroot())
    code = ours.find(f"{S}Body/{S}Fault/faultcode")
    assert code.text == "a:ErrorServerBusy" and code.nsmap["a"] == T_NS


def test_paging_through_many_items(sandbox):
    """FindItem paging: exchangelib pages 250 items (100 a page) and counts a restriction."""
    config = Configuration(service_endpoint=sandbox.ews_url, credentials=Credentials(ALICE, PASSWORD))
    acc = Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE)
    Message.register("pst_source_key", SourceKey)
    try:
        acc.bulk_create(
            folder=acc.inbox,
            items=[
                Message(
                    folder=acc.inbox, mime_content=f"Subject: n{i}\r\n\r\n.\r\n".encode(), pst_source_key=f"p:{i % 3}"
                )
                for i in range(250)
            ],
            chunk_size=100,
        )
        subjects = [m.subject for m in acc.inbox.all().only("subject")]
        assert sorted(subjects) == sorted(f"n{i}" for i in range(250))
        assert acc.inbox.filter(pst_source_key="p:1").count() == 83
        assert acc.inbox.filter(pst_source_key__in=["p:1", "p:2"]).count() == 166
        assert acc.inbox.filter(subject__startswith="n24").count() == 11
    finally:
        Message.deregister("pst_source_key")
    pages = [e for e in sandbox.exchanges if e.operation == "FindItem"]
    assert len(pages) >= 3


def test_bad_bearer_token_gets_401(sandbox):
    """An unknown or expired Bearer token is refused with 401."""
    reply = requests.post(sandbox.ews_url, data=GET_INBOX, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert reply.status_code == 401
    expired = sandbox.mint_token(ALICE, lifetime_s=-1)
    reply = requests.post(sandbox.ews_url, data=GET_INBOX, headers={"Authorization": f"Bearer {expired}"}, timeout=10)
    assert reply.status_code == 401
    good = sandbox.mint_token(ALICE)
    reply = requests.post(sandbox.ews_url, data=GET_INBOX, headers={"Authorization": f"Bearer {good}"}, timeout=10)
    assert reply.status_code == 200


def test_basic_only_server_is_detected(tmp_path, schema_checker):
    """A server offering only Basic makes exchangelib pick Basic; a wrong password is UnauthorizedError."""
    from exchangelib import BASIC

    from core.sandbox.server.app import Sandbox

    with Sandbox(tmp_path / "s", users={ALICE: PASSWORD}, auth_methods=["basic"], on_exchange=schema_checker) as sb:
        config = Configuration(service_endpoint=sb.ews_url, credentials=Credentials(ALICE, PASSWORD))
        acc = Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE)
        assert acc.protocol.auth_type == BASIC
        assert acc.inbox.total_count == 0
        with pytest.raises(UnauthorizedError):
            config = Configuration(service_endpoint=sb.ews_url, credentials=Credentials(ALICE, "nope"))
            Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE).inbox.refresh()


def test_store_keeps_small_content_in_the_database_and_big_content_in_files(tmp_path):
    """Small MIME is a database row (no file per item), big MIME a file; both read back whole, shared content once."""
    store = Store(tmp_path)
    try:
        store.add_user("zed@sandbox.test", "pw")
        inbox = store.distinguished("zed@sandbox.test", "inbox")
        small = b"Subject: s\r\n\r\nbody"
        big = b"Subject: b\r\n\r\n" + b"x" * INLINE_BLOB_BYTES
        items = store.create_items(
            inbox.id,
            [NewItem(kind="Message", item_class="IPM.Note", subject=None, mime=m) for m in (small, big, small)],
        )
        assert [store.mime(store.item(it.id)) for it in items] == [small, big, small]
        files = [p.name for p in store.blob_dir.rglob("*") if p.is_file()]
        assert files == [items[1].mime_blob]
        assert items[0].mime_blob == items[2].mime_blob
        assert store.blob(store.put_blob(b"attachment")) == b"attachment"
    finally:
        store.close()


def test_store_promotes_mime_fields_when_first_read(tmp_path):
    """Fields promoted from the MIME are not worked out on create but on the first read; the request's fields win."""
    mime = (
        b"From: Carol <carol@example.com>\r\nTo: zed@sandbox.test\r\nSubject: s\r\n"
        b"Content-Type: text/plain\r\n\r\nHello"
    )
    store = Store(tmp_path)
    try:
        store.add_user("zed@sandbox.test", "pw")
        inbox = store.distinguished("zed@sandbox.test", "inbox")
        given = ["Importance", {}, "High"]
        (made,) = store.create_items(
            inbox.id,
            [NewItem(kind="Message", item_class="IPM.Note", mime=mime, fields=[given], promote_mime=True)],
        )
        assert made.stored_fields == [given]  # nothing parsed yet
        item = store.item(made.id)
        assert item.stored_fields == [given] and item.pending_mime is not None
        names = {node[0]: node for node in item.fields}
        assert names["Importance"] == given and names["Body"] == ["Body", {"BodyType": "Text"}, "Hello"]
        assert names["From"][2][0][2][1] == ["EmailAddress", {}, "carol@example.com"]
        updated = store.update_item(made.id, fields=item.fields)  # a front end writing the fields back whole
        assert updated.pending_mime is None and updated.fields == item.fields
    finally:
        store.close()


def test_store_survives_reopen_and_indexes_props(tmp_path):
    """The store is on disk: reopened, it has the folders, items, blobs and the property index."""
    key = prop_key("String", property_set=PSETID_PstImport, name="PstImportSourceKey")
    store = Store(tmp_path)
    store.add_user("zed@sandbox.test", "pw", archive=True)
    root = store.distinguished("zed@sandbox.test", "archivemsgfolderroot")
    folder = store.create_folder(root.id, "Old", "IPF.Note")
    (item,) = store.create_items(
        folder.id,
        [NewItem(kind="Message", item_class="IPM.Note", subject="s", mime=b"Subject: s\r\n\r\n", props={key: "x:1"})],
    )
    store.close()
    store = Store(tmp_path)
    try:
        (again,) = store.find_by_prop(key, "x:1")
        assert again.id == item.id and store.mime(again) == b"Subject: s\r\n\r\n"
        assert store.folder_path(store.folder(again.folder_id)) == ["Old"]
        assert store.distinguished("zed@sandbox.test", "archiveroot") is not None
        assert store.distinguished("nobody@sandbox.test", "inbox") is None
        assert store.count_items(folder.id) == (1, 1)
    finally:
        store.close()


def test_schema_invalid_request_is_refused_like_exchange(tmp_path):
    """With the schema, an invalid request gets ErrorSchemaValidation with line, position and violation."""
    need_shared(SAMPLES / "exchangelib-tests")
    from core.sandbox.server.app import Sandbox

    bad = GET_INBOX.replace(b"<t:BaseShape>Default</t:BaseShape>", b"<t:BaseShape>Everything</t:BaseShape>")
    with Sandbox(
        tmp_path / "s", users={ALICE: PASSWORD}, schema_dir=need_shared(SCHEMA_DIR / "types.xsd").parent
    ) as sb:
        reply = post(sb, bad)
        assert reply.status_code == 500
        doc = etree.fromstring(reply.content)
        assert doc.findtext(f"{S}Body/{S}Fault/faultcode") == "a:ErrorSchemaValidation"
        sample = etree.parse(str(SAMPLES / "exchangelib-tests" / "Fault-ErrorSchemaValidation.xml")).getroot()
        assert shape(doc, attrs=False) == shape(sample, attrs=False)  # the sample lacks faultstring's xml:lang
        assert "Everything" in doc.findtext(f".//{{{T_NS}}}Violation")
        assert post(sb).status_code == 200


@pytest.mark.parametrize(
    "flavour, build", [("exchange2016", (15, 1, 2507, 6)), ("exchange-online", (15, 20, 8769, 21))]
)
def test_flavours(tmp_path, schema_checker, monkeypatch, flavour, build):
    """The flavour sets the version headers; Exchange Online refuses passwords and takes Bearer tokens."""
    from exchangelib import OAUTH2, OAuth2AuthorizationCodeCredentials

    from core.sandbox.server.app import Sandbox

    with Sandbox(
        tmp_path / "s",
        users={ALICE: PASSWORD},
        flavour=flavour,
        tls=True,
        schema_dir=SERVER_SCHEMA,
        on_exchange=schema_checker,
    ) as sb:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sb.ca_cert))
        token = {"access_token": sb.mint_token(ALICE), "token_type": "Bearer"}
        config = Configuration(
            service_endpoint=sb.ews_url,
            auth_type=OAUTH2,
            credentials=OAuth2AuthorizationCodeCredentials(access_token=token),
        )
        acc = Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE)
        assert (acc.version.build.major_version, acc.version.build.minor_version) == build[:2]
        assert (acc.version.build.major_build, acc.version.build.minor_build) == build[2:]
        assert acc.inbox.total_count == 0
        basic = requests.post(sb.ews_url, data=GET_INBOX, auth=(ALICE, PASSWORD), timeout=10)
        assert basic.status_code == (401 if flavour == "exchange-online" else 200)


def test_store_keeps_no_secret_in_clear(tmp_path):
    """Passwords and client secrets are stored hashed; verification still works after a reopen."""
    store = Store(tmp_path)
    store.add_user("zed@sandbox.test", "Very-Secret-pw-9")
    store.add_app("app-1", "Client-Secret-7")
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("store.sqlite3*"))
    assert b"Very-Secret-pw-9" not in raw and b"Client-Secret-7" not in raw
    store = Store(tmp_path)
    try:
        assert store.check_password("zed@sandbox.test", "Very-Secret-pw-9")
        assert not store.check_password("zed@sandbox.test", "very-secret-pw-9")
        assert store.check_app("app-1", "Client-Secret-7") and not store.check_app("app-1", "x")
    finally:
        store.close()
