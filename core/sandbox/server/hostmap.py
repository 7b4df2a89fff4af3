"""Point clients at the sandbox under real-looking host names, for end-to-end Autodiscover.

Autodiscover clients derive URLs from the mail domain (`https://sandbox.test/autodiscover/...`,
`https://autodiscover.sandbox.test/...`) and check the names in DNS first. Two pieces
make that work on 127.0.0.1 without patching the client:

* `DnsResponder`: a tiny DNS server on 127.0.0.1 (UDP, random port) answering A queries
  for the mapped names with 127.0.0.1 (exchangelib: point `Autodiscovery.DNS_RESOLVER_ATTRS`
  nameservers/port at it, with `DNS_RESOLVER_KWARGS = {"configure": False}`).
* `host_map_adapter(mapping)`: a `requests` transport adapter class that connects mapped
  host names to the sandbox's port, while TLS still checks the certificate against the
  name asked for (exchangelib: `BaseProtocol.HTTP_ADAPTER_CLS`, its documented hook).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import requests.adapters


class DnsResponder:
    """Answers A queries for `names` with 127.0.0.1 and NXDOMAIN for anything else."""

    def __init__(self, names: list[str], address: str = "127.0.0.1") -> None:
        self.names = {n.lower().rstrip(".") for n in names}
        self.address = address
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sandbox-dns", daemon=True)

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    def start(self) -> DnsResponder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                query = dns.message.from_wire(data)
            except Exception:  # not DNS: ignore, as a resolver would
                continue
            reply = dns.message.make_response(query)
            question = query.question[0] if query.question else None
            name = question.name.to_text().lower().rstrip(".") if question is not None else ""
            if question is None or name not in self.names:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                reply.answer.append(
                    dns.rrset.from_text(question.name, 60, dns.rdataclass.IN, dns.rdatatype.A, self.address)
                )
            try:
                self._sock.sendto(reply.to_wire(), peer)
            except OSError:
                pass


def host_map_adapter(mapping: Mapping[str, tuple[str, int]]) -> type[requests.adapters.HTTPAdapter]:
    """An HTTPAdapter class sending requests for `mapping`'s host names to (host, port) instead.

    The Host header and the TLS server name stay the original ones, so the sandbox answers
    with URLs under that name and certificate checks apply to it.
    """
    table = {k.lower(): v for k, v in mapping.items()}

    class HostMapAdapter(requests.adapters.HTTPAdapter):
        MAPPING = table

        def build_connection_pool_key_attributes(self, request, verify, cert=None):
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
            target = self.MAPPING.get(str(host_params["host"]).lower())
            if target is not None:
                if host_params["scheme"] == "https":
                    pool_kwargs["server_hostname"] = host_params["host"]
                    pool_kwargs["assert_hostname"] = host_params["host"]
                host_params = {**host_params, "host": target[0], "port": target[1]}
            return host_params, pool_kwargs

        def send(self, request, *args, **kwargs):
            parts = urlsplit(request.url)
            if parts.hostname and parts.hostname.lower() in self.MAPPING:
                request.headers["Host"] = parts.netloc
            return super().send(request, *args, **kwargs)

    return HostMapAdapter
