"""The project's exception hierarchy.

Adapters (pypff, exchangelib, HTTP, Azure) translate their libraries' exceptions into
these at the edge, so nothing above them sees a library's exception type. Every
message is one human line that names the file, field or item concerned.
"""

from __future__ import annotations

# Exit codes (DESIGN.md "CLI")
EXIT_OK = 0
EXIT_PARTIAL = 1  # the run finished, but some items failed or counts differ
EXIT_USER = 2  # bad profile, bad file, bad credentials
EXIT_INTERRUPTED = 130


class PstImportError(Exception):
    """Base class. `str(error)` is a one-line message fit for a user."""

    exit_code = EXIT_USER

    def __str__(self) -> str:  # keep it to one line whatever the cause said
        return " ".join(super().__str__().split())


class UserError(PstImportError):
    """Something the user can fix: a bad argument, file, profile or credential."""


class PstError(UserError):
    """A PST/OST file cannot be opened or read as a whole."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ItemError(PstImportError):
    """One item cannot be read or converted. Recorded and reported; the run goes on."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class ProfileError(UserError):
    """A profile is invalid. The message names the file, key path and line."""


class SecretError(UserError):
    """A secret cannot be found, stored or prompted for."""


class TransportError(PstImportError):
    """The server or the network failed in a way that is not the user's to fix."""

    exit_code = EXIT_PARTIAL


class ConnectError(UserError):
    """Connecting or the preflight failed: bad credentials, unknown mailbox, TLS, DNS..."""


class ServerBusy(TransportError):
    """The server asked us to slow down (ErrorServerBusy, HTTP 429/503)."""

    def __init__(self, message: str, back_off_seconds: float) -> None:
        super().__init__(message)
        self.back_off_seconds = back_off_seconds


class Interrupted(PstImportError):
    """The user asked to stop (Ctrl-C, SIGTERM)."""

    exit_code = EXIT_INTERRUPTED
