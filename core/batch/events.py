"""Batch progress events: the engine's events tagged with their mailbox, plus batch milestones.

Like `core.events`, small frozen dataclasses; `to_json` gives one JSON object per line. An
engine event keeps its own fields and `event` name and gains `mailbox` and `store`, so a
consumer of `pstimport run --json` reads `pstimport batch --json` the same way.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from core.events import Event


@dataclass(frozen=True, slots=True)
class BatchStarted(Event):
    name: str
    mailboxes: int
    psts: int
    shard: str | None
    parallel_mailboxes: int
    max_connections: int
    dry_run: bool
    skipped_other_shards: int = 0


@dataclass(frozen=True, slots=True)
class MailboxQueued(Event):
    """A mailbox (and store) this batch will import, in CSV order, before any starts."""

    mailbox: str
    store: str
    psts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MailboxStarted(Event):
    mailbox: str
    store: str
    psts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MailboxEvent(Event):
    """An engine event of one mailbox's run."""

    mailbox: str
    store: str
    inner: Event

    @property
    def kind(self) -> str:
        return self.inner.kind

    def to_json(self) -> str:
        data = dataclasses.asdict(self.inner)
        data["event"] = self.inner.kind
        data["mailbox"] = self.mailbox
        data["store"] = self.store
        return json.dumps(data, ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class MailboxFinished(Event):
    """status: ok | partial (items failed or counts differ) | failed (nothing imported: connect,
    PST or sign-in error) | interrupted | not-started."""

    mailbox: str
    store: str
    status: str
    exit_code: int
    imported: int
    skipped: int
    failed: int
    error: str | None = None
    report_json: str | None = None
    report_html: str | None = None


@dataclass(frozen=True, slots=True)
class BatchFinished(Event):
    mailboxes: int
    ok: int
    not_ok: int
    imported: int
    skipped: int
    failed: int
    interrupted: bool
    exit_code: int
    seconds: float
    items_per_second: float
    index_json: str | None = None
    index_html: str | None = None
