"""Step 5: threads and batches (with throttling advice), address rewriting, item types, dates, dry run."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Checkbox, Input, Static

from core.profile.checks import EWS_CONCURRENCY_BUDGET, GRAPH_CONCURRENCY_BUDGET
from core.profile.model import ITEM_TYPES
from tui.screens.base import StepScreen, field_row
from tui.widgets.tick import Tick


def throttling_advice(transport: str, threads: int | None) -> str:
    """What the server's throttling makes of `threads` concurrent requests."""
    if transport == "graph":
        budget, who = GRAPH_CONCURRENCY_BUDGET, "Graph allows 4 concurrent requests per mailbox"
    else:
        budget, who = EWS_CONCURRENCY_BUDGET, "Exchange's default EWS policy allows 10 concurrent requests per user"
    if threads is None:
        return who + "."
    if threads > budget:
        return f"{who}: {threads} threads will be throttled (ErrorServerBusy / 429) unless the policy was raised."
    return f"{who}; 4 is a safe start, and pstimport backs off by itself when the server says it is busy."


class OptionsScreen(StepScreen):
    step = 4
    key = "options"
    title_text = "Options: speed, address rewriting, what to import"

    def form(self) -> ComposeResult:
        s = self.state
        yield field_row(
            "Max threads", Input(str(s.max_threads), type="integer", compact=True, id="max_threads"), hint="1-32"
        )
        yield Static("", id="advice", classes="hint")
        yield field_row(
            "Items per batch", Input(str(s.batch_items), type="integer", compact=True, id="batch_items"), hint="1-100"
        )
        yield field_row(
            "MB per batch",
            Input(str(s.batch_megabytes), type="integer", compact=True, id="batch_megabytes"),
            hint="1-100",
        )
        yield field_row(
            "Rewrite addresses",
            Horizontal(
                Tick("on", s.rewrite_enabled, compact=True, id="rw_enabled"),
                Tick("contacts", s.rewrite_contacts, compact=True, id="rw_contacts"),
                Tick("GAL", s.rewrite_gal, compact=True, id="rw_gal"),
                Tick("from messages", s.rewrite_recipient_collection, compact=True, id="rw_collect"),
                classes="checks",
            ),
        )
        yield field_row(
            "Item types",
            Horizontal(
                *[Tick(t, t in s.item_types, compact=True, id=f"type_{t}") for t in ITEM_TYPES], classes="checks grid3"
            ),
        )
        yield field_row("Dated on/after", Input(s.after, placeholder="YYYY-MM-DD (optional)", compact=True, id="after"))
        yield field_row("Dated before", Input(s.before, placeholder="YYYY-MM-DD (optional)", compact=True, id="before"))
        yield field_row(
            "",
            Tick("Dry run: sign in and count only; upload nothing", s.dry_run, compact=True, id="dry_run"),
        )

    def on_mount(self) -> None:
        self.query_one("#max_threads", Input).focus()
        self._advice()

    @on(Input.Changed, "#max_threads")
    def _advice(self) -> None:
        try:
            threads: int | None = int(self.query_one("#max_threads", Input).value)
        except ValueError:
            threads = None
        self.query_one("#advice", Static).update(throttling_advice(self.state.transport, threads))

    def _int(self, wid: str, default: int) -> int:
        try:
            return int(self.query_one(f"#{wid}", Input).value)
        except ValueError:
            return default

    def save(self) -> None:
        s = self.state
        self._bad_numbers = [
            w
            for w in ("max_threads", "batch_items", "batch_megabytes")
            if not self.query_one(f"#{w}", Input).value.strip().lstrip("-").isdigit()
        ]
        s.max_threads = self._int("max_threads", s.max_threads)
        s.batch_items = self._int("batch_items", s.batch_items)
        s.batch_megabytes = self._int("batch_megabytes", s.batch_megabytes)
        s.rewrite_enabled = self.query_one("#rw_enabled", Checkbox).value
        s.rewrite_contacts = self.query_one("#rw_contacts", Checkbox).value
        s.rewrite_gal = self.query_one("#rw_gal", Checkbox).value
        s.rewrite_recipient_collection = self.query_one("#rw_collect", Checkbox).value
        s.item_types = [t for t in ITEM_TYPES if self.query_one(f"#type_{t}", Checkbox).value]
        s.after = self.query_one("#after", Input).value.strip()
        s.before = self.query_one("#before", Input).value.strip()
        s.dry_run = self.query_one("#dry_run", Checkbox).value

    def validate(self) -> list[str]:
        errors = [f"{w}: enter a whole number" for w in getattr(self, "_bad_numbers", [])]
        return errors + super().validate()

    def warnings(self) -> list[str]:
        return super().warnings()
