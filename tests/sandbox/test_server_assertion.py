"""The sandbox authority's client-assertion check (RFC 7523 JWTs signed with an app's certificate)."""

from __future__ import annotations

import base64
import json

import pytest
from msal.oauth2cli.assertion import JwtAssertionCreator

from core.sandbox.server.assertion import AssertionRefused, make_app_certificate, thumbprints, verify_assertion

AUD = "https://127.0.0.1:1/contoso/oauth2/v2.0/token"
APP = "app-1"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(key+certificate PEM, certificate PEM) of a throw-away app certificate."""
    path = tmp_path_factory.mktemp("cert") / "app.pem"
    cert = make_app_certificate(path, "app")
    return path.read_bytes(), cert


def _sign(keys: tuple[bytes, bytes], algorithm: str = "RS256", **claims: object) -> str:
    key_pem, cert = keys
    x5t, x5t256 = thumbprints(cert)
    thumb = base64.urlsafe_b64decode(x5t + "=" * (-len(x5t) % 4)).hex()
    thumb256 = base64.urlsafe_b64decode(x5t256 + "=" * (-len(x5t256) % 4)).hex()
    creator = (
        JwtAssertionCreator(key_pem.decode(), "RS256", sha1_thumbprint=thumb)
        if algorithm == "RS256"
        else JwtAssertionCreator(key_pem.decode(), "PS256", sha256_thumbprint=thumb256)
    )
    jwt = creator.create_normal_assertion(audience=claims.pop("aud", AUD), issuer=APP, additional_claims=claims)
    return jwt.decode() if isinstance(jwt, bytes) else jwt


@pytest.mark.parametrize("algorithm", ["RS256", "PS256"])
def test_a_well_signed_assertion_is_accepted(keys, algorithm):
    """msal's RS256 (x5t) and PS256 (x5t#S256) assertions verify against the registered certificate."""
    verify_assertion(_sign(keys, algorithm), APP, AUD, [keys[1]])


def test_tampered_claims_break_the_signature(keys):
    """Changing a claim after signing is caught by the signature check."""
    head, claims, sig = _sign(keys).split(".")
    body = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    body["exp"] += 3600
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    with pytest.raises(AssertionRefused, match="invalid signature"):
        verify_assertion(f"{head}.{forged}.{sig}", APP, AUD, [keys[1]])


def test_wrong_audience_client_or_expired_are_refused(keys):
    """The audience must be this token endpoint, issuer/subject the client, and the assertion unexpired."""
    with pytest.raises(AssertionRefused, match="AADSTS700016"):
        verify_assertion(_sign(keys, aud="https://elsewhere/token"), APP, AUD, [keys[1]])
    with pytest.raises(AssertionRefused, match="AADSTS700023"):
        verify_assertion(_sign(keys), "another-app", AUD, [keys[1]])
    with pytest.raises(AssertionRefused, match="AADSTS700024"):
        verify_assertion(_sign(keys, exp=1), APP, AUD, [keys[1]])
    with pytest.raises(AssertionRefused, match="AADSTS50027"):
        verify_assertion("not-a-jwt", APP, AUD, [keys[1]])
