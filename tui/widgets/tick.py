"""A checkbox that shows its state by its glyph, not only by colour (16-colour terminals, screen readers)."""

from __future__ import annotations

from textual.widgets import Checkbox


class Tick(Checkbox):
    """`▐X▌` when ticked, `▐ ▌` when not."""

    @property
    def _button(self):  # type: ignore[override]
        self.BUTTON_INNER = "X" if self.value else " "
        return super()._button
