"""The sandbox server: real HTTP(S) on 127.0.0.1 in front of the store.

    with Sandbox(tmp_path, users={"alice@sandbox.test": "pw"}) as sb:
        sb.ews_url, sb.autodiscover_url, sb.token_url()
        sb.set_knobs(busy_next=2)

Endpoints: `/EWS/Exchange.asmx` (EWS), `/autodiscover/autodiscover.svc` (SOAP Autodiscover),
`/{tenant}/oauth2/v2.0/token` (OAuth token endpoint: client_credentials with a secret or a
certificate's signed client assertion, password, device-code and refresh_token grants),
`/{tenant}/oauth2/v2.0/devicecode` with its sign-in page `/{tenant}/oauth2/deviceauth`,
and `/{tenant}/v2.0/.well-known/openid-configuration` (what msal reads).

Authentication like an IIS-hosted Exchange: Basic, NTLM (connection-based: once a
keep-alive connection has passed the NTLM handshake, its later requests are that user's)
and Bearer tokens that this sandbox issued. Wrong credentials get 401.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import logging
import re
import secrets
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from core.sandbox.server import ntlm
from core.sandbox.server.assertion import JWT_BEARER, AssertionRefused, verify_assertion
from core.sandbox.server.autodiscover import handle_get_user_settings
from core.sandbox.server.ews import DEFAULT_FLAVOUR, FLAVOURS, EwsFault, EwsService, Principal
from core.sandbox.server.graph import GRAPH_VERSIONS, UPLOAD_PATH, GraphError, GraphRequest, GraphService
from core.sandbox.server.hostmap import DnsResponder
from core.sandbox.server.knobs import Knobs, KnobState, ews_refused
from core.sandbox.server.schema import RequestSchema
from core.sandbox.server.store import Folder, Item, Store, prop_key

log = logging.getLogger(__name__)

EWS_PATH = "/ews/exchange.asmx"
AUTODISCOVER_PATH = "/autodiscover/autodiscover.svc"
_IMPERSONATED = re.compile(
    rb"<(?:\w+:)?ExchangeImpersonation\b.*?<(?:\w+:)?(?:PrimarySmtpAddress|SmtpAddress|PrincipalName)>([^<]+)<",
    re.DOTALL,
)
_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
_OIDC_PATH = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$")
_DEVICECODE_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/devicecode$")
_DEVICEAUTH_PATH = re.compile(r"^/([^/]+)/oauth2/deviceauth$")
_USERREALM_PATH = re.compile(r"^/common/userrealm/([^/?]+)$")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CODE_LIFETIME_S = 900
DEVICE_POLL_INTERVAL_S = 1  # Entra says 5; tests and demos need not wait that long
_DEVICE_PAGE = """<!doctype html><html><head><title>pstimport sandbox sign-in</title></head><body>
<h1>pstimport sandbox: sign in a device</h1><p>{message}</p>
<form method="post"><p><label>Code <input name="user_code" value="{code}"></label></p>
<p><label>User <input name="username"></label></p>
<p><label>Password <input name="password" type="password"></label></p>
<p><button type="submit">Sign in</button></p></form></body></html>"""
TOKEN_LIFETIME_S = 3600
AUTH_METHODS = ("ntlm", "basic", "bearer")
MAX_EXCHANGES_KEPT = 100_000

ExchangeHook = Callable[[bytes, bytes], None]


@dataclass(frozen=True)
class Exchange:
    """One EWS request as the server saw it (for tests: what came, when, what it got)."""

    time: float
    operation: str
    outcome: str  # ok | busy | drop | error | refused (over max_concurrency) | fault | budget (Graph upload budget)
    principal: str
    protocol: str = "ews"  # ews | graph
    mailbox: str = ""  # Graph: the mailbox acted on
    status: int = 0  # Graph: the HTTP status answered
    nbytes: int = 0  # Graph: the request body's size


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: Sandbox


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: NTLM authenticates a connection
    disable_nagle_algorithm = True  # an answer must leave at once, not wait for the client's ACK
    # Buffered: an answer's status line, headers and body leave in one send when the request is done
    # (BaseHTTPRequestHandler flushes after each request), not two or three.
    wbufsize = 64 * 1024
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    server: _Server

    # per connection
    ntlm_challenge: bytes | None = None
    ntlm_user: str | None = None

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        log.debug("%s %s", self.address_string(), format % args)

    # --- plumbing ------------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/xml; charset=utf-8",
        headers: Iterable[tuple[str, str]] = (),
        close: bool = False,
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.server.sandbox.knobs.max_request_bytes:
            self._send(413, b"<html><body>Request Entity Too Large</body></html>", "text/html", close=True)
            return None
        return self.rfile.read(length) if length else b""

    def _base_url(self) -> str:
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        return f"{self.server.sandbox.scheme}://{host}"

    # --- verbs ---------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = urlsplit(self.path).path
        if _is_graph(path):
            self._graph_entry()
            return
        match = _OIDC_PATH.match(path)
        if match:
            base = f"{self._base_url()}/{match.group(1)}"
            doc = {
                "issuer": f"{base}/v2.0",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "response_types_supported": ["code", "token"],
            }
            self._send(200, json.dumps(doc).encode(), "application/json")
            return
        match = _DEVICEAUTH_PATH.match(path)
        if match:
            code = html.escape(parse_qs(urlsplit(self.path).query).get("code", [""])[0])
            page = _DEVICE_PAGE.format(message="Enter the code your device shows, and your mailbox sign-in.", code=code)
            self._send(200, page.encode(), "text/html; charset=utf-8")
            return
        match = _USERREALM_PATH.match(path)
        if match:  # msal asks this before a username/password grant
            doc = {
                "ver": "1.0",
                "account_type": "Managed",
                "domain_name": match.group(1).split("@")[-1],
                "cloud_instance_name": "microsoftonline.com",
                "cloud_audience_urn": "urn:federation:MicrosoftOnline",
            }
            self._send(200, json.dumps(doc).encode(), "application/json")
            return
        self._send(404, b"<html><body>Not Found</body></html>", "text/html")

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(200 if urlsplit(self.path).path.lower() in (EWS_PATH, AUTODISCOVER_PATH) else 404)

    def do_PATCH(self) -> None:  # noqa: N802
        self._graph_entry()

    def do_PUT(self) -> None:  # noqa: N802
        self._graph_entry()

    def do_DELETE(self) -> None:  # noqa: N802
        self._graph_entry()

    def do_POST(self) -> None:  # noqa: N802
        sandbox = self.server.sandbox
        if _is_graph(urlsplit(self.path).path):
            self._graph_entry()
            return
        if not sandbox._begin():  # stopping: a kept-alive connection must not reach a closed store
            self._send(503, b"<html><body>Service Unavailable</body></html>", "text/html", close=True)
            return
        try:
            self._post()
        finally:
            sandbox._end()

    def _post(self) -> None:
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        match = _TOKEN_PATH.match(path)
        if match:
            self._token(body)
            return
        match = _DEVICECODE_PATH.match(path)
        if match:
            self._device_code(body, match.group(1))
            return
        match = _DEVICEAUTH_PATH.match(path)
        if match:
            self._device_sign_in(body)
            return
        if path.lower() not in (EWS_PATH, AUTODISCOVER_PATH):
            self._send(404, b"<html><body>Not Found</body></html>", "text/html")
            return
        sandbox = self.server.sandbox
        principal = self._authenticate()
        if principal is None:
            sandbox._observe(body, b"")
            return
        if path.lower() == AUTODISCOVER_PATH:
            answer = handle_get_user_settings(
                body, sandbox.store, f"{self._base_url()}/EWS/Exchange.asmx", sandbox.ews.server_version
            )
            sandbox._observe(body, answer)
            self._send(200, answer)
            return
        self._ews(body, principal)

    def _ews(self, body: bytes, principal: Principal) -> None:
        sandbox = self.server.sandbox
        operation = _operation_name(body)
        knobs = sandbox.knobs
        acted_on = _impersonated(body) or principal.name
        if knobs.ews_refusal and ews_refused(knobs, self._app_id(principal), acted_on):
            # Exchange Online's answer when its EWS access policy refuses the caller: HTTP 403, empty body
            # (sources in core/transport/ews/refusal.py); headers as reported for such answers
            # (ecederstrand/exchangelib #1324).
            sandbox._record(operation, "forbidden", principal)
            sandbox._observe(body, b"")
            headers = [("Cache-Control", "private"), ("request-id", str(uuid.uuid4())), ("X-BEServer", "SBX01MB0001")]
            self._send(403, b"", headers=headers)
            return
        # EWSMaxConcurrency is charged to the caller, or with impersonation to the mailbox acted on.
        budget = acted_on
        if not sandbox._knobs.enter(budget):
            answer = EwsService.fault(_concurrency_fault(knobs))
            sandbox._record(operation, "refused", principal)
            sandbox._observe(body, answer)
            self._send(500, answer)
            return
        try:
            if knobs.latency_ms:
                time.sleep(knobs.latency_ms / 1000)
            fate = sandbox._knobs.draw()
            if fate == "drop":
                sandbox._record(operation, "drop", principal)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fate == "error":
                sandbox._record(operation, "error", principal)
                retry_after = str(max(1, -(-knobs.back_off_ms // 1000)))  # whole seconds, rounded up
                self._send(
                    503,
                    b"<html><body>Service Unavailable</body></html>",
                    "text/html",
                    headers=[("Retry-After", retry_after)],
                )
                return
            if fate == "busy":
                answer = EwsService.fault(
                    EwsFault(
                        "ErrorServerBusy",
                        "The server cannot service this request right now. Try again later.",
                        knobs.back_off_ms,
                    )
                )
                sandbox._record(operation, "busy", principal)
                sandbox._observe(body, answer)
                self._send(500, answer)
                return
            status, answer = sandbox.ews.handle(body, principal, self._base_url())
            sandbox._record(operation, "ok" if status == 200 else "fault", principal)
            sandbox._observe(body, answer)
            self._send(status, answer)
        finally:
            sandbox._knobs.leave(budget)

    def _app_id(self, principal: Principal) -> str | None:
        """The OAuth app (client id) behind this request: the app itself, or the app a user's token
        was issued to; None for Basic/NTLM sign-ins, which name no app."""
        if principal.kind == "app":
            return principal.name
        scheme, _, token = (self.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.server.sandbox.token_app(token.strip())

    # --- Microsoft Graph -----------------------------------------------------------------------
    def _graph_send(self, response, close: bool = False) -> None:
        self._send(response.status, response.body, response.content_type, headers=response.headers, close=close)

    def _graph_entry(self) -> None:
        sandbox = self.server.sandbox
        if not sandbox._begin():
            error = GraphError(503, "ServiceUnavailable", "The service is shutting down.", 1)
            self._graph_send(GraphService.error_response(error), close=True)
            return
        try:
            self._graph()
        finally:
            sandbox._end()

    def _graph(self) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        if length > sandbox.knobs.graph_max_request_bytes:
            error = GraphError(
                413,
                "RequestEntityTooLarge",
                f"The request body is over the limit of {sandbox.knobs.graph_max_request_bytes} bytes.",
            )
            sandbox._record_graph(f"{self.command} {split.path}", "fault", "", "", 413, length)
            # Drain what a client will still send (so it reads the 413 rather than a reset), within reason.
            drain = length if length <= sandbox.knobs.max_request_bytes else 0
            while drain > 0:
                chunk = self.rfile.read(min(drain, 1 << 20))
                if not chunk:
                    break
                drain -= len(chunk)
            self._graph_send(GraphService.error_response(error), close=True)
            return
        body = self.rfile.read(length) if length else b""
        upload = UPLOAD_PATH.match(split.path)
        if upload:
            req = GraphRequest(self.command, "", split.path, query, headers, body, None, self._base_url(), self.path)
            response = sandbox.graph.upload_chunk(upload.group("session"), req)
        else:
            version, _, rest = split.path.lstrip("/").partition("/")
            principal, problem = self._graph_principal()
            if principal is None:
                error = GraphError(401, "InvalidAuthenticationToken", problem)
                sandbox._record_graph(f"{self.command} {split.path}", "unauthenticated", "", "", 401, len(body))
                response = GraphService.error_response(error)
                response.headers.append(
                    (
                        "WWW-Authenticate",
                        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                        'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
                    )
                )
                self._graph_send(response)
                return
            req = GraphRequest(
                self.command, version, "/" + rest, query, headers, body, principal, self._base_url(), self.path
            )
            response = sandbox.graph.handle(req)
        if response.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._graph_send(response)

    def _graph_principal(self) -> tuple[Principal | None, str]:
        """The Bearer token's subject (Graph takes nothing else), or None and why not."""
        scheme, _, token = (self.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "Access token is empty."
        found = self.server.sandbox.store.token(token.strip())
        if found is None:
            return None, "IDX14100: JWT is not well formed, there are no dots (.)."
        if found[2] <= time.time():
            return None, "Lifetime validation failed, the token is expired."
        return Principal(found[0], found[1]), ""

    # --- authentication ------------------------------------------------------------------------
    def _challenge(self, extra: str | None = None) -> None:
        methods = self.server.sandbox.auth_methods
        headers = []
        if extra:
            headers.append(("WWW-Authenticate", extra))
        else:
            if "ntlm" in methods:
                headers += [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")]
            if "basic" in methods:
                headers.append(("WWW-Authenticate", 'Basic realm="sandbox.test"'))
            if "bearer" in methods:
                headers.append(
                    (
                        "WWW-Authenticate",
                        'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
                        'token_types="app_asserted_user_v1 service_asserted_app_v1"',
                    )
                )
        self._send(401, b"", headers=headers)

    def _authenticate(self) -> Principal | None:
        """The caller, or None after answering 401 (a challenge, or wrong credentials)."""
        sandbox = self.server.sandbox
        header = self.headers.get("Authorization")
        if not header:
            if self.ntlm_user:
                return Principal(self.ntlm_user)
            self._challenge()
            return None
        scheme, _, param = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme not in {"negotiate", *sandbox.auth_methods}:
            self._challenge()
            return None
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(param).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                self._challenge()
                return None
            address = sandbox._address_for(user)
            if address and sandbox.store.check_password(address, password):
                return Principal(address)
            self._challenge()
            return None
        if scheme in ("ntlm", "negotiate") and "ntlm" in sandbox.auth_methods:
            return self._ntlm(scheme, param)
        if scheme == "bearer":
            found = sandbox.store.token(param.strip())
            if found and found[2] > time.time():
                return Principal(found[0], found[1])
            self._challenge('Bearer error="invalid_token"')
            return None
        self._challenge()
        return None

    def _ntlm(self, scheme: str, param: str) -> Principal | None:
        sandbox = self.server.sandbox
        try:
            token = base64.b64decode(param)
        except binascii.Error:
            token = b""
        kind = struct.unpack("<I", token[8:12])[0] if token.startswith(ntlm.SIGNATURE) and len(token) >= 12 else 0
        scheme_name = "NTLM" if scheme == "ntlm" else "Negotiate"
        if kind == ntlm.NEGOTIATE_MESSAGE:
            self.ntlm_challenge = ntlm.new_server_challenge()
            self.ntlm_user = None
            challenge = ntlm.make_challenge(token, self.ntlm_challenge)
            self._challenge(f"{scheme_name} {base64.b64encode(challenge).decode()}")
            return None
        if kind == ntlm.AUTHENTICATE_MESSAGE and self.ntlm_challenge is not None:
            server_challenge, self.ntlm_challenge = self.ntlm_challenge, None
            try:
                auth = ntlm.parse_authenticate(token)
            except ntlm.NtlmError:
                self._challenge()
                return None
            address = sandbox._address_for(auth.user, auth.domain)
            nt_hash = sandbox.store.nt_hash(address) if address else None
            if address and nt_hash is not None and ntlm.verify_ntlmv2(auth, nt_hash, server_challenge):
                self.ntlm_user = address
                return Principal(address)
        self._challenge()
        return None

    # --- OAuth token endpoint ------------------------------------------------------------------
    def _token(self, body: bytes) -> None:
        sandbox = self.server.sandbox
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        basic = self.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):  # client_secret_basic
            cid, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            form.setdefault("client_id", cid)
            form.setdefault("client_secret", secret)
        grant = form.get("grant_type")
        sandbox.grants.append(grant or "")

        def error(status: int, code: str, description: str) -> None:
            self._send(
                status, json.dumps({"error": code, "error_description": description}).encode(), "application/json"
            )

        if grant == "client_credentials" and form.get("client_assertion_type") == JWT_BEARER:
            # An app signing in with its certificate: a JWT signed by its private key (RFC 7523).
            audience = f"{self._base_url()}{urlsplit(self.path).path}"
            try:
                verify_assertion(
                    form.get("client_assertion", ""),
                    form.get("client_id", ""),
                    audience,
                    sandbox.app_certificates(form.get("client_id", "")),
                )
            except AssertionRefused as exc:
                error(401, "invalid_client", str(exc))
                return
            token = sandbox.mint_token(form["client_id"], kind="app")
        elif grant == "client_credentials":
            if not sandbox.store.check_app(form.get("client_id", ""), form.get("client_secret", "")):
                error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
                return
            token = sandbox.mint_token(form["client_id"], kind="app")
        elif grant == "refresh_token":
            address = sandbox._redeem_refresh(form.get("refresh_token", ""), form.get("client_id", ""))
            if address is None:
                error(400, "invalid_grant", "AADSTS70000: The provided value for the 'refresh_token' is not valid.")
                return
            token = sandbox.mint_token(address, kind="user", client_id=form.get("client_id"))
        elif grant == "password":
            address = sandbox._address_for(form.get("username", ""))
            if not address or not sandbox.store.check_password(address, form.get("password", "")):
                error(
                    400,
                    "invalid_grant",
                    "AADSTS50126: Error validating credentials due to invalid username or password.",
                )
                return
            token = sandbox.mint_token(address, kind="user", client_id=form.get("client_id"))
        elif grant == DEVICE_GRANT:
            state = sandbox._device_poll(form.get("device_code", ""))
            if state in ("authorization_pending", "expired_token", "invalid_grant"):
                descriptions = {
                    "authorization_pending": "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.",
                    "expired_token": "AADSTS70019: Verification code expired.",
                    "invalid_grant": "AADSTS70000: The provided value for the 'device_code' is not valid.",
                }
                error(400, state, descriptions[state])
                return
            token = sandbox.mint_token(state, kind="user", client_id=form.get("client_id"))
            with sandbox._device_lock:
                form.setdefault("scope", sandbox._device_scopes.pop(state, "") or "")
        else:
            error(400, "unsupported_grant_type", f"AADSTS70003: The app requested an unsupported grant type '{grant}'.")
            return
        answer = {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
            "ext_expires_in": TOKEN_LIFETIME_S,
            "access_token": token,
            "scope": form.get("scope") or "https://outlook.office365.com/.default",
        }
        if grant != "client_credentials":  # a signed-in user: msal keeps an account only with these two
            answer["refresh_token"] = sandbox._issue_refresh(sandbox.store.token(token)[0], form.get("client_id", ""))  # type: ignore[index]
            answer |= _user_identity(sandbox, sandbox.store.token(token)[0], form.get("client_id", ""))  # type: ignore[index]
        self._send(200, json.dumps(answer).encode(), "application/json")

    def _device_code(self, body: bytes, tenant: str) -> None:
        sandbox = self.server.sandbox
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        device_code, user_code = sandbox._device_start(form.get("client_id", ""), form.get("scope", ""))
        uri = f"{self._base_url()}/{tenant}/oauth2/deviceauth"
        answer = {
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": uri,
            "expires_in": DEVICE_CODE_LIFETIME_S,
            "interval": DEVICE_POLL_INTERVAL_S,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code "
            f"{user_code} to authenticate.",
        }
        self._send(200, json.dumps(answer).encode(), "application/json")

    def _device_sign_in(self, body: bytes) -> None:
        sandbox = self.server.sandbox
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        address = sandbox._address_for(form.get("username", ""))
        ok = bool(address) and sandbox.store.check_password(address, form.get("password", ""))
        ok = ok and sandbox.approve_device(form.get("user_code", ""), address)
        message = (
            "You are signed in; you may close this window."
            if ok
            else "That code, user or password is not right. Try again."
        )
        page = _DEVICE_PAGE.format(message=message, code=html.escape(form.get("user_code", "")))
        self._send(200 if ok else 400, page.encode(), "text/html; charset=utf-8")


SANDBOX_TENANT_ID = "5a0d0b0e-0000-4000-8000-5a0db0c5e7e5"  # the sandbox's one tenant (tid/utid)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _user_identity(sandbox: Sandbox, address: str, client_id: str) -> dict[str, str]:
    """An (unsigned) id_token and client_info for a user token, as Entra ID answers with openid/profile.

    msal does not validate id tokens; it needs client_info (uid, utid) to keep an account in its cache,
    which is what lets a second run sign in silently.
    """
    from core.sandbox.server.graph import user_object_id

    user = sandbox.store.user(address)
    oid = user_object_id(address)
    now = int(time.time())
    claims = {
        "aud": client_id,
        "iss": f"https://login.microsoftonline.com/{SANDBOX_TENANT_ID}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME_S,
        "name": user.display_name if user else address,
        "oid": oid,
        "preferred_username": address,
        "sub": oid,
        "tid": SANDBOX_TENANT_ID,
        "ver": "2.0",
    }
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return {
        "id_token": f"{header}.{_b64url(json.dumps(claims).encode())}.",
        "client_info": _b64url(json.dumps({"uid": oid, "utid": SANDBOX_TENANT_ID}).encode()),
    }


def _is_graph(path: str) -> bool:
    head = path.lstrip("/").split("/", 1)[0]
    return head in GRAPH_VERSIONS or bool(UPLOAD_PATH.match(path))


def _impersonated(body: bytes) -> str | None:
    match = _IMPERSONATED.search(body)
    return match.group(1).decode("utf-8", "replace").strip().lower() if match else None


def _concurrency_fault(knobs: Knobs) -> EwsFault:
    """What Exchange answers a request over EWSMaxConcurrency (as Exchange Online words it)."""
    limit = knobs.max_concurrency
    if knobs.concurrency_error == "ErrorServerBusy":
        return EwsFault(
            "ErrorServerBusy", "The server cannot service this request right now. Try again later.", knobs.back_off_ms
        )
    return EwsFault(
        "ErrorExceededConnectionCount",
        "You have exceeded the available concurrent connections for your account. "
        "Try again once your other requests have completed.",
        details=[
            ("Value", "MaxConcurrency", "Policy"),
            ("Value", str(limit), "MaxConcurrencyLimit"),
            (
                "Value",
                f"This operation exceeds the throttling budget for policy part 'MaxConcurrency', policy value "
                f"'{limit}', Budget type: 'Ews'. Suggested backoff time 0 ms.",
                "ErrorMessage",
            ),
        ],
    )


def _operation_name(body: bytes) -> str:
    match = re.search(rb"<(?:\w+:)?Body[^>]*>\s*<(?:\w+:)?(\w+)", body)
    return match.group(1).decode() if match else "?"


class Sandbox:
    """A running (after `start()`) sandbox mailbox server on 127.0.0.1.

    Args:
        state_dir: where the store lives; reused across restarts.
        users: address -> password; each gets a mailbox with the well-known folders.
        archives: addresses whose mailbox also gets an archive.
        impersonators: addresses that may impersonate every mailbox.
        apps: OAuth client_id -> client secret (client credentials; may impersonate every mailbox).
        knobs: the realism knobs at start (see `Knobs`); change them later with `set_knobs`.
        auth_methods: what the 401 challenge offers and what is accepted: ntlm, basic, bearer.
            Default: all three, or only bearer for the exchange-online flavour (no Basic, no NTLM there).
        flavour: which server to be (ServerVersionInfo, Autodiscover versions): exchange2016,
            exchange2019 (default) or exchange-online.
        tls: serve HTTPS with a certificate from a CA made at start (`ca_cert`).
        hostnames: extra names the TLS certificate covers (for host-mapped clients).
        schema_dir: a directory with Microsoft's types.xsd/messages.xsd: requests are then checked and
            refused with ErrorSchemaValidation, as Exchange does. Without it they are not schema-checked.
        dns: also answer DNS A queries for `hostnames` on 127.0.0.1 (`dns_port`), for Autodiscover.
        on_exchange: called with (request body, response body) for every EWS/Autodiscover POST.
    """

    def __init__(
        self,
        state_dir: str | Path,
        users: Mapping[str, str] | None = None,
        archives: Iterable[str] = (),
        impersonators: Iterable[str] = (),
        apps: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        knobs: Knobs | None = None,
        auth_methods: Iterable[str] | None = None,
        flavour: str = DEFAULT_FLAVOUR,
        tls: bool = False,
        hostnames: Iterable[str] = (),
        dns: bool = False,
        schema_dir: str | Path | None = None,
        on_exchange: ExchangeHook | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.state_dir)
        for address, password in (users or {}).items():
            self.store.add_user(address, password)
        for address in archives:
            self.store.enable_archive(address)
        for address in impersonators:
            self.store.grant_impersonation(address)
        for client_id, secret in (apps or {}).items():
            self.store.add_app(client_id, secret)
        self._knobs = KnobState(knobs or Knobs())
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {flavour!r}; one of {', '.join(FLAVOURS)}")
        if auth_methods is None:
            auth_methods = ("bearer",) if flavour == "exchange-online" else AUTH_METHODS
        self.flavour = flavour
        self.auth_methods = tuple(m.lower() for m in auth_methods)
        self.tls = tls
        self.hostnames = list(hostnames)
        self._dns_wanted = dns
        self._dns: DnsResponder | None = None
        self.on_exchange = on_exchange
        self.host = host
        self._port = port
        self.ca_cert: Path | None = None
        schema = RequestSchema(schema_dir, self.state_dir / "schema") if schema_dir else None
        self.ews = EwsService(self.store, self._knobs, schema, flavour)
        self.graph = GraphService(self.store, self._knobs, record=self._record_graph)
        self.exchanges: list[Exchange] = []
        self._exchanges_lock = threading.Lock()
        self._devices: dict[str, dict] = {}  # device_code -> pending device-code sign-in
        self._refresh: dict[str, tuple[str, str]] = {}  # refresh token -> (address, client_id), in memory
        self._app_certs: dict[str, list[bytes]] = {}  # client_id -> PEM certificates it signs assertions with
        self.grants: list[str] = []  # grant_type of every token request, in order (for tests)
        self._device_lock = threading.Lock()
        self._device_scopes: dict[str, str] = {}  # address -> scopes of its last device sign-in
        self._token_apps: dict[str, str] = {}  # token -> the app (client id) it was issued to, in memory
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._active = 0  # POSTs being answered
        self._stopping = False
        self._active_cond = threading.Condition()

    # --- life cycle ----------------------------------------------------------------------------
    def start(self) -> Sandbox:
        server = _Server((self.host, self._port), _Handler)
        server.sandbox = self
        if self.tls:
            from core.sandbox.server.tls import make_certificates

            ca, cert, key = make_certificates(self.state_dir / "tls", self.hostnames)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            self.ca_cert = ca
        self._server = server
        if self._dns_wanted:
            self._dns = DnsResponder(self.hostnames).start()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let requests in progress finish (up to `grace_s`), then close the store."""
        with self._active_cond:
            self._stopping = True
        if self._dns is not None:
            self._dns.stop()
            self._dns = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._active_cond:
            self._active_cond.wait_for(lambda: self._active == 0, timeout=grace_s)
        self.store.close()

    def _begin(self) -> bool:
        with self._active_cond:
            if self._stopping:
                return False
            self._active += 1
            return True

    def _end(self) -> None:
        with self._active_cond:
            self._active -= 1
            self._active_cond.notify_all()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses -----------------------------------------------------------------------------
    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    @property
    def autodiscover_url(self) -> str:
        return f"{self.base_url}/autodiscover/autodiscover.svc"

    @property
    def graph_url(self) -> str:
        """The Graph v1.0 root, like https://graph.microsoft.com/v1.0."""
        return f"{self.base_url}/v1.0"

    @property
    def graph_url_beta(self) -> str:
        return f"{self.base_url}/beta"

    @property
    def dns_port(self) -> int:
        if self._dns is None:
            raise RuntimeError("the sandbox runs no DNS responder (dns=True)")
        return self._dns.port

    def host_map(self) -> dict[str, tuple[str, int]]:
        """Each extra host name -> where it really is; feed it to `hostmap.host_map_adapter`."""
        return {name: (self.host, self.port) for name in self.hostnames}

    def token_url(self, tenant: str = "common") -> str:
        return f"{self.base_url}/{tenant}/oauth2/v2.0/token"

    def info(self) -> dict[str, object]:
        """The JSON object `pstimport sandbox serve` prints first."""
        return {
            "ews_url": self.ews_url,
            "autodiscover_url": self.autodiscover_url,
            "graph_url": self.graph_url,
            "ca_cert": str(self.ca_cert) if self.ca_cert else None,
        }

    # --- knobs, tokens ---------------------------------------------------------------------------
    @property
    def knobs(self) -> Knobs:
        return self._knobs.knobs

    def set_knobs(self, **changes: object) -> Knobs:
        """Change realism knobs while running, e.g. `set_knobs(busy_rate=0.5, latency_ms=20)`."""
        return self._knobs.update(**changes)

    def peak_concurrency(self, reset: bool = False) -> int:
        """The most requests (EWS, or Graph per mailbox) one caller had in flight at once, since the start
        or the last reset."""
        peak = self._knobs.peak_in_flight
        if reset:
            self._knobs.peak_in_flight = 0
        return peak

    def mint_token(
        self, subject: str, kind: str = "user", lifetime_s: float | None = None, client_id: str | None = None
    ) -> str:
        """Issue a Bearer token for a user address (kind user) or an app client_id (kind app).

        The lifetime defaults to TOKEN_LIFETIME_S, read when called (tests shorten it). `client_id` is
        the app a user's token is issued to (its `appid`), which EWSAllowedAppIDs judges.
        """
        if lifetime_s is None:
            lifetime_s = TOKEN_LIFETIME_S
        token = "sbx1." + secrets.token_urlsafe(32)
        self.store.save_token(token, subject.lower() if kind == "user" else subject, kind, time.time() + lifetime_s)
        app = subject if kind == "app" else client_id
        if app:
            with self._device_lock:
                self._token_apps[token] = app
        return token

    def token_app(self, token: str) -> str | None:
        """The client id a token was issued to (None when unknown, e.g. a token from before a restart)."""
        with self._device_lock:
            return self._token_apps.get(token)

    def add_app_certificate(self, client_id: str, cert_pem: bytes) -> None:
        """Register an app that signs in with a certificate (client assertion); it may impersonate every mailbox."""
        if not self.store.can_impersonate(client_id, ""):  # true for every registered app
            self.store.add_app(client_id, secrets.token_urlsafe(32))  # no usable secret: the certificate only
        self._app_certs.setdefault(client_id, []).append(cert_pem)

    def app_certificates(self, client_id: str) -> list[bytes]:
        return list(self._app_certs.get(client_id, ()))

    def _issue_refresh(self, address: str, client_id: str) -> str:
        token = "sbxr." + secrets.token_urlsafe(32)
        with self._device_lock:
            self._refresh[token] = (address, client_id)
        return token

    def _redeem_refresh(self, token: str, client_id: str) -> str | None:
        """The address a refresh token signed in (it is used up: the answer carries a new one)."""
        with self._device_lock:
            entry = self._refresh.get(token)
            if entry is None or entry[1] != client_id:
                return None
            del self._refresh[token]
            return entry[0]

    def approve_device(self, user_code: str, address: str) -> bool:
        """Sign in a pending device-code flow as `address` (what the verification page does)."""
        with self._device_lock:
            for entry in self._devices.values():
                if entry["user_code"] == user_code.strip().upper() and entry["expires"] > time.time():
                    entry["address"] = address.lower()
                    return True
        return False

    def _device_start(self, client_id: str, scope: str = "") -> tuple[str, str]:
        device_code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ23456789") for _ in range(9))
        with self._device_lock:
            self._devices[device_code] = {
                "user_code": user_code,
                "client_id": client_id,
                "scope": scope,  # the token answers with the scopes asked for at the start (msal caches by them)
                "address": None,
                "expires": time.time() + DEVICE_CODE_LIFETIME_S,
            }
        return device_code, user_code

    def _device_poll(self, device_code: str) -> str:
        """The signed-in address, or authorization_pending / expired_token / invalid_grant."""
        with self._device_lock:
            entry = self._devices.get(device_code)
            if entry is None:
                return "invalid_grant"
            if entry["expires"] <= time.time():
                del self._devices[device_code]
                return "expired_token"
            if entry["address"] is None:
                return "authorization_pending"
            del self._devices[device_code]  # a device code is redeemed once
            self._device_scopes[entry["address"]] = entry["scope"]
            return entry["address"]

    def _address_for(self, user: str, domain: str = "") -> str | None:
        """The mailbox a logon name means: an address, DOMAIN\\user, or a bare alias."""
        user = user.strip()
        if "\\" in user:
            user = user.split("\\", 1)[1]
        if "@" in user:
            return user.lower() if self.store.user(user) else None
        matches = [u.address for u in self.store.users() if u.address.split("@")[0] == user.lower()]
        return matches[0] if len(matches) == 1 else None

    # --- observation (tests) ---------------------------------------------------------------------
    def _observe(self, request: bytes, response: bytes) -> None:
        if self.on_exchange is not None:
            try:
                self.on_exchange(request, response)
            except Exception:  # an observer's bug must not cost the client its answer
                log.exception("on_exchange hook failed")

    def _record(self, operation: str, outcome: str, principal: Principal) -> None:
        with self._exchanges_lock:
            if len(self.exchanges) >= MAX_EXCHANGES_KEPT:  # a long demo must not grow without bound
                del self.exchanges[: MAX_EXCHANGES_KEPT // 2]
            self.exchanges.append(Exchange(time.monotonic(), operation, outcome, principal.name))

    def _record_graph(
        self, operation: str, outcome: str, principal: str, mailbox: str, status: int, nbytes: int
    ) -> None:
        with self._exchanges_lock:
            if len(self.exchanges) >= MAX_EXCHANGES_KEPT:
                del self.exchanges[: MAX_EXCHANGES_KEPT // 2]
            self.exchanges.append(
                Exchange(time.monotonic(), operation, outcome, principal, "graph", mailbox, status, nbytes)
            )

    # --- store inspection (tests and the demo) --------------------------------------------------
    def folder(self, mailbox: str, path: str | Iterable[str] = (), archive: bool = False) -> Folder | None:
        """A folder by its path of display names below the message root ("Inbox/Sub" or a list)."""
        parts = [p for p in (path.split("/") if isinstance(path, str) else list(path)) if p]
        folder = self.store.distinguished(mailbox, "archivemsgfolderroot" if archive else "msgfolderroot")
        for name in parts:
            if folder is None:
                return None
            folder = self.store.find_folder(folder.id, name)
        return folder

    def folder_tree(self, mailbox: str, archive: bool = False) -> dict[tuple[str, ...], int]:
        """Every folder below the message root (or the archive's): its path -> how many items it holds."""
        top = self.store.distinguished(mailbox, "archivemsgfolderroot" if archive else "msgfolderroot")
        if top is None:
            return {}
        return {
            tuple(self.store.folder_path(f)): self.store.count_items(f.id)[0] for f in self.store.descendants(top.id)
        }

    def items(self, mailbox: str, path: str | Iterable[str], archive: bool = False) -> list[Item]:
        folder = self.folder(mailbox, path, archive)
        return self.store.items(folder.id) if folder else []

    def find_by_source_key(self, value: str, mailbox: str | None = None) -> list[Item]:
        """Items carrying the pstimport source stamp `value` (DESIGN.md)."""
        from core.mapi.props import PidNamePstImportSourceKey as key

        found = self.store.find_by_prop(prop_key("String", property_set=key.guid, name=key.key), value)
        if mailbox is None:
            return found
        return [it for it in found if (f := self.store.folder(it.folder_id)) and f.mailbox == mailbox.lower()]
