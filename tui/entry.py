"""The `pstimport` console script: core's commands plus the wizard's.

Textual is imported only when a command that shows the UI runs, so headless commands
start fast and work without a terminal.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence

from core.cli import run

UI_MODULE = "tui.commands"  # adds `demo`, the wizard, and `run` with the TUI progress screen


def main(argv: Sequence[str] | None = None) -> None:
    extra = []
    default = None
    if importlib.util.find_spec(UI_MODULE) is not None:
        ui = importlib.import_module(UI_MODULE)
        extra.append(ui.register)
        default = ui.open_wizard
    sys.exit(run(argv, extra=extra, default=default))


if __name__ == "__main__":
    main()
