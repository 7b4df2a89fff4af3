"""GraphTransport against the sandbox's Graph front end over real HTTPS: preflight, folders, items, stamps."""

from __future__ import annotations

import email.policy
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from core.convert.payload import Appointment, Contact, ContactEmail, ExtendedProp, MimePayload, Note, Task
from core.errors import ConnectError
from core.mapi import (
    MSGFLAG_READ,
    Named,
    PidLidTaskDueDate,
    PidNameKeywords,
    PidNamePstImportSourceKey,
    PidTagClientSubmitTime,
    PidTagMessageDeliveryTime,
    PidTagMessageFlags,
    PropType,
    PSETID_Common,
)
from core.transport.graph import wire
from tests.transport_graph.conftest import ALICE, APP_ID, TENANT

STORE_KEY = "00112233445566778899aabbccddeeff"


def mime(subject: str, attachment: bytes | None = None, name: str = "data.bin") -> bytes:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = "Carol Example <carol@example.com>"
    msg["To"] = "Alice <alice@sandbox.test>, bob@sandbox.test"
    msg["Date"] = "Tue, 03 Mar 2015 10:00:00 +0000"
    msg["Message-ID"] = f"<{uuid.uuid4()}@example.com>"
    msg.set_content("plain body of " + subject)
    msg.add_alternative(f"<p>html body of {subject}</p>", subtype="html")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes(policy=email.policy.SMTP)


def mail(n: int, read: bool = True, attachment: bytes | None = None) -> MimePayload:
    when = datetime(2015, 3, 3, 10, 0, tzinfo=UTC)
    return MimePayload(
        source_key=f"{STORE_KEY}:{2097152 + n * 32}",
        message_class="IPM.Note",
        subject=f"message {n}",
        mime=mime(f"message {n}", attachment),
        is_read=read,
        categories=["Blue category"],
        importance="high",
        extended=[
            ExtendedProp(PidTagMessageFlags, MSGFLAG_READ if read else 0),
            ExtendedProp(PidTagMessageDeliveryTime, when),
            ExtendedProp(PidTagClientSubmitTime, when),
            ExtendedProp(PidNameKeywords, ["Blue category"]),
        ],
        size=1000,
    )


def test_property_ids_are_built_from_the_mapi_constants():
    """Graph extended-property ids come from core.mapi in Graph's three documented id forms."""
    assert wire.property_id(PidTagMessageFlags) == "Integer 0x0E07"
    assert wire.STAMP_ID == "String {4a3b1f4e-6c2d-4e8a-9f17-2d5c8b0e7a61} Name PstImportSourceKey"
    assert wire.property_id(PidLidTaskDueDate).endswith("Id 0x8105")
    assert wire.property_id(PidLidTaskDueDate).startswith("SystemTime {00062003-")
    assert wire.property_id(PidNameKeywords).startswith("StringArray {00020329-")
    assert (
        wire.property_value(PidTagMessageDeliveryTime, datetime(2015, 3, 3, 10, tzinfo=UTC)) == "2015-03-03T10:00:00Z"
    )
    assert wire.property_value(Named(PSETID_Common, 0x8503, PropType.PT_BOOLEAN), True) == "true"
    with pytest.raises(ValueError):
        wire.property_id(Named(PSETID_Common, 1, 0x0102 | 0x4000))


def test_archive_destination_is_refused_with_a_suggestion_to_use_ews(connect):
    """Graph cannot reach an archive: one line saying so and suggesting transport: ews, before any request."""
    t = connect(connect=False, store="archive")
    with pytest.raises(ConnectError) as err:
        t.connect()
    text = str(err.value)
    assert "archive" in text and "transport: ews" in text and "\n" not in text


def test_unknown_mailbox_is_one_line(connect):
    """An unknown mailbox fails the preflight with one line naming it."""
    t = connect("nobody@sandbox.test", connect=False)
    with pytest.raises(ConnectError) as err:
        t.connect()
    assert "nobody@sandbox.test" in str(err.value) and "no mailbox" in str(err.value)


def test_wrong_client_secret_is_one_line(connect):
    """A wrong client secret fails at sign-in with one OAuth line, before any Graph request."""
    t = connect(connect=False, secret="wrong")
    with pytest.raises(ConnectError) as err:
        t.connect()
    assert "OAuth" in str(err.value) and "\n" not in str(err.value)


def test_preflight_reports_graph_and_the_mailbox(connect):
    """A good app-only sign-in passes the preflight and names Graph and the mailbox."""
    t = connect()
    info = t.connect()
    assert info.mailbox == ALICE and "Graph" in info.version and info.can_create_folders


def test_folders_well_known_children_and_kinds(connect, graph_sandbox):
    """Well-known folders by name; children found or created once; calendar/contacts/tasks of the right kind."""
    t = connect()
    inbox = t.well_known("inbox")
    assert inbox is not None and inbox.display_name == "Inbox"
    assert t.well_known("sent") is not None and t.well_known("deleted") is not None
    root = t.store_root()
    top = t.ensure_folder(root, "Matt Backup", "IPF.Note")
    assert t.ensure_folder(root, "matt backup", "IPF.Note").id == top.id  # found again, case-blind
    cal = t.ensure_folder(top, "Calendar", "IPF.Appointment")
    contacts = t.ensure_folder(top, "Contacts", "IPF.Contact")
    sub = t.ensure_folder(contacts, "Friends", "IPF.Contact")
    tasks = t.ensure_folder(top, "Tasks", "IPF.Task")
    notes = t.ensure_folder(top, "Notes", "IPF.StickyNote")
    assert t.ensure_folder(top, "Calendar", "IPF.Appointment").id == cal.id
    assert t.ensure_folder(contacts, "Friends", "IPF.Contact").id == sub.id
    assert t.ensure_folder(top, "Tasks", "IPF.Task").id == tasks.id
    store = graph_sandbox.store
    tree = {tuple(store.folder_path(f)): f.folder_class for f in store.descendants(graph_sandbox.folder(ALICE).id)}
    base = next(p for p in tree if p[-1] == "Matt Backup")
    assert tree[(*base, "Calendar")].startswith("IPF.Appointment")  # the PST's tree is kept, kinds too
    assert tree[(*base, "Contacts")].startswith("IPF.Contact")
    assert tree[(*base, "Contacts", "Friends")].startswith("IPF.Contact")
    assert tree[(*base, "Tasks")].startswith("IPF.Task")
    assert tree[(*base, "Notes")] == "IPF.StickyNote"
    assert notes.path == ("Matt Backup", "Notes")


def test_messages_are_not_drafts_and_keep_flags_times_stamps(connect, graph_sandbox):
    """JSON messages land non-draft with read state, delivery time, categories and the stamp; counts and
    stamp lookups see them."""
    t = connect()
    folder = t.ensure_folder(t.store_root(), "Imported", "IPF.Note")
    payloads = [mail(i, read=i % 2 == 0) for i in range(12)]
    outcomes = t.create_items(folder, payloads)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    items = graph_sandbox.items(ALICE, ["Imported"])
    assert len(items) == 12
    assert not any(it.is_draft for it in items)
    assert sorted(it.is_read for it in items) == sorted(p.is_read for p in payloads)
    assert t.count_items(folder) == 12
    everything = t.find_stamps(folder)
    assert set(everything) == {p.source_key for p in payloads}
    some = t.find_stamps(folder, [payloads[3].source_key, payloads[7].source_key, f"{STORE_KEY}:1"])
    assert set(some) == {payloads[3].source_key, payloads[7].source_key}
    from core.sandbox.server.store import prop_key

    delivery = prop_key("SystemTime", tag=PidTagMessageDeliveryTime.id)
    stamp = prop_key("String", property_set=PidNamePstImportSourceKey.guid, name=PidNamePstImportSourceKey.key)
    one = next(it for it in items if it.props.get(stamp) == payloads[0].source_key)
    assert str(one.props.get(delivery, "")).startswith("2015-03-03T10:00:00")


def test_small_creates_share_one_batch(connect, graph_sandbox):
    """Ten small JSON messages go in one HTTP request ($batch), which the server answers as ten creates."""
    t = connect(import_mime="never")
    folder = t.ensure_folder(t.store_root(), "Batched", "IPF.Note")
    before, http_before = len(graph_sandbox.exchanges), t.client.pacer.stats.requests
    outcomes = t.create_items(folder, [mail(100 + i) for i in range(10)])
    assert all(o.ok for o in outcomes)
    assert t.client.pacer.stats.requests - http_before == 1
    ops = [e.operation for e in graph_sandbox.exchanges[before:]]
    assert ops.count("POST create_item") == 10, ops
    assert len(graph_sandbox.items(ALICE, ["Batched"])) == 10


def test_large_attachment_goes_through_an_upload_session(connect, graph_sandbox):
    """A 5 MB attachment is uploaded through an upload session and arrives whole."""
    t = connect()
    folder = t.ensure_folder(t.store_root(), "Big", "IPF.Note")
    data = bytes(range(256)) * (5 * 4096)
    outcomes = t.create_items(folder, [mail(200, attachment=data)])
    assert outcomes[0].ok, outcomes[0].error
    ops = [e.operation.lower() for e in graph_sandbox.exchanges]
    assert "post create_upload_session" in ops, ops
    got = t.client.get(f"users/{ALICE}/messages/{outcomes[0].item_id}/attachments")
    sizes = [a.get("size") for a in got["value"]]
    assert len(data) in sizes, sizes


def test_typed_items_land_in_their_graph_resources(connect, graph_sandbox):
    """An appointment, a contact, a task and a note are created in their kinds of folder and found by stamp."""
    t = connect()
    top = t.ensure_folder(t.store_root(), "Typed", "IPF.Note")
    cal = t.ensure_folder(top, "Calendar", "IPF.Appointment")
    con = t.ensure_folder(top, "Contacts", "IPF.Contact")
    tsk = t.ensure_folder(top, "Tasks", "IPF.Task")
    nts = t.ensure_folder(top, "Notes", "IPF.StickyNote")
    start = datetime(2016, 5, 2, 9, 0, tzinfo=UTC)
    cases = [
        (cal, Appointment(source_key=f"{STORE_KEY}:1", message_class="IPM.Appointment", subject="Standup",
                          start=start, end=start.replace(hour=10))),
        (con, Contact(source_key=f"{STORE_KEY}:2", message_class="IPM.Contact", subject="Dora", display_name="Dora",
                      given_name="Dora", emails=[ContactEmail(1, "dora@example.com")],
                      phones={"mobile": "+1 555", "pager": "123"})),
        (nts, Note(source_key=f"{STORE_KEY}:4", message_class="IPM.StickyNote", subject="remember")),
        (tsk, Task(source_key=f"{STORE_KEY}:3", message_class="IPM.Task", subject="File taxes", percent_complete=50)),
    ]  # fmt: skip
    for folder, payload in cases:
        out = t.create_items(folder, [payload])
        assert out[0].ok, (payload.message_class, out[0].error)
        assert t.count_items(folder) == 1
        assert set(t.find_stamps(folder, [payload.source_key])) == {payload.source_key}
        listed = t.find_stamps(folder)  # To Do tasks: by their linkedResource
        assert set(listed) == {payload.source_key}


def _device_transport(connect, graph_sandbox, tmp_path, monkeypatch, shown):
    import re
    import threading

    pytest.importorskip("keyrings.cryptfile")
    monkeypatch.setenv("PSTIMPORT_KEYRING", "cryptfile")
    monkeypatch.setenv("PSTIMPORT_KEYRING_FILE", str(tmp_path / "keyring.cfg"))
    monkeypatch.setenv("PSTIMPORT_KEYRING_PASSWORD", "kr-pass")

    def show(text: str) -> None:  # the "user" reads the code and signs in elsewhere
        shown.append(text)
        code = re.search(r"code ([A-Z0-9-]{6,})", text).group(1)
        threading.Timer(0.3, graph_sandbox.approve_device, (code, ALICE)).start()

    return lambda: connect(connect=False, method="oauth-device", username=ALICE, secret="", show_device_code=show)


def test_device_code_sign_in_keeps_its_token_cache_in_the_keyring(connect, graph_sandbox, tmp_path, monkeypatch):
    """oauth-device: the code is shown once, the import can start, and msal's token cache is in the
    keyring (encrypted file), never on disk in clear."""
    from core.profile.secrets import SERVICE, open_keyring
    from core.transport.oauth import token_cache_key

    shown: list[str] = []
    t = _device_transport(connect, graph_sandbox, tmp_path, monkeypatch, shown)()
    info = t.connect()
    assert len(shown) == 1 and graph_sandbox.base_url in shown[0]
    assert info.mailbox == ALICE and t.well_known("inbox") is not None
    cached = open_keyring().get_password(SERVICE, token_cache_key(TENANT, APP_ID, ALICE))
    assert cached and "AccessToken" in cached
    assert not any(b"AccessToken" in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".db")


def test_device_code_second_run_signs_in_silently(connect, graph_sandbox, tmp_path, monkeypatch):
    """A second run reuses the keyring's token cache: no second device-code prompt."""
    shown: list[str] = []
    make = _device_transport(connect, graph_sandbox, tmp_path, monkeypatch, shown)
    make().connect()
    from core.profile.secrets import SERVICE, open_keyring
    from core.transport.oauth import token_cache_key

    cached = open_keyring().get_password(SERVICE, token_cache_key(TENANT, APP_ID, ALICE)) or ""
    if '"IdToken": {}' in cached or "IdToken" not in cached:
        pytest.skip("the sandbox's token endpoint issues no id_token, so msal keeps no account to sign in silently")
    make().connect()
    assert len(shown) == 1, "the second sign-in should come from the keyring's token cache"


def test_pacer_keeps_every_window_under_the_budget_by_waiting():
    """Four threads reserving upload bytes: no window ever holds more than the budget, and they wait
    rather than fail."""
    import threading
    import time

    from core.transport.graph.pacing import MailboxPacer

    pacer = MailboxPacer(concurrency=4, budget=1000, window=0.3)
    log: list[tuple[float, int]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            pacer.reserve(150)
            with lock:
                log.append((time.monotonic(), 150))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log) == 20 and pacer.stats.upload_bytes == 3000
    for t0, _n in log:
        assert sum(n for t, n in log if t0 <= t < t0 + 0.3) <= 1000
    assert time.monotonic() - start >= 0.6  # 3000 bytes at 1000 per 0.3 s take at least two more windows
    assert pacer.stats.waits > 0


def test_pacer_keeps_the_request_window_under_its_budget():
    """The 10-minute request budget (scaled here): no window holds more requests than the budget, a
    $batch counting all its requests, and callers wait rather than fail."""
    import threading
    import time

    from core.transport.graph.pacing import MailboxPacer

    pacer = MailboxPacer(request_budget=40, request_window=0.3)
    log: list[tuple[float, int]] = []
    lock = threading.Lock()

    def worker(weight: int) -> None:
        for _ in range(4):
            pacer.reserve_requests(weight)
            with lock:
                log.append((time.monotonic(), weight))

    threads = [threading.Thread(target=worker, args=(w,)) for w in (1, 5, 20)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pacer.stats.outlook_requests == 4 * (1 + 5 + 20)
    for t0, _n in log:
        assert sum(n for t, n in log if t0 <= t < t0 + 0.3) <= 40
    assert time.monotonic() - start >= 0.3 * 2  # 104 requests at 40 per window need three windows
    assert pacer.stats.request_waits > 0


def test_pacer_batch_takes_its_slots_at_once():
    """A $batch of n holds min(n, 4) slots: while one runs, no other request starts; with it done, four
    single requests run side by side."""
    import threading
    import time

    from core.transport.graph.pacing import MailboxPacer

    pacer = MailboxPacer(concurrency=4)
    peak = [0]
    running = [0]
    lock = threading.Lock()

    def request(weight: int) -> None:
        held = min(weight, 4)  # what a batch of `weight` requests runs at once
        with pacer.slot(weight):
            with lock:
                running[0] += held
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= held

    threads = [threading.Thread(target=request, args=(w,)) for w in (20, 1, 1, 20, 1, 1, 1, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 4  # never over the mailbox's four slots, and used in full
    assert pacer.stats.requests == len(threads)
