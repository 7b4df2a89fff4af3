"""Client assertions (RFC 7523 JWTs signed with an app's certificate), checked as Entra ID does.

An app registered with a certificate signs in with `client_assertion_type=...jwt-bearer` and
`client_assertion=<JWT>`: header `alg` RS256 (with `x5t`, the certificate's SHA-1 thumbprint) or
PS256 (with `x5t#S256`), claims `aud` = the token endpoint, `iss` = `sub` = the client id, and an
`exp` in the future. The signature is verified with the registered certificate's public key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW_S = 300


class AssertionRefused(Exception):
    """The assertion is refused; the message is Entra ID's AADSTS text."""


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprints(cert_pem: bytes) -> tuple[str, str]:
    """(x5t, x5t#S256) of a PEM certificate, base64url without padding, as they appear in a JWT header."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    sha1 = cert.fingerprint(hashes.SHA1())  # noqa: S303 - Entra ID's x5t is SHA-1 by definition
    sha256 = cert.fingerprint(hashes.SHA256())
    enc = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()  # noqa: E731
    return enc(sha1), enc(sha256)


def verify_assertion(token: str, client_id: str, audience: str, certificates: list[bytes]) -> None:
    """Check `token` for `client_id` at the token endpoint `audience` against the app's PEM certificates.

    Raises:
        AssertionRefused: with the reason, worded like Entra ID's AADSTS errors.
    """
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        header = json.loads(_b64url(head_b64))
        claims = json.loads(_b64url(claims_b64))
        signature = _b64url(sig_b64)
    except (ValueError, binascii.Error):
        raise AssertionRefused("AADSTS50027: JWT token is invalid or malformed.") from None
    by_thumb = {}
    for pem in certificates:
        t1, t256 = thumbprints(pem)
        by_thumb[("x5t", t1)] = by_thumb[("x5t#S256", t256)] = pem
    # Compared without base64 padding, which some clients (msal) keep and RFC 7515 drops.
    pem = by_thumb.get(("x5t#S256", str(header.get("x5t#S256", "")).rstrip("="))) or by_thumb.get(
        ("x5t", str(header.get("x5t", "")).rstrip("="))
    )
    if pem is None:
        raise AssertionRefused(
            f"AADSTS700027: The certificate with identifier used to sign the client assertion is not "
            f"registered on application {client_id}."
        )
    key = x509.load_pem_x509_certificate(pem).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise AssertionRefused("AADSTS700027: Client assertion contains an invalid signature.")
    alg = header.get("alg")
    if alg == "RS256":
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
    elif alg == "PS256":
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    else:
        raise AssertionRefused(f"AADSTS5002738: Invalid JWT token. '{alg}' is not a supported signature algorithm.")
    try:
        key.verify(signature, f"{head_b64}.{claims_b64}".encode(), pad, hashes.SHA256())
    except InvalidSignature:
        raise AssertionRefused("AADSTS700027: Client assertion contains an invalid signature.") from None
    now = time.time()
    if claims.get("aud") != audience:
        raise AssertionRefused(f"AADSTS700016: The audience claim '{claims.get('aud')}' is not {audience}.")
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionRefused("AADSTS700023: Client assertion audience claim does not match the client id.")
    if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < now - CLOCK_SKEW_S:
        raise AssertionRefused("AADSTS700024: Client assertion is not within its valid time range.")
    if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > now + CLOCK_SKEW_S:
        raise AssertionRefused("AADSTS700024: Client assertion is not within its valid time range.")


def make_app_certificate(path: Path, name: str) -> bytes:
    """A self-signed app certificate and its private key in one PEM file at `path` (what a profile's
    `certificate` names); returns the certificate PEM, to register with `Sandbox.add_app_certificate`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(key_pem + cert_pem)
    return cert_pem
