"""The architecture's import rules, enforced: core has no UI, tui has no library adapters."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# package -> the only places allowed to import it
ALLOWED = {
    "textual": ("tui/",),
    "pypff": ("core/pst/",),
    "exchangelib": ("core/transport/ews/",),
}
FORBIDDEN_IN = {"core/": ("textual", "tui"), "tui/": ("exchangelib", "pypff")}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def product_files() -> list[Path]:
    return sorted(p for d in ("core", "tui") for p in (REPO / d).rglob("*.py"))


def test_static_import_rules() -> None:
    """No module imports a package outside the places the architecture allows."""
    problems = []
    for path in product_files():
        rel = path.relative_to(REPO).as_posix()
        mods = imports_of(path)
        for package, places in ALLOWED.items():
            if package in mods and not rel.startswith(places):
                problems.append(f"{rel} imports {package}")
        for prefix, banned in FORBIDDEN_IN.items():
            if rel.startswith(prefix):
                problems.extend(f"{rel} imports {b}" for b in banned if b in mods)
    assert problems == []


def test_core_runs_without_textual() -> None:
    """Importing every core module in a fresh interpreter never loads textual."""
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "core").rglob("*.py")
        if p.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'tui')]\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
