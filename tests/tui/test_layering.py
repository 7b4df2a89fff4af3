"""The UI's side of the import rules: tui never imports exchangelib or pypff, and stays lazy about Textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_layering import imports_of

REPO = Path(__file__).resolve().parents[2]


def test_tui_sources_never_import_library_adapters() -> None:
    """No module under tui/ imports exchangelib or pypff (it goes through core)."""
    bad = [
        f"{p.relative_to(REPO)} imports {m}"
        for p in sorted((REPO / "tui").rglob("*.py"))
        for m in imports_of(p) & {"exchangelib", "pypff"}
    ]
    assert bad == []


def test_cli_registration_loads_neither_textual_nor_adapters() -> None:
    """Registering the UI's commands loads neither textual nor exchangelib, so headless commands stay fast.

    (pypff may load: `core.engine`, which registers `run`, reads PSTs; that is core's own business.)"""
    code = (
        "import sys, argparse\n"
        "import tui.commands\n"
        "tui.commands.register(argparse.ArgumentParser().add_subparsers())\n"
        "first = sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'exchangelib'})\n"
        "from core.cli import build_parser\n"
        "build_parser([tui.commands.register]).parse_args(['demo'])\n"
        "print(','.join(first), 'textual' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_wizard_modules_load_textual_but_no_adapters() -> None:
    """Importing every tui module loads textual (the check is live) but never exchangelib."""
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "tui").rglob("*.py")
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print('textual' in sys.modules, 'exchangelib' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True False"
