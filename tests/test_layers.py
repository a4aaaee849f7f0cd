"""Nothing outside orchwatch/tui/ may import textual: the headless layers stay headless."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import orchwatch


def headless_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(orchwatch.__path__, "orchwatch."):
        if info.name.startswith("orchwatch.tui") or info.name == "orchwatch.__main__":
            continue
        names.append(info.name)
    return names


def test_headless_modules_exist() -> None:
    assert {"orchwatch.cli", "orchwatch.config", "orchwatch.analysis.completion"} <= set(
        headless_modules()
    )


def test_no_headless_module_imports_textual() -> None:
    modules = headless_modules()
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"textual imported by a headless module: {result.stdout}"


# --- the import graph: layers point down, and nothing goes round in a circle ------------------

import ast  # noqa: E402
from pathlib import Path  # noqa: E402

LAYERS: tuple[tuple[str, ...], ...] = (
    # foundations: shapes, time, text; no orchwatch import above them
    (
        "orchwatch",
        "orchwatch.model",
        "orchwatch.pubsub",
        "orchwatch.startup",
        "orchwatch.clock",
        "orchwatch.dates",
        "orchwatch.names",
        "orchwatch.plural",
        "orchwatch.sanitize",
        "orchwatch.glyphs",
        "orchwatch.files",
    ),
    ("orchwatch.actions.template", "orchwatch.config"),
    ("orchwatch.validate",),
    ("orchwatch.sources",),
    ("orchwatch.analysis",),
    ("orchwatch.actions",),
    ("orchwatch.gather", "orchwatch.snapshot", "orchwatch.recorder"),
    ("orchwatch.postmortem",),
    ("orchwatch.preflight", "orchwatch.render"),
    ("orchwatch.tui",),
    ("orchwatch.cli", "orchwatch.__main__", "orchwatch.launch"),
)
"""Lowest first. A module belongs to the longest prefix listed; it may import its own
layer and the ones below, never one above."""


def _modules() -> dict[str, Path]:
    root = Path(orchwatch.__file__).parent
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _layer(module: str) -> int:
    best, level = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), index
    assert level >= 0, f"{module} is in no layer: add it to LAYERS"
    return level


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the orchwatch modules it imports anywhere (top level, in functions, or for
    type checking only)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                candidates = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            targets |= {c for c in candidates if c in modules and c != name}
        graph[name] = targets
    return graph


def test_imports_only_point_down_the_layers() -> None:
    graph = _imports(_modules())
    upward = sorted(
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in graph.items()
        for target in targets
        if _layer(target) > _layer(module)
    )
    assert upward == []


def test_no_module_imports_itself_round_a_circle() -> None:
    graph = _imports(_modules())
    # strongly connected components (Tarjan): any with more than one module is a circle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == []


def test_the_ui_needs_no_type_escapes() -> None:
    """Screens read the app through typed accessors (`tui/context.py`), not `type: ignore`."""
    root = Path(orchwatch.__file__).parent / "tui"
    escapes = [
        f"{path.relative_to(root.parent)}:{number}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "type: ignore" in line
    ]
    assert escapes == []
