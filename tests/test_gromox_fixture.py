"""The gromox fixture itself: a private instance answers plain exchangelib, and leases never share a mailbox."""

from __future__ import annotations


def test_leased_mailboxes_are_private_and_answer_exchangelib(gromox_server) -> None:
    """Two leases are two different, empty mailboxes that plain exchangelib can sign in to."""
    from tests.gromox import exchangelib_account

    a, b = gromox_server.lease(), gromox_server.lease()
    assert a.email != b.email
    for mb in (a, b):
        acc = exchangelib_account(mb)
        assert acc.inbox.all().count() == 0
        assert acc.version.build.major_version == 15


def test_fresh_server_can_host_the_same_mailbox(gromox_server) -> None:
    """`fresh_server(like=mb)` is another, empty instance where the same address signs in with the same password."""
    from exchangelib import Message

    from tests.gromox import exchangelib_account

    a = gromox_server.lease()
    acc = exchangelib_account(a)
    Message(account=acc, folder=acc.inbox, subject="on A").save()
    b = gromox_server.fresh_server(like=a)
    assert (b.email, b.password) == (a.email, a.password) and b.ews_url != a.ews_url
    assert exchangelib_account(b).inbox.all().count() == 0
    assert acc.inbox.all().count() == 1


def test_keep_alive_deviation_is_still_there(gromox_server) -> None:
    """DEVIATION_KEEPALIVE holds for this gromox build: a request after one of more than 64 KiB on the same
    connection is refused with HTTP 400, and the same request on a new connection is answered (if gromox
    is fixed, this fails and the deviation can go)."""
    import requests

    from tests.gromox import DEVIATION_KEEPALIVE

    mb = gromox_server.lease()
    body = (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
        '<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>{pad}<m:GetFolder><m:FolderShape>'
        "<t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>"
        '<t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></s:Body></s:Envelope>'
    )
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    with requests.Session() as s:
        big = s.post(mb.ews_url, data=body.format(pad=" " * 70_000), auth=(mb.email, mb.password), headers=headers)
        after = s.post(mb.ews_url, data=body.format(pad=""), auth=(mb.email, mb.password), headers=headers)
        again = s.post(mb.ews_url, data=body.format(pad=""), auth=(mb.email, mb.password), headers=headers)
    assert big.status_code == 200
    assert after.status_code == 400 and after.headers.get("Connection", "").lower() == "close", DEVIATION_KEEPALIVE
    assert again.status_code == 200


def test_binary_property_deviation_is_still_there(gromox_server) -> None:
    """DEVIATION_BINARY_PROP holds for this gromox build: a message with a Binary extended property is
    refused as a whole with E-3107, the same message with a String one is created."""
    import pytest
    from exchangelib import ExtendedProperty, Message
    from exchangelib.errors import MalformedResponseError

    from tests.gromox import DEVIATION_BINARY_PROP, exchangelib_account

    class GlobalObjectId(ExtendedProperty):  # PidLidGlobalObjectId (MS-OXPROPS), PSETID_Meeting LID 0x3
        property_set_id = "6ed8da90-450b-101b-98da-00aa003f1305"
        property_id = 0x3
        property_type = "Binary"

    class Location(ExtendedProperty):  # PidLidWhere, PSETID_Meeting LID 0x2, a String
        property_set_id = "6ed8da90-450b-101b-98da-00aa003f1305"
        property_id = 0x2
        property_type = "String"

    acc = exchangelib_account(gromox_server.lease())
    Message.register("gx_goid", GlobalObjectId)
    Message.register("gx_where", Location)
    try:
        with pytest.raises(MalformedResponseError, match="E-3107"):
            Message(account=acc, folder=acc.inbox, subject="binary", gx_goid=b"\x04\x00\x00\x00").save()
        Message(account=acc, folder=acc.inbox, subject="string", gx_where="Room 1").save()
    finally:
        Message.deregister("gx_goid")
        Message.deregister("gx_where")
    # Only the subject: other tests of this process may have registered properties gromox answers in a
    # form exchangelib cannot parse (times with nine fractional digits).
    assert [m.subject for m in acc.inbox.all().only("subject")] == ["string"], DEVIATION_BINARY_PROP


def test_double_property_deviation_is_still_there(gromox_server) -> None:
    """DEVIATION_DOUBLE_PROP holds for this gromox build: FindItem names a calendar item's extended
    property twice (what made verification count duplicates that did not exist)."""
    from datetime import timedelta

    import requests
    from exchangelib import UTC, CalendarItem, EWSDateTime, ExtendedProperty
    from lxml import etree

    from core.mapi.props import PidNamePstImportSourceKey as key
    from tests.gromox import DEVIATION_DOUBLE_PROP, exchangelib_account

    class Stamp(ExtendedProperty):
        property_set_id = str(key.guid)
        property_name = key.key
        property_type = "String"

    mb = gromox_server.lease()
    acc = exchangelib_account(mb)
    CalendarItem.register("gx_stamp", Stamp)
    try:
        start = EWSDateTime(2026, 3, 2, 9, tzinfo=UTC)
        CalendarItem(
            account=acc, folder=acc.calendar, subject="m", start=start, end=start + timedelta(hours=1), gx_stamp="k:1"
        ).save(send_meeting_invitations="SendToNone")
    finally:
        CalendarItem.deregister("gx_stamp")
    uri = f'<t:ExtendedFieldURI PropertySetId="{key.guid}" PropertyName="{key.key}" PropertyType="String"/>'
    body = (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
        '<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body><m:FindItem Traversal="Shallow">'
        f"<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>{uri}</t:AdditionalProperties>"
        '</m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds>'
        "</m:FindItem></s:Body></s:Envelope>"
    )
    reply = requests.post(
        mb.ews_url, data=body, auth=(mb.email, mb.password), headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    t = "{http://schemas.microsoft.com/exchange/services/2006/types}"
    (item,) = etree.fromstring(reply.content).iter(f"{t}CalendarItem")
    assert len(item.findall(f"{t}ExtendedProperty")) == 2, DEVIATION_DOUBLE_PROP


def test_a_dead_sessions_instance_is_stopped_and_removed(tmp_path, monkeypatch) -> None:
    """An instance whose owning test session died (kill -9 of pytest) is stopped and its state removed by
    the next session, so killed runs do not pile up MariaDB and gromox processes."""
    import subprocess
    import tempfile

    from tests.gromox import OWNER_FILE, make_gromox, reap_stale
    from tests.need import SHARED

    if not (SHARED / "gromox" / "stop.sh").is_file():
        from tests.need import missing

        missing("gromox", f"gromox is not at {SHARED / 'gromox'}")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    alive = make_gromox(SHARED)  # owned by this live process: left alone
    gx = make_gromox(SHARED)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (gx.base / OWNER_FILE).write_text(str(dead.pid))  # the owner is gone
    assert reap_stale(SHARED) == 1
    assert not gx.base.exists() and alive.base.exists()
