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
# The server kept failing while we connected (busy, dropped connections, HTTP 5xx, no answer) for
# all of connection.timeout_seconds: nothing is wrong with the profile, so a scheduler may try
# again later. 75 is EX_TEMPFAIL of sysexits.h ("temporary failure; the user is invited to retry").
EXIT_TEMPFAIL = 75
EXIT_INTERRUPTED = 130
# Our standard output was closed early (`pstimport run ... | head`): what a program killed by
# SIGPIPE reports to the shell, 128 + 13.
EXIT_BROKEN_PIPE = 141


class PstImportError(Exception):
    """Base class. `str(error)` is a one-line message fit for a user."""

    exit_code = EXIT_USER

    def __str__(self) -> str:  # one line whatever the cause said, and no secret it may have quoted
        from core.redact import scrub

        return scrub(" ".join(super().__str__().split()))


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
    """Connecting or the preflight failed: bad credentials, unknown mailbox, TLS, DNS...

    `transient` marks a fault worth another try (the server busy, a dropped connection, an HTTP
    5xx, a request timed out): `core.engine.connect.connect_transport` retries those within
    `connection.timeout_seconds`; `back_off_seconds` is the wait the server asked for, if any.
    """

    def __init__(self, message: str, *, transient: bool = False, back_off_seconds: float = 0.0) -> None:
        super().__init__(message)
        self.transient = transient
        self.back_off_seconds = back_off_seconds


class ServerUnavailable(ConnectError):
    """Transient faults at connect went on for the whole connect time, or the server never answered.

    Not the user's mistake, so not exit 2: `EXIT_TEMPFAIL` tells a scheduler to try again later.
    """

    exit_code = EXIT_TEMPFAIL


class ServerBusy(TransportError):
    """The server asked us to slow down (ErrorServerBusy, HTTP 429/503)."""

    def __init__(self, message: str, back_off_seconds: float) -> None:
        super().__init__(message)
        self.back_off_seconds = back_off_seconds


class Interrupted(PstImportError):
    """The user asked to stop (Ctrl-C, SIGTERM)."""

    exit_code = EXIT_INTERRUPTED
