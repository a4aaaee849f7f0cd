"""The validator's run as the dashboard, the walkthrough and explain use it: counted, with
its findings as lines (file:line, message, fix)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchwatch.sanitize import inert_line
from orchwatch.validate.model import Severity, ValidationReport

if TYPE_CHECKING:
    from orchwatch.config import ValidateOptions


def validation_lines(report: ValidationReport, show_info: bool = False) -> list[str]:
    """Per function: ok, or its findings with file:line and the fix hint (inert text)."""
    lines: list[str] = []
    for function in report.functions:
        findings = report.for_function(function.name, info=show_info)
        mark = "✓" if function.ok else "✗"
        lines.append(f"{mark} {function.name}" + ("" if findings else "  ok"))
        for finding in findings:
            where = f"{finding.path}:{finding.line}" if finding.line else finding.path
            lines.append(f"    {finding.severity.value} {finding.rule.value}  {where}")
            lines.append(f"      {finding.message}")
            if finding.hint:
                lines.append(f"      fix: {finding.hint}")
    return [inert_line(line, 1000) for line in lines]


@dataclass(frozen=True)
class Validation:
    """One run of the package validator, counted."""

    report: ValidationReport
    errors: int
    warnings: int
    failing: tuple[str, ...]
    """Functions with an error."""

    @property
    def lines(self) -> list[str]:
        """The findings as the actions pane and the confirmation show them."""
        return validation_lines(self.report)


def validate(options: ValidateOptions, repo: Path, only: str | None = None) -> Validation:
    """Run the validator on `repo` (or one function folder of it) with the config's
    `[validate]` settings.

    Raises:
        LookupError: no function folder in the repo (or none named `only`).
    """
    from orchwatch.validate.cache import FactsCache
    from orchwatch.validate.engine import settings_from, validate_repo

    report = validate_repo(
        repo, only=only, settings=settings_from(options), cache=FactsCache.default()
    )
    return Validation(
        report,
        errors=report.count(Severity.ERROR),
        warnings=report.count(Severity.WARNING),
        failing=report.failing,
    )
