"""What the validator reports. Rule ids and the JSON shape are a stable interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Rule(StrEnum):
    """Rule ids, part of the interface (JSON, SARIF, pre-commit output)."""

    BROKEN_SYMLINK = "broken-symlink"
    DEPLOY_SOURCE_MISSING = "deploy-source-missing"
    MISSING_MODULE = "missing-module"
    MISSING_REQUIREMENT = "missing-requirement"
    MISSING_ENTRY_POINT = "missing-entry-point"
    SYNTAX_ERROR = "syntax-error"
    OUTSIDE_REPO = "outside-repo"
    """A link or a copy that leaves the repository: not read, and said."""
    DEPLOY_ABORTS = "deploy-aborts"
    """A deploy script stops before its deploy: a copy step fails under `set -e`."""
    NOT_EVALUATED = "not-evaluated"
    """A deploy-script line the evaluator cannot model (info, never guessed)."""


RULE_HELP: dict[Rule, str] = {
    Rule.BROKEN_SYMLINK: "A link in the deployment package points nowhere.",
    Rule.DEPLOY_SOURCE_MISSING: "A deploy script copies a path that does not exist in the repo.",
    Rule.MISSING_MODULE: "An import reachable from main.py resolves to nothing in the package, "
    "the standard library or a declared requirement.",
    Rule.MISSING_REQUIREMENT: "A third-party import reachable from main.py whose distribution "
    "is not in requirements.txt.",
    Rule.MISSING_ENTRY_POINT: "The entry point is not a top-level function of main.py.",
    Rule.SYNTAX_ERROR: "A module in the import closure does not compile under the "
    "function's runtime.",
    Rule.OUTSIDE_REPO: "A link or a copy in a deployment package reaches outside the "
    "repository (the validator does not read it).",
    Rule.DEPLOY_ABORTS: "A deploy script stops before it deploys (a copy step fails under set -e).",
    Rule.NOT_EVALUATED: "A deploy-script construct the validator cannot evaluate, or a "
    "package it cannot model in full.",
}


class Severity(StrEnum):
    """How bad a finding is; errors fail the run (exit 1)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one variant of one function's deployment package."""

    rule: Rule
    severity: Severity
    function: str
    variant: str
    path: str
    """Relative to the repo root, as the user would open it."""
    line: int | None
    module: str | None
    message: str
    hint: str = ""
    """A one-line fix."""


@dataclass(frozen=True, slots=True)
class FunctionResult:
    """A function and the variants of its package that were checked."""

    name: str
    path: str
    variants: tuple[str, ...]
    ok: bool
    same_upload_as_source: tuple[str, ...] = ()
    """Script variants that upload the function folder as it stands: their findings are the
    `source` variant's, reported once under `source`."""


class NoFunctionsFound(LookupError):
    """The repository holds no Cloud Function the validator could find; the message says
    where it looked."""


@dataclass(frozen=True)
class ValidationReport:
    """Everything one validator run found."""

    repo: Path
    functions: tuple[FunctionResult, ...]
    findings: tuple[Finding, ...]
    seconds: float = 0.0
    cache_hits: int = 0
    files_parsed: int = 0
    packages_cached: int = 0
    """Package variants whose findings came from the cache (their content was unchanged)."""
    extra: dict[str, object] = field(default_factory=dict)

    def count(self, severity: Severity) -> int:
        """How many findings have `severity`."""
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def failing(self) -> tuple[str, ...]:
        """The functions with an error."""
        return tuple(f.name for f in self.functions if not f.ok)

    @property
    def has_errors(self) -> bool:
        """Whether any finding is an error (exit code 1)."""
        return any(f.severity is Severity.ERROR for f in self.findings)

    def for_function(self, name: str, *, info: bool = True) -> tuple[Finding, ...]:
        """The findings of one function (without the INFO ones unless `info`)."""
        return tuple(
            f
            for f in self.findings
            if f.function == name and (info or f.severity is not Severity.INFO)
        )
