"""Progress events: the only thing a UI knows about a run.

Small frozen dataclasses, emitted by `core.engine.run(plan, on_event, cancel)`. The wizard
posts them as Textual messages; the headless CLI prints them (or writes JSON lines, using
`to_json`). Rates and ETAs are computed by the receivers from these facts, or carried in
`Progress`, which the engine emits a few times per second.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Event:
    """Base class. `kind` names the event in JSON lines."""

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["event"] = self.kind
        return json.dumps(data, ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class Connecting(Event):
    """Connecting to the server (and its preflight), emitted at each attempt and every few seconds
    while an attempt waits for an answer. `last_error` is why the previous attempt failed (None on
    the first); the whole connect gives up after `timeout_seconds` (connection.timeout_seconds)."""

    endpoint: str
    attempt: int
    elapsed_seconds: float
    timeout_seconds: float
    last_error: str | None = None
    waiting: bool = False
    """True for the reminders sent while one attempt is still waiting for an answer."""


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """Connected, and the preflight passed."""

    endpoint: str
    version: str
    attempts: int
    elapsed_seconds: float


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    profile: str
    mailbox: str
    store: str  # mailbox | archive
    dry_run: bool
    folders: int
    items_selected: int
    bytes_selected: int


@dataclass(frozen=True, slots=True)
class FolderPlanned(Event):
    """A folder that will be processed; emitted for every folder before any upload."""

    pst: str
    source_path: tuple[str, ...]
    target_path: tuple[str, ...]
    items_selected: int
    bytes_selected: int


@dataclass(frozen=True, slots=True)
class FolderStarted(Event):
    pst: str
    source_path: tuple[str, ...]
    target_path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ItemImported(Event):
    pst: str
    source_path: tuple[str, ...]
    size: int


@dataclass(frozen=True, slots=True)
class ItemSkipped(Event):
    """Already in the mailbox (journal or source stamp), or filtered out."""

    pst: str
    source_path: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class ItemFailed(Event):
    pst: str
    source_path: tuple[str, ...]
    subject: str | None
    reason: str
    count: int = 1
    """How many items this stands for: more than one for a part of the PST that cannot be read."""


@dataclass(frozen=True, slots=True)
class Throttled(Event):
    """The server asked us to slow down; all workers back off."""

    back_off_seconds: float
    concurrency: int
    reason: str


@dataclass(frozen=True, slots=True)
class Progress(Event):
    """Overall progress, emitted a few times per second while items flow."""

    items_done: int
    items_total: int
    bytes_done: int
    bytes_total: int
    items_per_second: float
    eta_seconds: float | None
    concurrency: int


@dataclass(frozen=True, slots=True)
class FolderFinished(Event):
    pst: str
    source_path: tuple[str, ...]
    imported: int
    skipped: int
    failed: int


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    imported: int
    skipped: int
    failed: int
    interrupted: bool
    report_json: str | None = None
    report_html: str | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)
