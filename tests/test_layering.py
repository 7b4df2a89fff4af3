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


def _runtime_imports(path: Path, package: str) -> set[str]:
    """Absolute module names `path` imports when it runs (also inside functions; not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
    return found


def test_no_import_cycle_between_areas() -> None:
    """The areas of core (engine, verify, transport, convert, pst...) import each other without a cycle."""

    def area(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2]) if parts[0] == "core" and len(parts) > 1 else parts[0]

    graph: dict[str, set[str]] = {}
    for path in sorted((REPO / "core").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        mine = area(module)
        for target in _runtime_imports(path, package):
            if target.startswith("core.") and area(target) != mine:
                graph.setdefault(mine, set()).add(area(target))

    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return [*trail, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
        return None

    cycles = [c for c in (cycle_from(a) for a in sorted(graph)) if c]
    assert cycles == [], f"import cycles between areas: {cycles}"
