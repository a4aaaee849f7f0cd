"""Custom checks with the runbook's tiers: pass / warn / critical, a fix, a due time, and
a game calendar (off days skipped or held to their own expectation; a calendar that
cannot be read is unknown, never a pass)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from config_helpers import MINIMAL, assert_config_error

from orchwatch.analysis.daily import CustomCheckResult, Fetched, evaluate
from orchwatch.cli import main
from orchwatch.config import Config, DailyCheck
from orchwatch.gather import gather_daily
from orchwatch.sources.base import Sources

DAY = date(2026, 1, 28)
COVERAGE = DailyCheck(
    "minutes coverage",
    "SELECT 1",
    ">= 90",
    warn=">= 80",
    fix="re-run player_game_summary for the date",
)


def judged(
    config: Config,
    demo: Sources,
    value: float | None,
    spec: DailyCheck = COVERAGE,
    games: Fetched[float | None] | None = None,
    now: datetime | None = None,
) -> tuple[str, str, str]:
    inputs = replace(
        gather_daily(config, demo, DAY, validation=lambda: (0, 0, [])),
        custom=[
            CustomCheckResult(
                spec.name, spec.expect, value, "boom" if value is None else "", None, spec
            )
        ],
        games=games,
    )
    if now is not None:
        inputs = replace(inputs, now=now)
    [result] = [r for r in evaluate(inputs, config.timezone) if r.id == f"custom.{spec.name}"]
    return result.status.value, result.evidence, result.next_step


@pytest.mark.parametrize(
    ("value", "status", "evidence"),
    [
        (95, "pass", "95 (expected >= 90)"),
        (85, "warn", "85 (expected >= 90; warns at >= 80)"),
        (50, "fail", "50: critical (expected >= 90, warns at >= 80)"),
        (None, "unknown", "query failed: boom"),
    ],
)
def test_the_tiers(
    config: Config, demo: Sources, value: float | None, status: str, evidence: str
) -> None:
    got = judged(config, demo, value)
    assert got[:2] == (status, evidence)
    if status in ("warn", "fail"):
        assert got[2] == "re-run player_game_summary for the date"


def test_off_days_are_skipped_or_held_to_their_own_expectation(
    config: Config, demo: Sources
) -> None:
    skip = replace(COVERAGE, skip_off_days=True)
    assert judged(config, demo, 0, skip, Fetched(0.0))[:2] == ("skipped", "off day (no games)")
    assert judged(config, demo, 50, skip, Fetched(9.0))[0] == "fail"  # a game day
    quiet = replace(COVERAGE, off_day_expect="== 0")
    assert judged(config, demo, 0, quiet, Fetched(0.0))[:2] == (
        "pass",
        "off day: 0 (expected == 0)",
    )
    assert judged(config, demo, 3, quiet, Fetched(0.0))[0] == "fail"  # no warn tier off days
    # Without a calendar every day is a game day.
    assert judged(config, demo, 50, skip, None)[0] == "fail"


@pytest.mark.parametrize("games", [Fetched(None, "permission denied"), Fetched(None)])
def test_a_calendar_that_cannot_be_read_is_unknown(
    config: Config, demo: Sources, games: Fetched[float | None]
) -> None:
    status, evidence, _ = judged(config, demo, 95, replace(COVERAGE, skip_off_days=True), games)
    assert status == "unknown"
    assert "game calendar could not be read" in evidence


def test_a_check_is_not_due_before_its_time(config: Config, demo: Sources) -> None:
    spec = replace(COVERAGE, due_after=timedelta(hours=10))
    morning = datetime(2026, 1, 28, 9, 0, tzinfo=config.timezone)
    assert judged(config, demo, 50, spec, now=morning)[:2] == ("not due", "due at 01-28 10:00")
    assert judged(config, demo, 50, spec, now=morning + timedelta(hours=2))[0] == "fail"


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ('expect = ">= 90"\nwarn = "most"', "daily.checks[0].warn", "operator and a number"),
        ('expect = "all"', "daily.checks[0].expect", "operator and a number"),
        (
            'expect = "> 0"\noff_days = "skip"\noff_day_expect = "== 0"',
            "daily.checks[0].off_day_expect",
            "cannot both skip",
        ),
        ('expect = "> 0"\ndue_after = "late"', "daily.checks[0].due_after", ""),
    ],
)
def test_a_bad_tier_names_its_key(table: str, key: str, expected: str) -> None:
    text = MINIMAL + f'[[daily.checks]]\nname = "c"\nsql = "SELECT 1"\n{table}\n'
    assert_config_error(text, key, expected)


def test_the_walkthrough_says_a_warning_with_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the demo's store: phase 2's run count on the date against tiers it misses, a
    calendar from the same store, JSON out."""
    from orchwatch.config import EXAMPLE_CONFIG

    text = Path(EXAMPLE_CONFIG).read_text()
    text = text.replace(
        "# [daily]\n",
        '[daily]\ngame_day_sql = "SELECT COUNT(*) FROM phase_completions WHERE game_date = @date"\n',
        1,
    )
    text += (
        '\n[[daily.checks]]\nname = "phase2 runs"\n'
        'sql = "SELECT COUNT(*) FROM phase_completions WHERE game_date = @date'
        " AND phase = 'phase2'\"\n"
        'expect = ">= 100000"\nwarn = ">= 1"\nfix = "look at the scrapers\' schedule"\n'
        'off_days = "skip"\n'
    )
    path = tmp_path / "orchwatch.toml"
    path.write_text(text)
    code = main(
        ["--config", str(path), "daily", "--demo", "--date", "2026-01-28", "--format", "json"]
    )
    out = capsys.readouterr().out
    import json

    checks = {c["id"]: c for c in json.loads(out)["checks"]}
    check = checks["custom.phase2 runs"]
    assert check["status"] == "warn"
    assert "warns at >= 1" in check["evidence"]
    assert check["next_step"] == "look at the scrapers' schedule"
    assert code == 2  # the demo's logs do not reach back to 01-28: its orchestrators are unknown
