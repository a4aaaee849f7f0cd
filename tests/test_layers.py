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
