"""The README's coverage table of the `/validate-daily` runbook: every check id a
"built in" row names is in the walkthrough's output, every check a "configured" row names
is in the shipped example that models the runbook's pipeline, and together they are at
least 20 of the routine checks."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from orchwatch.analysis.daily import evaluate
from orchwatch.config import Config, load_config
from orchwatch.gather import gather_daily
from orchwatch.sources.base import Sources

README = Path(__file__).parents[1] / "README.md"
SECTION = "### Coverage of the team's `/validate-daily` runbook"


def rows() -> list[list[str]]:
    text = README.read_text()
    table = text[text.index(SECTION) :].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in table.splitlines()
        if line.startswith("| ") and not line.startswith("| runbook check")
    ]


def test_every_built_in_row_names_checks_the_walkthrough_has(config: Config, demo: Sources) -> None:
    ids = {
        r.id
        for r in evaluate(
            gather_daily(config, demo, date(2026, 2, 1), validation=lambda: (0, 0, [])),
            config.timezone,
        )
    }
    built_in = [row for row in rows() if row[2] == "built in"]
    assert len(built_in) >= 12
    for check, _, _, how in built_in:
        named = [n for n in re.findall(r"`([^`]+)`", how) if re.fullmatch(r"[\w.-]+", n)]
        named = [n for n in named if "." in n or n in {"execution_log", "failed_queue"} | ids]
        assert named, f"{check}: a built-in row names its check id"
        for name in named:
            assert name in ids, f"{check}: `{name}` is not a check of the walkthrough"


def test_the_table_lists_the_runbook_routine_checks() -> None:
    listed = rows()
    assert len(listed) >= 24
    assert {row[2] for row in listed} <= {"built in", "configured", "partly", "not yet"}


MAY = Path(__file__).parents[1] / "orchwatch" / "examples" / "validate-daily-2026-05.toml"


def test_every_configured_row_names_checks_the_runbooks_example_ships() -> None:
    shipped = {check.name for check in load_config(MAY).daily_checks}
    configured = [row for row in rows() if row[2] == "configured"]
    for check, _, _, how in configured:
        named = [n for n in re.findall(r"`([^`]+)`", how) if n in shipped]
        assert named, f"{check}: a configured row names a check of {MAY.name}"
    covered = [row for row in rows() if row[2] in ("built in", "configured")]
    assert len(covered) >= 20
