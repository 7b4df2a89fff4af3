"""The one-line step indicator shown at the top of every wizard step."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

STEP_TITLES = ("Connection", "Credentials", "Destination", "PSTs", "Options", "Review")


class StepIndicator(Static):
    """`1 Connection › 2 Credentials › …` with the current step highlighted and done steps dimmed."""

    DEFAULT_CSS = """
    StepIndicator { height: 1; width: 1fr; background: $panel; padding: 0 1; }
    """

    def __init__(self, current: int, **kwargs) -> None:
        super().__init__(self.render_steps(current), **kwargs)
        self.current = current

    @staticmethod
    def render_steps(current: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, title in enumerate(STEP_TITLES):
            if i:
                text.append(" › ", style="dim")
            label = f"{i + 1} {title}"
            if i == current:
                text.append(label, style="bold reverse")
            elif i < current:
                text.append(label, style="green")
            else:
                text.append(label, style="dim")
        return text
