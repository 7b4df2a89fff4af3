"""What every wizard step shares: the step indicator, a scrolling form, the message line, Back/Next."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Label, Static

from core.profile.checks import Problem
from tui.state import WizardState
from tui.widgets.steps import StepIndicator

BACK, NEXT = "back", "next"


def field_row(label: str, widget: Widget, *, id: str | None = None, hint: str = "") -> Horizontal:
    """A form row: a fixed-width label, then the widget (and an optional dim hint)."""
    children: list[Widget] = [Label(label, classes="field-label"), widget]
    if hint:
        children.append(Static(hint, classes="hint"))
    return Horizontal(*children, classes="field", id=id)


class StepScreen(Screen[str]):
    """A wizard step. Subclasses set `step` (0-5), `key` (a `STEP_KEYS` name) and build `form()`.

    `title_text` is one line of at most 78 characters (it is the step's heading at 80 columns; the
    step indicator above it already says which step of six this is).

    Next checks the step with `validate()`; any error keeps the user here and is shown in red
    under the form. Back keeps what was typed. The screen dismisses with "back" or "next".
    """

    BINDINGS = [
        Binding("ctrl+n", "next", "Next", priority=True),
        Binding("escape", "back", "Back", show=False),  # on the Back button; the footer's room goes to the step's keys
    ]

    step = 0
    key = "connection"
    title_text = ""

    def __init__(self, state: WizardState, note: str = "") -> None:
        """`note`: a line shown under the form when the step opens (the demo's greeting)."""
        super().__init__()
        self.state = state
        self.note = note

    def compose(self) -> ComposeResult:
        yield StepIndicator(self.step, id="steps")
        yield Static(self.title_text, id="step-title")
        with VerticalScroll(id="form"):
            yield from self.form()
        message = Static(self.note, id="message", classes="note" if self.note else "")
        message.display = bool(self.note)
        yield message
        with Horizontal(id="nav"):
            yield Button("< Back (Esc)", id="back", compact=True)
            yield from self.extra_buttons()
            yield Button(self.next_label(), id="next", variant="primary", compact=True)
        yield Footer()

    def form(self) -> ComposeResult:
        yield from ()

    def extra_buttons(self) -> ComposeResult:
        yield from ()

    def next_label(self) -> str:
        return "Next > (^n)"

    # ----- reading and checking ---------------------------------------------------------------------

    def save(self) -> None:
        """Copy the widgets' values into `self.state`."""

    def validate(self) -> list[str]:
        """Errors that keep the user on this step: the step's own, then core's profile rules."""
        return [self.describe(p) for p in self.state.problems(self.key) if p.severity == "error"]

    def warnings(self) -> list[str]:
        return [self.describe(p) for p in self.state.problems(self.key) if p.severity == "warning"]

    @staticmethod
    def describe(p: Problem) -> str:
        return f"{p.key_path}: {p.message}"

    def show_message(self, text: str, *, error: bool = False) -> None:
        msg = self.query_one("#message", Static)
        msg.update(text)
        msg.display = bool(text)  # an empty message line takes no row from the form
        msg.set_class(error, "error")
        msg.set_class(not error and bool(text), "note")

    # ----- navigation -------------------------------------------------------------------------------

    def action_next(self) -> None:
        self.save()
        errors = self.validate()
        if errors:
            self.show_message("\n".join(errors), error=True)
            self.app.bell()
            return
        self.dismiss(NEXT)

    def action_back(self) -> None:
        self.save()
        self.dismiss(BACK)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            event.stop()
            self.action_next()
        elif event.button.id == "back":
            event.stop()
            self.action_back()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter in a field moves on to the next field, as in a paper form.
        event.stop()
        self.focus_next()
