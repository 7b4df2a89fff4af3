"""Autodiscover end to end: unpatched exchangelib finds the sandbox from an e-mail address alone.

exchangelib is configured only through its public knobs: the DNS resolver attributes of
`Autodiscovery` (pointed at the sandbox's DNS responder) and `BaseProtocol.HTTP_ADAPTER_CLS`
(a transport adapter mapping sandbox.test to 127.0.0.1:port). TLS is verified against the
sandbox's CA, for the names the client asked for.
"""

from __future__ import annotations

import pytest
import requests
from exchangelib import NTLM, Account, Credentials, Message
from exchangelib.autodiscover import Autodiscovery, clear_cache
from exchangelib.protocol import BaseProtocol, close_connections

from core.sandbox.server.hostmap import host_map_adapter
from tests.sandbox.conftest import ALICE, BOB, BOB_PASSWORD, PASSWORD, SERVER_SCHEMA, SERVICE, SERVICE_PASSWORD
from tests.sandbox.test_server_session import _register_props, import_session  # noqa: F401 - a fixture


@pytest.fixture
def mapped(tmp_path, schema_checker, monkeypatch):
    """A TLS sandbox reachable as sandbox.test and autodiscover.sandbox.test, via DNS and the adapter."""
    from core.sandbox.server.app import Sandbox

    sb = Sandbox(
        tmp_path / "state",
        users={ALICE: PASSWORD, BOB: BOB_PASSWORD, SERVICE: SERVICE_PASSWORD},
        archives=[ALICE],
        impersonators=[SERVICE],
        tls=True,
        dns=True,
        hostnames=["sandbox.test", "autodiscover.sandbox.test"],
        schema_dir=SERVER_SCHEMA,
        on_exchange=schema_checker,
    ).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sb.ca_cert))
    monkeypatch.setattr(Autodiscovery, "DNS_RESOLVER_KWARGS", {"configure": False})
    monkeypatch.setattr(
        Autodiscovery, "DNS_RESOLVER_ATTRS", {"port": sb.dns_port, "nameservers": ["127.0.0.1"], "timeout": 2}
    )  # port first
    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", host_map_adapter(sb.host_map()))
    clear_cache()
    try:
        yield sb
    finally:
        clear_cache()
        close_connections()
        sb.stop()


def test_autodiscover_then_import(mapped):
    """From alice@sandbox.test alone: Autodiscover (SOAP GetUserSettings), then a whole import session."""
    acc = Account(ALICE, credentials=Credentials(ALICE, PASSWORD), autodiscover=True)
    assert acc.protocol.service_endpoint == "https://sandbox.test/EWS/Exchange.asmx"
    assert acc.protocol.auth_type == NTLM
    assert acc.ad_response.autodiscover_smtp_address == ALICE
    import_session(acc, archive=False, tag="ad1")
    import_session(acc, archive=True, tag="ad2")
    res = acc.bulk_create(
        folder=acc.archive_inbox,
        items=[Message(folder=acc.archive_inbox, mime_content=b"Subject: via autodiscover\r\n\r\nx\r\n")],
    )
    assert not isinstance(res[0], Exception)
    assert [i.subject for i in mapped.items(ALICE, "Inbox", archive=True)] == ["via autodiscover"]
    assert any(e.operation == "CreateItem" for e in mapped.exchanges)


def test_autodiscover_with_impersonation(mapped):
    """A service account autodiscovers alice's mailbox and impersonates her."""
    from exchangelib import IMPERSONATION

    acc = Account(
        ALICE, credentials=Credentials(SERVICE, SERVICE_PASSWORD), autodiscover=True, access_type=IMPERSONATION
    )
    assert acc.inbox.total_count == 0
    import_session(acc, archive=True, tag="ad3")


def test_tls_is_verified_against_the_sandbox_ca(mapped, monkeypatch):
    """Without the sandbox CA the TLS check fails; with it (ca_bundle) it passes."""
    url = f"https://127.0.0.1:{mapped.port}/EWS/Exchange.asmx"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(requests.exceptions.SSLError):
        requests.head(url, timeout=10, verify=True)
    assert requests.head(url, timeout=10, verify=str(mapped.ca_cert)).status_code == 200
    assert requests.head(url, timeout=10, verify=False).status_code == 200
