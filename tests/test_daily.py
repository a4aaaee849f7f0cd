"""The morning checklist: rules table by table, the three formats and exit codes, the screen."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from tui_helpers import SIZE, make_app, settle, static_text, wait_for

from orchwatch.analysis.daily import (
    VERDICT_EXIT,
    CheckResult,
    CheckStatus,
    CustomCheckResult,
    DailyInputs,
    Fetched,
    evaluate,
    overall,
    parse_expectation,
)
from orchwatch.cli import main
from orchwatch.config import EXAMPLE_CONFIG, Config
from orchwatch.gather import gather_daily
from orchwatch.model import ExecutionLogRow, FailedQueueItem
from orchwatch.sources.base import Sources
from orchwatch.tui.screens.daily import DailyScreen
from orchwatch.tui.widgets.completion_grid import CompletionGrid

NY = ZoneInfo("America/New_York")


def statuses(results) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r.id: r.status.value for r in results}


def test_incident_date_fails_on_the_story(config: Config, demo: Sources) -> None:
    results = evaluate(gather_daily(config, demo, date(2026, 2, 1)), config.timezone)
    by_id = statuses(results)
    assert by_id["phase3.completion"] == "fail"
    assert by_id["phase3.trigger"] == "fail"
    assert by_id["orchestrator.phase3-to-phase4-orchestrator"] == "fail"
    assert by_id["phase2.completion"] == "pass"
    assert by_id["validate"] == "skipped"  # no repo configured: said, not unknown
    evidence = {r.id: r.evidence for r in results}
    assert "team_defense_game_summary untracked" in evidence["phase3.completion"]
    assert "ModuleNotFoundError" in evidence["orchestrator.phase3-to-phase4-orchestrator"]
    assert overall(results) is CheckStatus.FAIL


def test_what_a_missing_trigger_stops_is_blocked_by_it_not_failed_again(
    config: Config, demo: Sources
) -> None:
    """Phase 3 never triggered phase 4, so phases 4 and 5 cannot have run: one cause,
    one failure; the rest says what it waits on."""
    results = evaluate(gather_daily(config, demo, date(2026, 2, 1)), config.timezone)
    by_id = {r.id: r for r in results}
    downstream = ("phase4.completion", "phase4.trigger", "phase5.completion")
    for check in downstream:
        assert by_id[check].status is CheckStatus.BLOCKED, check
        assert by_id[check].cause == "phase3.trigger"
        assert by_id[check].evidence.startswith("blocked: phase3 never triggered phase4 · ")
    assert by_id["phase3.trigger"].status is CheckStatus.FAIL
    # on a healthy date nothing is blocked
    healthy = evaluate(gather_daily(config, demo, date(2026, 1, 27)), config.timezone)
    assert not [r for r in healthy if r.status is CheckStatus.BLOCKED]


def test_the_markdown_names_what_each_failure_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["daily", "--demo", "--date", "2026-02-01", "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "6 blocked by an earlier failure" in out
    trigger = out.index("- **phase3 → phase4 trigger**")
    assert out[trigger:].splitlines()[1] == (
        "  - blocked by it: phase4 completion, phase4 → phase5 trigger, phase5 completion, "
        "phase4 completions delivered (Pub/Sub), phase5 completions delivered (Pub/Sub), "
        "predictions generated"
    )


def test_healthy_date_passes(config: Config, demo: Sources) -> None:
    # As read where the logs reach back to the date (the demo's reach two hours back).
    inputs = replace(
        gather_daily(config, demo, date(2026, 1, 28)),
        logs_cover_from=datetime(2026, 1, 28, tzinfo=UTC),
    )
    results = evaluate(inputs, config.timezone)
    assert overall(results) is CheckStatus.PASS
    assert "fail" not in statuses(results).values()
    assert statuses(results)["custom.predictions generated"] == "pass"


def test_failed_revision_in_the_window_fails_an_older_date(config: Config, demo: Sources) -> None:
    results = evaluate(gather_daily(config, demo, date(2026, 1, 29)), config.timezone)
    check = next(r for r in results if r.id == "orchestrator.phase3-to-phase4-orchestrator")
    assert check.status is CheckStatus.FAIL
    assert "00026 failed: HealthCheckContainerError" in check.evidence


def test_failed_queue_item_warns(config: Config, demo: Sources) -> None:
    results = evaluate(gather_daily(config, demo, date(2026, 1, 24)), config.timezone)
    check = next(r for r in results if r.id == "failed_queue")
    assert check.status is CheckStatus.WARN
    assert "p2_bdl_box_scores pending" in check.evidence


def base_inputs(config: Config, demo: Sources, day: date = date(2026, 1, 28)) -> DailyInputs:
    return gather_daily(config, demo, day)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], "fail"),  # transitions triggered but no row
        (
            [
                ("phase2_to_phase3", "success"),
                ("phase3_to_phase4", "failed"),
                ("phase4_to_phase5", "success"),
            ],
            "fail",
        ),
        (
            [
                ("phase2_to_phase3", "success"),
                ("phase3_to_phase4", "success"),
                ("phase4_to_phase5", "success"),
            ],
            "pass",
        ),
        (  # the runbook's own word for a transition that ran
            [
                ("phase2_to_phase3", "complete"),
                ("phase3_to_phase4", "complete"),
                ("phase4_to_phase5", "complete"),
            ],
            "pass",
        ),
    ],
)
def test_execution_log_rule(
    config: Config, demo: Sources, rows: list[tuple[str, str]], expected: str
) -> None:
    at = datetime(2026, 1, 28, 12, tzinfo=UTC)
    log = [
        ExecutionLogRow(at, name, date(2026, 1, 28), None, 1.0, 8, status) for name, status in rows
    ]
    inputs = replace(base_inputs(config, demo), execution_log=Fetched(log))
    assert statuses(evaluate(inputs, NY))["execution_log"] == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", "pass"),  # one fresh item, 2 retries: the auto-retry at work (0.695)
        ("retrying", "pass"),
        ("failed_permanent", "pass"),  # the runbook's fix closes a retry loop with it
        ("succeeded", "pass"),
        ("exploded", "warn"),  # a state [daily] does not name: said, never a pass
    ],
)
def test_queue_rule(config: Config, demo: Sources, status: str, expected: str) -> None:
    item = FailedQueueItem(date(2026, 1, 28), "p", status, 2, "boom", None, None)
    inputs = replace(base_inputs(config, demo), failed_queue=Fetched([item]))
    assert statuses(evaluate(inputs, NY))["failed_queue"] == expected


@pytest.mark.parametrize(
    ("retries", "open_items", "stuck", "expected", "said"),
    [
        (4, 4, 0, "pass", "the auto-retry at work: "),
        (5, 1, 0, "warn", "warning: an item retried 5 times (a loop)"),
        (11, 1, 0, "fail", "critical: an item retried 11 times (a loop)"),
        (1, 1, 1, "warn", "warning: 1 item failing for over 24 h"),
        (1, 4, 4, "fail", "critical: 4 items failing for over 24 h"),
        (1, 5, 0, "warn", "warning: 5 open items"),
        (1, 16, 0, "fail", "critical: 16 open items"),
    ],
)
def test_queue_tiers_are_the_runbooks(
    config: Config,
    demo: Sources,
    retries: int,
    open_items: int,
    stuck: int,
    expected: str,
    said: str,
) -> None:
    inputs = base_inputs(config, demo)
    items = [
        FailedQueueItem(
            date(2026, 1, 28),
            f"p{k}",
            "pending",
            retries if k == 0 else 1,
            "HTTP 503",
            inputs.now - timedelta(hours=30 if k < stuck else 2),
            None,
        )
        for k in range(open_items)
    ]
    [result] = [
        r
        for r in evaluate(replace(inputs, failed_queue=Fetched(items)), NY)
        if r.id == "failed_queue"
    ]
    assert result.status.value == expected
    assert result.evidence.startswith(said)


def test_tiers_are_configured_and_checked(
    tmp_path: Path, config: Config, demo: Sources, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchwatch.config import load_config

    text = EXAMPLE_CONFIG.read_text().replace(
        "[[daily.checks]]",
        "[daily.tiers]\nqueue_open = [1, 2]\nscheduler_failing = [2, 3]\n\n[[daily.checks]]",
        1,
    )
    path = tmp_path / "orchwatch.toml"
    path.write_text(text)
    tiered = load_config(path)
    assert tiered.daily_tiers.queue_open == (1, 2)
    item = FailedQueueItem(date(2026, 1, 28), "p", "pending", 1, "boom", None, None)
    inputs = replace(
        base_inputs(tiered, demo),
        failed_queue=Fetched([item, replace(item, processor_name="q")]),
        tiers=tiered.daily_tiers,
    )
    assert statuses(evaluate(inputs, NY))["failed_queue"] == "fail"  # 2 open: critical here
    path.write_text(text.replace("queue_open = [1, 2]", "queue_open = [3, 2]"))
    assert main(["--config", str(path), "daily", "--demo"]) == 2
    err = capsys.readouterr().err
    assert "key `daily.tiers.queue_open`: expected [warn, critical]" in err and str(path) in err


def test_unavailable_sources_are_unknown_not_failures(config: Config, demo: Sources) -> None:
    inputs = replace(
        base_inputs(config, demo),
        execution_log=Fetched(None, "PermissionDenied: roles/bigquery.jobUser"),
        services=Fetched(None, "PermissionDenied: roles/run.viewer"),
    )
    results = evaluate(inputs, NY)
    assert statuses(results)["execution_log"] == "unknown"
    assert statuses(results)["orchestrators"] == "unknown"
    assert "roles/run.viewer" in next(r.evidence for r in results if r.id == "orchestrators")


@pytest.mark.parametrize(
    ("value", "expect", "status"),
    [
        (0, "> 0", "fail"),
        (3, "> 0", "pass"),
        (0, "== 0", "pass"),
        (2, "== 0", "fail"),
        (None, "> 0", "unknown"),
    ],
)
def test_custom_check_rule(
    config: Config, demo: Sources, value: float | None, expect: str, status: str
) -> None:
    inputs = replace(
        base_inputs(config, demo),
        custom=[CustomCheckResult("c", expect, value, "" if value is not None else "boom")],
    )
    assert statuses(evaluate(inputs, NY))["custom.c"] == status


def test_parse_expectation() -> None:
    assert parse_expectation(">= 5") == (">=", 5.0)
    with pytest.raises(ValueError, match="operator and a number"):
        parse_expectation("at least 5")


# --- the command ------------------------------------------------------------------------------


def test_formats_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["daily", "--demo", "--date", "2026-02-01", "--format", "markdown"]) == 1
    markdown = capsys.readouterr().out
    assert markdown.startswith("## Morning walkthrough · nba-props-platform · 2026-02-01 (Sun)")
    assert "**Needs action**" in markdown
    assert "| ✗ fail | phase3 completion |" in markdown
    # 01-28 is clean in every store, but no log covers it: the orchestrators could not be
    # checked, so the morning is UNKNOWN (exit 2), never PASS.
    assert main(["daily", "--demo", "--date", "2026-01-28", "--format", "json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert (document["version"], document["date"], document["status"]) == (
        1,
        "2026-01-28",
        "unknown",
    )
    assert {c["status"] for c in document["checks"]} == {"pass", "unknown", "skipped"}
    assert main(["daily", "--demo", "--date", "2026-01-28"]) == 2
    assert capsys.readouterr().out.splitlines()[0] == (
        "nba-props-platform · 2026-01-28 (Wed) · UNKNOWN (could not check: orchestrator ×4; "
        "0 fail, 0 warn, 19 pass, 4 unknown, 2 skipped)"
    )
    assert main(["daily", "--demo", "--date", "someday"]) == 2
    assert "is not a date" in capsys.readouterr().err


def test_default_date_is_yesterday(capsys: pytest.CaptureFixture[str]) -> None:
    main(["daily", "--demo"])
    assert "2026-01-31 (Sat)" in capsys.readouterr().out.splitlines()[0]


def test_bad_custom_check_config(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from orchwatch.config import EXAMPLE_CONFIG

    path = tmp_path / "o.toml"
    path.write_text(
        EXAMPLE_CONFIG.read_text(encoding="utf-8").replace('expect = "> 0"', 'expect = "lots"'),
        encoding="utf-8",
    )
    assert main(["daily", "--config", str(path), "--demo"]) == 2
    assert (
        "key `daily.checks[0].expect`: expected an operator and a number" in capsys.readouterr().err
    )


# --- the screen -------------------------------------------------------------------------------


async def test_checklist_screen_and_jump(config: Config, demo: Sources) -> None:
    """`w` opens on the selected date with the cursor on the first check to act on; Enter
    shows its evidence, g shows it in the dashboard; `w` again comes back to it."""
    from orchwatch.tui.screens.daily import CheckScreen

    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.dashboard.selected_date == date(2026, 2, 1)
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, DailyScreen)
        assert app.screen.day == date(2026, 2, 1)  # the selected date, not always yesterday
        table = app.screen.query_one("#daily-table")
        rows = {
            table.get_row_at(i)[1].plain: table.get_row_at(i)[0].plain
            for i in range(table.row_count)
        }
        assert rows["phase3 completion"] == "✗ fail"
        assert table.get_row_at(table.cursor_row)[1].plain == "phase3 completion"
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen))
        await pilot.press("g")
        await settle(pilot)
        assert not isinstance(app.screen, DailyScreen | CheckScreen)
        grid = app.dashboard.query_one(CompletionGrid)
        assert app.dashboard.selected_date == date(2026, 2, 1)
        assert grid.has_focus
        assert str(list(grid.columns)[grid.cursor_column].value) == "phase3"
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, DailyScreen)
        table = app.screen.query_one("#daily-table")
        assert table.get_row_at(table.cursor_row)[1].plain == "phase3 completion"


async def test_every_failing_checks_evidence_in_at_most_eight_keys(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    """From the first screen: w, Enter, then j through the checks to act on (6 keys)."""
    from dataclasses import replace

    from orchwatch.tui.screens.daily import CheckScreen

    repo = tmp_path / "repo"
    assert main(["demo-repo", str(repo)]) == 0  # with its history, as the README makes it
    app = make_app(replace(config, repo_path=repo), demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        keys = ["w", "enter", "j", "j", "j", "j"]
        seen: list[str] = []
        await pilot.press("w")
        assert await wait_for(
            pilot, lambda: isinstance(app.screen, DailyScreen) and bool(app.screen.results)
        )
        daily = app.screen
        assert isinstance(daily, DailyScreen)
        failing = [r.title for r in daily.results if r.status is CheckStatus.FAIL]
        # The incident's four (the phase, its trigger, the orchestrator, the dropped
        # completions) and the broken package.
        assert len(failing) == 5
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen))
        for key in keys[2:]:
            screen = app.screen
            assert isinstance(screen, CheckScreen)
            seen.append(screen.results[screen.index].title)
            await pilot.press(key)
            await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CheckScreen)
        seen.append(screen.results[screen.index].title)
        assert seen == failing and len(keys) <= 8
        text = static_text(screen)
        assert "No module named" in text or "phase3_to_phase4" in text  # evidence, whole
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: app.screen is daily)
        table = daily.query_one("#daily-table")
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert key == next(r.id for r in daily.results if r.title == failing[-1])


def test_the_walkthrough_reads_the_logs_once(config: Config, demo: Sources) -> None:
    """The error groups' read covers the crash-loop window: the verdicts are judged on it,
    not listed again."""
    logs = demo.logs
    assert logs is not None
    reads: list[object] = []
    original = logs.fetch_log

    def counted(*args: object, **kwargs: object) -> object:
        reads.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    logs.fetch_log = counted  # type: ignore[method-assign]
    results = evaluate(gather_daily(config, demo, date(2026, 2, 1)), config.timezone)
    assert len(reads) == 1
    [orchestrator] = [r for r in results if r.id == "orchestrator.phase3-to-phase4-orchestrator"]
    assert orchestrator.evidence.startswith(
        "CRASHING 00025 · latest 00026 FAILED 57 h ago · 24 exits"
    )


# --- the verdict: unknown is never a pass, not due is never a failure -------------------------


def _result(status: CheckStatus) -> CheckResult:
    return CheckResult(f"c.{status.value}", status.value, status, "", "")


@pytest.mark.parametrize(
    ("statuses_seen", "verdict", "code"),
    [
        ((CheckStatus.PASS,), CheckStatus.PASS, 0),
        ((CheckStatus.PASS, CheckStatus.WARN), CheckStatus.WARN, 0),
        ((CheckStatus.PASS, CheckStatus.UNKNOWN), CheckStatus.UNKNOWN, 2),
        ((CheckStatus.WARN, CheckStatus.UNKNOWN), CheckStatus.UNKNOWN, 2),
        ((CheckStatus.UNKNOWN, CheckStatus.FAIL), CheckStatus.FAIL, 1),
        ((CheckStatus.FAIL, CheckStatus.BLOCKED), CheckStatus.FAIL, 1),
        ((CheckStatus.PASS, CheckStatus.NOT_DUE, CheckStatus.SKIPPED), CheckStatus.PASS, 0),
        ((CheckStatus.UNKNOWN,), CheckStatus.UNKNOWN, 2),
    ],
)
def test_the_verdict_rule(
    statuses_seen: tuple[CheckStatus, ...], verdict: CheckStatus, code: int
) -> None:
    results = [_result(s) for s in statuses_seen]
    assert overall(results) is verdict
    assert VERDICT_EXIT.get(verdict, 0) == code


def test_a_phase_and_its_check_not_due_yet_are_not_due_not_failed(
    config: Config, demo: Sources
) -> None:
    # 2026-02-01 at 06:30 New York, with phase 3's crash loop mended: phase 5 is not due
    # until its due time, and neither is the predictions check tied to it.
    results = evaluate(base_inputs(config, demo, date(2026, 2, 1)), NY)
    by_id = {r.id: r for r in results}
    phase5 = by_id["phase5.completion"]
    assert phase5.status in (CheckStatus.BLOCKED, CheckStatus.NOT_DUE)
    predictions = by_id["custom.predictions generated"]
    assert predictions.status is phase5.status  # waits with its phase, never "fail"
    assert predictions.evidence.startswith("phase5: ")


def test_a_phase_with_only_cells_not_due_is_not_due(config: Config, demo: Sources) -> None:
    status = gather_daily(config, demo, date(2026, 2, 2)).completions.value
    assert status is not None
    inputs = replace(base_inputs(config, demo), completions=Fetched(status))
    by_id = {r.id: r for r in evaluate(inputs, NY)}
    assert by_id["phase2.completion"].status is CheckStatus.NOT_DUE
    assert "not due yet" in by_id["phase2.completion"].evidence


def test_an_unknown_phase_for_a_custom_check_is_a_config_error() -> None:
    from orchwatch.config import EXAMPLE_CONFIG, ConfigError, parse_config

    text = EXAMPLE_CONFIG.read_text().replace('> 0"\nphase = "phase5"', '> 0"\nphase = "phase9"')
    with pytest.raises(ConfigError) as raised:
        parse_config(text, None)
    assert raised.value.key == "daily.checks[0].phase"


DAILY_0131 = ["daily", "--date", "2026-01-31", "--timeout", "30"]


def test_every_source_refusing_is_unknown_and_exit_2_at_once(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    from loopback.seed import write_config

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    where = f"127.0.0.1:{closed.getsockname()[1]}"
    endpoints = {"firestore": where, "bigquery": f"http://{where}", "run": where}
    config = write_config(tmp_path, {**endpoints, "logging": where}, "orchwatch-refused")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "orchwatch", "--config", str(config), *DAILY_0131],
            capture_output=True,
            text=True,
            env={**os.environ, "ORCHWATCH_CACHE_DIR": str(tmp_path)},
            timeout=120,
        )
    finally:
        closed.close()
    assert done.returncode == 2, done.stderr
    assert "timed out" not in done.stderr  # answered, not given up on at the deadline
    first = done.stdout.splitlines()[0]
    assert " · UNKNOWN (could not check: phase completion, " in first
    assert "0 pass" in first


def test_the_status_words_are_the_configs(tmp_path: Path, demo: Sources) -> None:
    """A team whose queue closes items as `abandoned` says so in [daily], and the
    walkthrough follows; a config that gives a word list of the wrong type exits 2."""
    from orchwatch.config import EXAMPLE_CONFIG, ConfigError, parse_config

    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        "[[daily.checks]]",
        '[daily]\nqueue_handled = ["abandoned"]\nexecution_ok = ["done"]\n\n[[daily.checks]]',
        1,
    )
    ours = parse_config(text, tmp_path / "orchwatch.toml")
    item = FailedQueueItem(date(2026, 1, 28), "p", "abandoned", 2, "boom", None, None)
    inputs = replace(base_inputs(ours, demo), failed_queue=Fetched([item]), words=ours.daily_words)
    assert statuses(evaluate(inputs, NY))["failed_queue"] == "pass"
    gone = replace(inputs, failed_queue=Fetched([replace(item, status="failed_permanent")]))
    assert statuses(evaluate(gone, NY))["failed_queue"] == "warn"  # not named any more
    bad = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        "[[daily.checks]]", '[daily]\nqueue_handled = "abandoned"\n\n[[daily.checks]]', 1
    )
    with pytest.raises(ConfigError, match="queue_handled"):
        parse_config(bad, tmp_path / "orchwatch.toml")


def test_the_walkthrough_says_where_the_lost_completions_went(
    config: Config, demo: Sources
) -> None:
    """The Pub/Sub hop is a check of its own: phase 3's completions were refused and
    dropped, and the next step is the replay, after the fix."""
    results = {
        r.id: r for r in evaluate(gather_daily(config, demo, date(2026, 2, 1)), config.timezone)
    }
    hop = results["phase3.pubsub"]
    assert hop.status is CheckStatus.FAIL
    assert "messages dropped" in hop.evidence and "no dead-letter topic" in hop.evidence
    assert hop.next_step.endswith("orchwatch replay --date 2026-02-01 --phase phase3")
    assert results["phase2.pubsub"].status is CheckStatus.PASS
    assert results["phase4.pubsub"].status is CheckStatus.BLOCKED  # nothing will come
    healthy = evaluate(gather_daily(config, demo, date(2026, 1, 30)), config.timezone)
    assert all(r.status is CheckStatus.PASS for r in healthy if r.id.endswith(".pubsub"))


def test_a_phase_without_an_orchestrator_is_triggered_by_its_own_subscription(
    config: Config, demo: Sources
) -> None:
    """The runbook's pipeline: phase 2 -> 3 goes through a direct subscription
    (`nba-phase3-analytics-sub`), no orchestrator, so no `_triggered` in Firestore. The
    walkthrough judges the trigger by phase 3's own records, never "NOT triggered", and
    blocks nothing after it."""
    from orchwatch.analysis.completion import reconcile_date
    from orchwatch.model import DateCompletions

    day = date(2026, 1, 30)
    phases = tuple(
        replace(p, orchestrator=None) if p.name == "phase2" else p for p in config.phases
    )
    direct = replace(config, phases=phases)
    found = demo.completions.fetch_completions([day])[day]
    untriggered = {
        name: replace(doc, triggered=False, triggered_at=None, trigger_reason=None)
        if name == "phase2"
        else doc
        for name, doc in found.firestore.items()
    }
    inputs = gather_daily(direct, demo, day)
    status = reconcile_date(direct, DateCompletions(day, untriggered, found.bigquery), inputs.now)
    results = {
        r.id: r for r in evaluate(replace(inputs, completions=Fetched(status)), direct.timezone)
    }
    trigger = results["phase2.trigger"]
    assert trigger.status is CheckStatus.PASS, trigger
    assert "by its own subscription" in trigger.evidence
    assert results["phase3.completion"].status is CheckStatus.PASS
    assert not [r for r in results.values() if r.status is CheckStatus.BLOCKED]
    hop = results["phase2.pubsub"]
    assert hop.status is CheckStatus.PASS, hop  # the demo's nba-phase3-analytics-sub
