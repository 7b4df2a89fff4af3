"""One rule for TLS, the same for EWS (requests), the OAuth sign-in (msal) and Graph (httpx).

With `verify_tls: true` (the default) a server's certificate must chain to one of:
- the public CAs (certifi's bundle, which requests and httpx use by default);
- the PEM file named by `REQUESTS_CA_BUNDLE` (or else `SSL_CERT_FILE`) when set: a site's proxy
  or internal CA, given to every tool on the box;
- the profile's `connection.ca_bundle` when set: an internal CA for this server.

They add up (an internal CA for Exchange on-premises must not stop the sign-in at Microsoft's
public endpoint). Before this rule, EWS honoured `REQUESTS_CA_BUNDLE` and the others ignored it,
and a profile's `ca_bundle` replaced the public CAs for EWS only. `verify_tls: false` turns the
checks off everywhere; urllib3's per-request InsecureRequestWarning is then silenced and one
warning is logged instead, once per server.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

CA_BUNDLE_ENVS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")

_lock = threading.Lock()
_combined: dict[tuple[str, ...], str] = {}
_warned: set[str] = set()
_tmpdir: tempfile.TemporaryDirectory[str] | None = None


def _public_bundle() -> str:
    import certifi

    return certifi.where()


def extra_bundles(ca_bundle: Path | str | None) -> list[str]:
    """The PEM files trusted beside the public CAs: the environment's, then the profile's."""
    out = []
    for name in CA_BUNDLE_ENVS:
        value = os.environ.get(name)
        if value:
            out.append(value)
            break
    if ca_bundle is not None:
        out.append(str(ca_bundle))
    return out


def verify_for(verify_tls: bool, ca_bundle: Path | str | None) -> bool | str:
    """What to give requests' `verify=` (and, as a file, httpx and msal): False with checks off, True
    for the public CAs alone, else the path of a PEM file holding the public CAs and the extra ones.

    The combined file is written once per process and set of inputs, in a private temporary
    folder removed at exit.
    """
    if not verify_tls:
        return False
    extra = extra_bundles(ca_bundle)
    if not extra:
        return True
    key = tuple(extra)
    with _lock:
        found = _combined.get(key)
        if found is not None and Path(found).is_file():
            return found
        parts = [Path(_public_bundle()).read_bytes()]
        for path in extra:
            try:
                parts.append(Path(path).read_bytes())
            except OSError:
                # Named but unreadable: let the TLS library report it against this very path.
                return path
        global _tmpdir
        if _tmpdir is None:
            _tmpdir = tempfile.TemporaryDirectory(prefix="pstimport-ca-")
            atexit.register(_tmpdir.cleanup)
        digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:16]
        target = Path(_tmpdir.name) / f"ca-{digest}.pem"
        target.write_bytes(b"\n".join(parts))
        _combined[key] = str(target)
        return str(target)


def warn_unverified(where: str) -> None:
    """With verify_tls off: one warning for `where` (not one per request), and urllib3 quiet."""
    try:
        from urllib3.exceptions import InsecureRequestWarning

        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    except ImportError:  # pragma: no cover - urllib3 comes with requests
        pass
    with _lock:
        if where in _warned:
            return
        _warned.add(where)
    log.warning(
        "TLS certificate checks are off for %s (verify_tls: false): anyone on the path can pose as the "
        "server; use ca_bundle for an internal CA instead",
        where,
    )
