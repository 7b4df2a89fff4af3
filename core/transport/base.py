"""The interface every transport (EWS, Graph) offers the engine (DESIGN.md "Transports").

A transport connects and runs a preflight, opens the destination store (mailbox or archive),
finds or creates folders (mapping well-known folders by role), creates items in batches with
a per-item outcome, counts items, finds items by their source stamp and resolves names in the
address list. It raises only `core.errors` types: `ConnectError` (before any upload, one line
with the cause and a fix), `ServerBusy` (with the back-off the server asked for) and
`TransportError` (`unknown_outcome` says whether the request may have been carried out).
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.convert.payload import Payload

StoreKind = Literal["mailbox", "archive"]


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the preflight found."""

    url: str
    version: str
    mailbox: str
    store: StoreKind
    can_create_folders: bool = True
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FolderHandle:
    """A folder on the server. `native` is the transport's own object (opaque to the engine)."""

    id: str
    path: tuple[str, ...]
    display_name: str
    container_class: str | None = None
    native: Any = field(default=None, compare=False, repr=False)
    item_count: int | None = field(default=None, compare=False)
    """How many items the folder held when this handle was made (0 for one just created; None: not known)."""


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    """The result of creating one item of a batch.

    Exactly one of `item_id` (created) or `error` (not created) is set. `too_large` marks an
    item the server refused for its size; `transient` one worth sending again later; `back_off`
    (seconds) one the server refused as busy (a throttled request inside a Graph `$batch`), which
    slows every worker down like a busy answer to the whole request.
    """

    source_key: str
    item_id: str | None = None
    error: str | None = None
    transient: bool = False
    too_large: bool = False
    back_off: float = 0.0

    @property
    def ok(self) -> bool:
        return self.item_id is not None


class Transport(abc.ABC):
    """One connection to one mailbox. Methods may be called from several upload threads at once."""

    #: Largest item the server accepts, in bytes (items above it are skipped and reported).
    max_item_bytes: int = 35 * 1024 * 1024
    #: Set by `core.engine.connect.connect_transport` while `connect` runs: the `time.monotonic()`
    #: by which connecting must be over, so each request's timeout can be cut to what is left.
    connect_deadline: float | None = None

    @property
    def endpoint(self) -> str:
        """Where this transport connects, for messages (a URL, or a description before it is known)."""
        return "the server"

    def sign_in(self) -> None:  # noqa: B027 - optional
        """Get what signing in needs before `connect`, asking the user if it must (a device-code
        sign-in waits for them), so that the connect time limit does not run while they type.

        Raises:
            ConnectError: the sign-in failed.
        """

    @abc.abstractmethod
    def connect(self) -> ServerInfo:
        """Connect and run the preflight: server version, mailbox (and archive) reachable with these
        rights, folders creatable.

        Raises:
            ConnectError: one line naming the cause and suggesting a fix.
        """

    @abc.abstractmethod
    def store_root(self) -> FolderHandle:
        """The top of the visible folder tree of the destination store (mailbox or archive)."""

    @abc.abstractmethod
    def well_known(self, role: str) -> FolderHandle | None:
        """The store's own folder for a role (inbox, sent, calendar, ...), or None when it has none."""

    @abc.abstractmethod
    def ensure_folder(self, parent: FolderHandle, name: str, container_class: str | None) -> FolderHandle:
        """The child of `parent` called `name` (compared without case), created when missing."""

    def find_folder(self, parent: FolderHandle, name: str, container_class: str | None = None) -> FolderHandle | None:
        """The child of `parent` called `name` (compared without case), or None. Never creates one:
        a dry run looks at the mailbox without changing it."""
        raise NotImplementedError(f"{type(self).__name__} cannot look up a folder without creating it")

    @abc.abstractmethod
    def create_items(self, folder: FolderHandle, payloads: Sequence[Payload]) -> list[CreateOutcome]:
        """Create `payloads` in `folder` in one request, each with its source stamp set.

        Raises:
            ServerBusy: the server refused the whole request and asked us to slow down.
            TransportError: the request failed; `unknown_outcome` True when items may exist.
        """

    @abc.abstractmethod
    def count_items(self, folder: FolderHandle) -> int:
        """The number of ordinary items in `folder`."""

    @abc.abstractmethod
    def find_stamps(self, folder: FolderHandle, stamps: Collection[str] | None = None) -> dict[str, list[str]]:
        """Items of `folder` carrying a source stamp: stamp -> the distinct ids of the items carrying it
        (more than one is a duplicate; an item never counts twice, whatever the server answers).

        With `stamps`, only those are looked up; with None, every stamped item is listed.
        """

    def count_and_stamps(self, folder: FolderHandle) -> tuple[int, dict[str, list[str]]]:
        """`count_items` and `find_stamps(folder)` together (what verification asks of every folder); a
        transport whose stamp listing also says how many items the folder holds answers both at once."""
        return self.count_items(folder), self.find_stamps(folder)

    def resolve_name(self, name: str) -> list[str]:
        """The SMTP addresses the address list (GAL) gives for `name` (ambiguous when several)."""
        return []

    # ----- recurring series: what completes one after its creation (calendar) -------------

    def series_steps(self, payload: Payload) -> list[str]:
        """The steps (exceptions to apply, in order) that complete `payload` once it is created; [] for
        most items. The engine journals each step, so a series is completed exactly once."""
        return []

    def apply_series_step(self, folder: FolderHandle, item_id: str, payload: Payload, step: str) -> None:
        """Apply one step to the created series `item_id`; a step the server shows done already is
        not applied again (so calling it twice is safe).

        Raises:
            ServerBusy, TransportError: as `create_items`; `permanent` when it will never succeed.
        """
        raise NotImplementedError(f"{type(self).__name__} has no series steps")

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""


def distinct_ids(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """stamp -> item ids from (stamp, item id) pairs, each id once per stamp, in the order first seen.

    Servers may name an item twice in one answer: gromox returns the stamp property twice on calendar
    items and tasks, which counted as duplicates that did not exist.
    """
    found: dict[str, dict[str, None]] = {}
    for stamp, item_id in pairs:
        found.setdefault(stamp, {})[item_id] = None
    return {stamp: list(ids) for stamp, ids in found.items()}


def is_unknown_outcome(exc: BaseException) -> bool:
    """Whether a failed request may nevertheless have been carried out by the server."""
    return bool(getattr(exc, "unknown_outcome", False))


def folder_names(path: Sequence[str]) -> str:
    """A folder path for messages: names joined by '/'."""
    return "/".join(path) or "(top)"
