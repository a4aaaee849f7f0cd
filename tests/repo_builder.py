"""Build fixture repos in tmp_path: files, links, and deploy scripts."""

from __future__ import annotations

import os
from pathlib import Path

FUNC = "orchestration/cloud_functions"


def build(root: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Path:
    """Write `files` (path -> text) and `links` (link path -> target path, both repo-relative;
    the link is made relative, as the pipeline's links are)."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for rel, target in (links or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(root / target, path.parent), path)
    return root


def function(
    name: str, main: str, requirements: str = "", extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Files of one function folder."""
    files = {f"{FUNC}/{name}/main.py": main, f"{FUNC}/{name}/requirements.txt": requirements}
    for rel, text in (extra or {}).items():
        files[f"{FUNC}/{name}/{rel}"] = text
    return files


def findings(report, rule: str | None = None):  # type: ignore[no-untyped-def]
    """(rule, severity, path, line, module) of a report's findings, optionally of one rule."""
    return [
        (f.rule.value, f.severity.value, f.path, f.line, f.module)
        for f in report.findings
        if rule is None or f.rule.value == rule
    ]
