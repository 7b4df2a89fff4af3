"""The sandbox mailbox server: a store plus EWS, SOAP Autodiscover and OAuth endpoints on 127.0.0.1.

    from core.sandbox.server import Knobs, Sandbox
    with Sandbox(state_dir, users={"alice@sandbox.test": "pw"}, archives=["alice@sandbox.test"]) as sb:
        sb.ews_url; sb.set_knobs(busy_rate=0.2); sb.items("alice@sandbox.test", "Inbox")

Modules: `store` (SQLite + blobs, transport-neutral), `ews` (the EWS front end), `graph` (the Microsoft
Graph front end under /v1.0 and /beta, on the same store), `autodiscover`,
`app` (HTTP server, authentication, OAuth endpoints, `Sandbox`), `knobs`, `ntlm`, `tls`,
`hostmap` (DNS responder and host-mapping adapter for end-to-end Autodiscover), `schema`, `cli`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.sandbox.server.app import Exchange, Sandbox
    from core.sandbox.server.knobs import Knobs

__all__ = ["Exchange", "Knobs", "Sandbox"]


def __getattr__(name: str) -> Any:
    # Lazy: `pstimport --help` registers `sandbox serve` without loading the server.
    if name in ("Exchange", "Sandbox"):
        from core.sandbox.server import app

        return getattr(app, name)
    if name == "Knobs":
        from core.sandbox.server.knobs import Knobs

        return Knobs
    raise AttributeError(name)
