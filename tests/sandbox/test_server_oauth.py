"""The sandbox's OAuth endpoints, driven by unpatched msal (what the Graph and oauth-* paths use)."""

from __future__ import annotations

import re
import threading

import msal
import pytest
import requests

from tests.sandbox.conftest import ALICE, APP_ID, APP_SECRET, PASSWORD
from tests.sandbox.test_server_faults import GET_INBOX

SCOPE = ["https://outlook.office365.com/.default"]


@pytest.fixture
def authority(tls_sandbox) -> str:
    return f"{tls_sandbox.base_url}/contoso"


def test_msal_client_credentials(tls_sandbox, authority):
    """msal's client-credentials flow gets an app token, which EWS accepts with impersonation only."""
    app = msal.ConfidentialClientApplication(
        APP_ID, client_credential=APP_SECRET, authority=authority, validate_authority=False, instance_discovery=False
    )
    result = app.acquire_token_for_client(scopes=SCOPE)
    assert result.get("token_type") == "Bearer", result
    headers = {"Authorization": f"Bearer {result['access_token']}", "Content-Type": "text/xml"}
    reply = requests.post(tls_sandbox.ews_url, data=GET_INBOX, headers=headers, timeout=10)
    assert reply.status_code == 500 and b"ErrorInvalidExchangeImpersonationHeaderData" in reply.content
    impersonating = GET_INBOX.replace(
        b"</s:Header>",
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{ALICE}"
        f"</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></s:Header>".encode(),
    )
    assert requests.post(tls_sandbox.ews_url, data=impersonating, headers=headers, timeout=10).status_code == 200


def test_msal_wrong_secret(tls_sandbox, authority):
    """A wrong client secret comes back as msal's invalid_client error, not a token."""
    app = msal.ConfidentialClientApplication(
        APP_ID, client_credential="wrong", authority=authority, validate_authority=False, instance_discovery=False
    )
    assert app.acquire_token_for_client(scopes=SCOPE).get("error") == "invalid_client"


def test_msal_device_code_flow(tls_sandbox, authority):
    """Device code: msal polls while a 'browser' signs in on the sandbox's verification page."""
    app = msal.PublicClientApplication(APP_ID, authority=authority, validate_authority=False, instance_discovery=False)
    flow = app.initiate_device_flow(scopes=["https://outlook.office365.com/EWS.AccessAsUser.All"])
    assert flow["user_code"] in flow["message"] and flow["verification_uri"].startswith(tls_sandbox.base_url)
    page = requests.get(flow["verification_uri"], timeout=10)
    assert page.status_code == 200 and "<form" in page.text

    def browser() -> None:
        bad = requests.post(
            flow["verification_uri"],
            timeout=10,
            data={"user_code": flow["user_code"], "username": ALICE, "password": "nope"},
        )
        assert bad.status_code == 400
        requests.post(
            flow["verification_uri"],
            timeout=10,
            data={"user_code": flow["user_code"], "username": ALICE, "password": PASSWORD},
        )

    signer = threading.Timer(1.5, browser)
    signer.start()
    result = app.acquire_token_by_device_flow(flow)
    signer.join()
    assert result.get("token_type") == "Bearer", result
    found = tls_sandbox.store.token(result["access_token"])
    assert found is not None and found[:2] == (ALICE, "user")
    reply = requests.post(
        tls_sandbox.ews_url,
        data=GET_INBOX,
        timeout=10,
        headers={"Authorization": f"Bearer {result['access_token']}", "Content-Type": "text/xml"},
    )
    assert reply.status_code == 200


def test_openid_configuration(tls_sandbox, authority):
    """The discovery document points at the sandbox's own endpoints."""
    doc = requests.get(f"{authority}/v2.0/.well-known/openid-configuration", timeout=10).json()
    assert doc["token_endpoint"] == f"{authority}/oauth2/v2.0/token"
    assert doc["device_authorization_endpoint"] == f"{authority}/oauth2/v2.0/devicecode"
    assert re.match(r"https://127\.0\.0\.1:\d+/contoso/v2\.0", doc["issuer"])


def test_device_code_second_run_is_silent(tls_sandbox, authority):
    """A user token comes with an id_token and client_info, so msal keeps an account and a second
    acquire_token_silent needs no new sign-in."""
    app = msal.PublicClientApplication(APP_ID, authority=authority, validate_authority=False, instance_discovery=False)
    flow = app.initiate_device_flow(scopes=["https://graph.microsoft.com/Mail.ReadWrite"])
    threading.Timer(0.3, tls_sandbox.approve_device, (flow["user_code"], ALICE)).start()
    first = app.acquire_token_by_device_flow(flow)
    assert first.get("access_token"), first
    assert first["id_token_claims"]["preferred_username"] == ALICE
    accounts = app.get_accounts(username=ALICE)
    assert len(accounts) == 1
    again = app.acquire_token_silent(["https://graph.microsoft.com/Mail.ReadWrite"], account=accounts[0])
    assert again and again["access_token"] == first["access_token"]
