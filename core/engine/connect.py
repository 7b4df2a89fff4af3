"""A transport for a profile: settings from the profile, the secret from `core.profile.secrets`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO

from core.errors import ConnectError
from core.profile.model import Profile
from core.transport.base import Transport

# An Autodiscover endpoint to ask instead of the DNS-derived ones (a lab, the sandbox, or a
# split-DNS site where autodiscover.<domain> does not resolve from the technician's box).
AUTODISCOVER_URL_ENV = "PSTIMPORT_AUTODISCOVER_URL"
AUTH_TYPE_ENV = "PSTIMPORT_EWS_AUTH"  # ntlm | basic; default: ask the server
# The Microsoft Graph endpoint (a national cloud, or the sandbox); default https://graph.microsoft.com.
GRAPH_URL_ENV = "PSTIMPORT_GRAPH_URL"


def transport_factory(
    profile: Profile,
    *,
    stdin: IO[str] | None = None,
    interactive: bool | None = None,
    show_device_code: Callable[[str], None] | None = None,
) -> Callable[[], Transport]:
    """A callable that makes the profile's transport. The secret is looked up now (it may prompt).

    `show_device_code` receives the device-code sign-in instructions (default: printed).
    """
    from core.profile.secrets import lookup_secret, primary_secret

    conn = profile.connection
    if conn.transport not in ("ews", "graph"):
        raise ConnectError(f"transport {conn.transport!r} is not available in this version; use transport: ews")
    secret = None
    if primary_secret(profile) is not None:
        if conn.auth.method == "oauth-app" and conn.auth.certificate:
            found = lookup_secret(profile, "certificate_password", optional=True, interactive=interactive)
        else:
            found = lookup_secret(profile, stdin=stdin, interactive=interactive)
        secret = found.value if found else None

    def make_graph() -> Transport:
        from core.transport.graph.transport import GraphSettings, GraphTransport
        from core.transport.graph.wire import DEFAULT_BASE_URL

        return GraphTransport(
            GraphSettings(
                mailbox=profile.mailbox,
                store=profile.destination.store,
                method=conn.auth.method,
                username=conn.auth.username,
                secret=secret,
                tenant_id=conn.auth.tenant_id,
                client_id=conn.auth.client_id,
                certificate=profile.certificate_path(),
                base_url=os.environ.get(GRAPH_URL_ENV) or DEFAULT_BASE_URL,
                verify_tls=conn.verify_tls,
                ca_bundle=profile.ca_bundle_path(),
                show_device_code=show_device_code,
            )
        )

    if conn.transport == "graph":
        return make_graph

    def make() -> Transport:
        from core.transport.ews.transport import EwsSettings, EwsTransport

        return EwsTransport(
            EwsSettings(
                mailbox=profile.mailbox,
                store=profile.destination.store,
                discovery=conn.discovery,
                ews_url=conn.ews_url,
                autodiscover_url=os.environ.get(AUTODISCOVER_URL_ENV) or None,
                method=conn.auth.method,
                username=conn.auth.username,
                secret=secret,
                auth_type=os.environ.get(AUTH_TYPE_ENV) or None,
                tenant_id=conn.auth.tenant_id,
                client_id=conn.auth.client_id,
                certificate=profile.certificate_path(),
                impersonation=conn.impersonation,
                verify_tls=conn.verify_tls,
                ca_bundle=profile.ca_bundle_path(),
                max_connections=profile.performance.max_threads,
                show_device_code=show_device_code,
            )
        )

    return make
