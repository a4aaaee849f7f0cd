"""Validator output: text for people, JSON (a stable schema) and SARIF 2.1.0 for code scanning."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from orchwatch import __version__
from orchwatch.plural import counted
from orchwatch.validate.model import RULE_HELP, Finding, Rule, Severity, ValidationReport

_MARK = {Severity.ERROR: "✗ error  ", Severity.WARNING: "! warning", Severity.INFO: "· info   "}


def to_text(report: ValidationReport, *, show_info: bool = True) -> str:
    """Findings grouped by function, each with file:line and a fix hint."""
    lines: list[str] = []
    for function in report.functions:
        findings = report.for_function(function.name, info=show_info)
        verdict = "ok" if function.ok else "FAILS"
        variants = [
            f"{v} (= source)" if v in function.same_upload_as_source else v
            for v in function.variants
        ]
        lines.append(f"{function.name}  {verdict}  ({function.path}; {', '.join(variants)})")
        lines += _finding_lines(findings)
    # Whatever no function above holds is printed too: the count line below counts it.
    named = {function.name for function in report.functions}
    stray = [
        f
        for f in report.findings
        if f.function not in named and (show_info or f.severity is not Severity.INFO)
    ]
    if stray:
        lines.append("(not attributed to a function)")
        lines += _finding_lines(stray)
    errors, warnings = report.count(Severity.ERROR), report.count(Severity.WARNING)
    failing = len(report.failing)
    lines.append(
        f"{counted(len(report.functions), 'function')}, {failing} failing: "
        f"{counted(errors, 'error')}, {counted(warnings, 'warning')} ({report.seconds:.2f} s)"
    )
    return "\n".join(lines)


def _finding_lines(findings: Sequence[Finding]) -> list[str]:
    """Findings, errors first, each with file:line, its message and its fix."""
    lines: list[str] = []
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    for finding in sorted(findings, key=lambda f: (order[f.severity], f.path, f.line or 0)):
        where = f"{finding.path}:{finding.line}" if finding.line else finding.path
        lines.append(f"  {_MARK[finding.severity]} {finding.rule:<20} {where}  [{finding.variant}]")
        lines.append(f"      {finding.message}")
        if finding.hint:
            lines.append(f"      fix: {finding.hint}")
    return lines


def to_json_data(report: ValidationReport) -> dict[str, Any]:
    """The JSON document (schema version 1)."""
    return {
        "version": 1,
        "repo": str(report.repo),
        "functions": [
            {
                "name": f.name,
                "path": f.path,
                "variants": list(f.variants),
                "same_upload_as_source": list(f.same_upload_as_source),
                "ok": f.ok,
            }
            for f in report.functions
        ],
        "findings": [
            {
                "rule": str(f.rule),
                "severity": str(f.severity),
                "function": f.function,
                "variant": f.variant,
                "path": f.path,
                "line": f.line,
                "module": f.module,
                "message": f.message,
            }
            for f in report.findings
        ],
    }


def to_json(report: ValidationReport) -> str:
    """JSON text of `to_json_data`."""
    return json.dumps(to_json_data(report), indent=2)


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def to_sarif(report: ValidationReport) -> str:
    """SARIF 2.1.0: one run, one rule per rule id, one result per finding."""
    rules = [{"id": str(rule), "shortDescription": {"text": RULE_HELP[rule]}} for rule in Rule]
    results = []
    for f in report.findings:
        region = {"startLine": f.line} if f.line else None
        location: dict[str, Any] = {"artifactLocation": {"uri": f.path, "uriBaseId": "REPO"}}
        if region:
            location["region"] = region
        results.append(
            {
                "ruleId": str(f.rule),
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f"{f.message}" + (f" Fix: {f.hint}" if f.hint else "")},
                "locations": [{"physicalLocation": location}],
                "properties": {"function": f.function, "variant": f.variant},
            }
        )
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "orchwatch validate",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"REPO": {"uri": report.repo.as_uri() + "/"}},
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2)
