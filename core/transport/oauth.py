"""OAuth through msal for every transport: app-only (client secret or certificate) and delegated
(device code), with the delegated token cache in the keyring.

The transports say which scopes they need (EWS: outlook.office365.com, Graph:
graph.microsoft.com); everything else is shared. The delegated token cache lives in the keyring,
never on disk in clear. `PSTIMPORT_AUTHORITY_HOST` points msal at another authority (a sovereign
cloud, or the sandbox); by default it is https://login.microsoftonline.com.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConnectError
from core.redact import register_secret

log = logging.getLogger(__name__)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
AUTHORITY_ENV = "PSTIMPORT_AUTHORITY_HOST"
# How long one request to the sign-in authority waits for an answer (msal waits forever by default).
AUTHORITY_TIMEOUT_SECONDS = 30.0


@dataclass
class OAuthSettings:
    method: str  # oauth-app | oauth-device
    tenant_id: str | None
    client_id: str
    client_secret: str | None = None
    certificate: Path | None = None
    certificate_password: str | None = None
    username: str | None = None
    verify: bool | str = True
    """TLS verification for the authority: False, True, or a CA bundle path."""
    app_scopes: tuple[str, ...] = ()
    """Scopes asked for with the client credential (`<resource>/.default`)."""
    delegated_scopes: tuple[str, ...] = ()
    """Scopes asked for in the device-code sign-in."""


class MsalTokenSource:
    """Gets and renews access tokens with msal; thread-safe."""

    def __init__(
        self,
        settings: OAuthSettings,
        *,
        show_device_code: Callable[[str], None] | None = None,
        cache_load: Callable[[], str | None] | None = None,
        cache_save: Callable[[str], None] | None = None,
    ) -> None:
        import msal

        self.settings = settings
        self._lock = threading.Lock()
        host = os.environ.get(AUTHORITY_ENV, DEFAULT_AUTHORITY_HOST).rstrip("/")
        tenant = settings.tenant_id or "organizations"
        authority = f"{host}/{tenant}"
        self._cache = msal.SerializableTokenCache()
        self._cache_save = cache_save
        if cache_load is not None:
            state = cache_load()
            if state:
                self._cache.deserialize(state)
        validate = host == DEFAULT_AUTHORITY_HOST
        try:
            if settings.method == "oauth-app":
                credential: object
                if settings.certificate is not None:
                    credential = _certificate_credential(settings.certificate, settings.certificate_password)
                else:
                    credential = settings.client_secret
                self._app = msal.ConfidentialClientApplication(
                    settings.client_id,
                    client_credential=credential,
                    authority=authority,
                    validate_authority=validate,
                    token_cache=self._cache,
                    instance_discovery=validate,
                    http_client=_session(settings.verify),
                    timeout=AUTHORITY_TIMEOUT_SECONDS,
                )
            else:
                self._app = msal.PublicClientApplication(
                    settings.client_id,
                    authority=authority,
                    validate_authority=validate,
                    token_cache=self._cache,
                    instance_discovery=validate,
                    http_client=_session(settings.verify),
                    timeout=AUTHORITY_TIMEOUT_SECONDS,
                )
        except Exception as exc:  # msal raises ValueError and requests errors for a bad authority
            raise ConnectError(_authority_error(exc, authority)) from None
        self._show = show_device_code or (lambda text: print(text, flush=True))

    def token(self) -> dict:
        """A token dict (access_token, token_type, expires_in)."""
        with self._lock:
            try:
                result = self._acquire()
            except Exception as exc:  # noqa: BLE001 - requests/msal failures reaching the authority
                raise ConnectError(_authority_error(exc), transient=_authority_transient(exc)) from None
            if self._cache_save is not None and self._cache.has_state_changed:
                self._cache_save(self._cache.serialize())
        if "access_token" not in result:
            reason = result.get("error_description") or result.get("error") or "no token"
            raise ConnectError(f"OAuth sign-in failed: {' '.join(str(reason).split())[:300]}")
        register_secret(result["access_token"])
        register_secret(result.get("refresh_token"))
        return {
            "access_token": result["access_token"],
            "token_type": "Bearer",
            "expires_in": int(result.get("expires_in", 3600)),
        }

    def _acquire(self) -> dict:
        if self.settings.method == "oauth-app":
            return self._app.acquire_token_for_client(scopes=list(self.settings.app_scopes))
        accounts = self._app.get_accounts(username=self.settings.username) if self.settings.username else []
        if not accounts:
            # A sign-in hint that differs from the account's own name (an alias, another UPN):
            # the only account in this cache is still the one that signed in for this profile.
            everyone = self._app.get_accounts()
            accounts = everyone if len(everyone) == 1 else []
        if accounts:
            result = self._app.acquire_token_silent(list(self.settings.delegated_scopes), account=accounts[0])
            if result and "access_token" in result:
                return result
        flow = self._app.initiate_device_flow(scopes=list(self.settings.delegated_scopes))
        if "user_code" not in flow:
            return flow
        self._show(flow.get("message") or f"Sign in at {flow.get('verification_uri')} with code {flow['user_code']}")
        return self._app.acquire_token_by_device_flow(flow)


def _authority_transient(exc: BaseException) -> bool:
    """Whether a failure to reach the authority may pass (a timeout, a dropped connection), unlike
    a refused connection, an unknown host or a TLS failure."""
    text = f"{type(exc).__name__} {exc}".lower()
    if any(w in text for w in ("refused", "name or service", "resolve", "no route", "certificate", "ssl")):
        return False
    return any(w in text for w in ("timeout", "timed out", "connectionerror", "disconnected", "reset", "aborted"))


def _authority_error(exc: BaseException, host: str | None = None) -> str:
    """One line for a failure to reach the sign-in authority (TLS, network)."""
    host = host or os.environ.get(AUTHORITY_ENV, DEFAULT_AUTHORITY_HOST)
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in type(exc).__name__ or "certificate" in text.lower():
        return (
            f"OAuth: the TLS certificate of the sign-in authority {host} was not accepted ({text}): set ca_bundle "
            "to your CA's PEM file, or verify_tls: false for a lab server you trust"
        )
    return f"OAuth: cannot reach the sign-in authority {host} ({text}): check the network, proxy and firewall"


def token_cache_key(tenant_id: str | None, client_id: str | None, user: str) -> str:
    """The keyring entry holding the delegated token cache of one app and user (shared by transports:
    one device-code sign-in serves EWS and Graph, msal keeps a token per resource in it)."""
    return f"oauth-token-cache:{tenant_id or 'organizations'}:{client_id}:{user.lower()}"


def keyring_token_cache(key: str) -> tuple[Callable[[], str | None], Callable[[str], None]]:
    """(load, save) for `MsalTokenSource`: the token cache in the keyring entry `key`.

    Without a usable keyring, load gives None and save only warns: the user signs in again next time.
    """

    def load() -> str | None:
        try:
            from core.profile.secrets import SERVICE, open_keyring

            return open_keyring().get_password(SERVICE, key)
        except Exception:  # noqa: BLE001 - no keyring: sign in again next time
            return None

    def save(state: str) -> None:
        try:
            from core.profile.secrets import SERVICE, open_keyring

            open_keyring().set_password(SERVICE, key, state)
        except Exception:  # noqa: BLE001
            log.warning("the sign-in could not be kept in the keyring; you will be asked again next run")

    return load, save


def _session(verify: bool | str) -> object:
    """A requests session that keeps our TLS choice (`core.transport.tls.verify_for`, which already
    adds REQUESTS_CA_BUNDLE to the public CAs): requests would let that variable replace a session's
    own `verify`, silently dropping a profile's ca_bundle."""
    import requests

    class PinnedVerifySession(requests.Session):
        def merge_environment_settings(self, url, proxies, stream, verify, cert):  # noqa: ANN001, ANN202
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            merged["verify"] = verify if verify is not None and verify is not True else self.verify
            return merged

    session = PinnedVerifySession()
    session.verify = verify
    return session


def _certificate_credential(path: Path, password: str | None) -> dict:
    """msal's client_credential for a PEM with the private key and the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConnectError(f"{path}: cannot read the certificate: {exc.strerror}") from None
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ConnectError(f"{path}: no PEM certificate found (the file needs the key and the certificate)") from None
    thumbprint = cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - Entra ID identifies certs by SHA-1
    cred = {"private_key": pem.decode("ascii", "replace"), "thumbprint": thumbprint}
    if password:
        cred["passphrase"] = password
    return cred
