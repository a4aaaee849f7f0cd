"""One-key actions, first slice: off by default, validation into the actions pane, audit."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from settle import wait_workers
from tui_helpers import SIZE, make_app, settle, static_text, wait_for

from orchwatch.actions.audit import read_audit
from orchwatch.config import EXAMPLE_CONFIG, Config, ConfigError, parse_config
from orchwatch.sources.base import Sources
from orchwatch.tui.app import OrchwatchApp
from orchwatch.tui.panes.actions import ActionsPane
from orchwatch.tui.screens.audit import AuditScreen
from orchwatch.validate.demo_repo import write_demo_repo


def app_with(config: Config, demo: Sources, tmp_path: Path, allow: bool) -> OrchwatchApp:
    return make_app(config, demo, allow_actions=allow, audit_path=tmp_path / "audit.jsonl")


async def test_actions_are_off_by_default(config: Config, demo: Sources, tmp_path: Path) -> None:
    app = app_with(replace(config, repo_path=tmp_path), demo, tmp_path, allow=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.check_action("validate", ()) is None  # shown dimmed in the footer
        await pilot.press("v")
        await settle(pilot)
        assert not app.dashboard.query_one(ActionsPane).display
        assert not (tmp_path / "audit.jsonl").exists()
        # ...and says why, with how to turn them on, for either key
        await pilot.press("d")
        await settle(pilot)
        told = [str(n.message) for n in app._notifications]
        assert sum("Actions are off: start orchwatch with --allow-actions" in m for m in told) == 2


async def test_a_validation_that_cannot_run_says_so_and_completes_its_audit(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    repo = tmp_path / "empty-repo"
    repo.mkdir()
    app = app_with(replace(config, repo_path=repo), demo, tmp_path, allow=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await wait_workers(app)
        await settle(pilot)
        pane = app.dashboard.query_one(ActionsPane)
        status = str(pane.query_one("#actions-status").render())
        assert "validation failed: no Cloud Function found" in status
        [entry], bad = read_audit(tmp_path / "audit.jsonl")
        assert bad == 0
        assert entry.outcome == "exit 2"
        assert app.dashboard.actions.running == []  # ended: v can run again


async def test_validate_shows_findings_and_is_audited(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    write_demo_repo(repo)
    app = app_with(replace(config, repo_path=repo), demo, tmp_path, allow=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await wait_workers(app)
        await settle(pilot)
        pane = app.dashboard.query_one(ActionsPane)
        assert pane.display
        text = "\n".join(pane.output)
        assert "✗ phase3_to_phase4" in text
        assert "fix: add a symlink shared/validation/phase3_data_quality_check.py" in text
        assert "✓ phase2_to_phase3  ok" in text
        status = str(pane.query_one("#actions-status").render())
        assert "4 functions failing" in status
        [entry], bad = read_audit(tmp_path / "audit.jsonl")
        assert bad == 0
        assert entry.started["action"] == "validate"
        assert entry.outcome == "exit 1"
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))
        assert isinstance(app.screen, AuditScreen)
        table = app.screen.query_one("#audit-table")
        assert table.row_count == 1
        assert [str(c.label) for c in table.columns.values()][3] == "outcome"
        assert table.get_row_at(0)[3].plain == "exit 1"  # beside the action, no scrolling
        # Enter shows the record whole
        from orchwatch.tui.screens.audit import AuditRecordScreen

        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, AuditRecordScreen))
        whole = static_text(app.screen)
        assert "outcome   exit 1" in whole and f"command   orchwatch validate {repo}" in whole
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))
        # recorded in UTC, shown in the dashboard's zone like every other time
        from datetime import datetime

        zone = config.timezone
        assert next(str(c.label) for c in table.columns.values()) == (
            f"time ({datetime.now(zone):%Z})"
        )
        recorded = datetime.fromisoformat(str(entry.started["time"]).replace("Z", "+00:00"))
        shown = table.get_row_at(0)[0].plain
        assert shown == recorded.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        assert "validation at " in status and f"{datetime.now(zone):%Z}:" in status


async def test_validate_without_a_repo_says_so(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    app = app_with(replace(config, repo_path=None), demo, tmp_path, allow=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        assert not app.dashboard.query_one(ActionsPane).display
        assert any("set [repo] path" in str(n.message) for n in app._notifications)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('[actions]\ndeploy = { "svc" = ["./deploy.sh", "{password}"] }\n', 'actions.deploy."svc"'),
        ("[actions]\nvalidate_commands = [[]]\n", "actions.validate_commands[0]"),
        ("[actions]\ntimeout_seconds = 0\n", "actions.timeout_seconds"),
    ],
)
def test_bad_action_config(table: str, key: str) -> None:
    example = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    without_actions = (
        example[: example.index("[actions]\n")] + example[example.index("# Custom checks") :]
    )
    with pytest.raises(ConfigError) as info:
        parse_config(without_actions + "\n" + table, None, display="o.toml")
    assert info.value.key == key
    assert os.path.basename(info.value.file) == "o.toml"


async def test_the_dashboard_says_when_an_earlier_run_is_still_running(
    config: Config, demo: Sources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal
    import subprocess

    from orchwatch.actions.audit import AuditLog

    log = AuditLog(tmp_path / "audit.jsonl")
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    log.process(log.started("deploy", ["./deploy.sh"], tmp_path, "svc", "clean"), child.pid)
    app = app_with(config, demo, tmp_path, allow=True)
    said: list[str] = []
    original = app.notify

    def notify(message: str, **kwargs: object) -> None:
        said.append(message)
        original(message, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "notify", notify)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert any(
                "deploy svc started at" in m and f"process group {child.pid} is still running" in m
                for m in said
            )
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
