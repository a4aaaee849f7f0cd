"""The deploy action: preview and confirmation, the run, cancel, timeout, audit."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from tui_helpers import SIZE, make_app, settle, wait_for, wait_for_finished_runs

from orchwatch.actions.audit import read_audit
from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.tui.app import OrchwatchApp
from orchwatch.tui.panes.actions import ActionsPane
from orchwatch.tui.screens.confirm_deploy import ConfirmDeployScreen
from orchwatch.tui.widgets.revisions import ServiceTable
from orchwatch.validate.demo_repo import write_demo_repo

HEALTHY = "phase2-to-phase3-orchestrator"  # its function is clean in the demo repo
BROKEN = "phase3-to-phase4-orchestrator"  # its function misses a symlink

GROUP = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print('grandchild', child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def make(
    config: Config, demo: Sources, tmp_path: Path, command: list[str], timeout: float = 900
) -> OrchwatchApp:
    """The demo app with `command` as every service's deploy. `timeout` is the runs'
    deadline: the product's default, so that a run a test holds open (waiting on a file
    the test writes) never times out while a loaded machine runs the test's steps."""
    repo = tmp_path / "repo"
    if not repo.exists():
        write_demo_repo(repo)
    deploy = {HEALTHY: tuple(command), BROKEN: tuple(command)}
    cfg = replace(config, repo_path=repo, deploy_commands=deploy, action_timeout=timeout)
    return make_app(cfg, demo, allow_actions=True, audit_path=tmp_path / "audit.jsonl")


async def open_confirmation(pilot, service: str) -> ConfirmDeployScreen:  # type: ignore[no-untyped-def]
    # A confirmation just answered may still be on top (its dismissal is a message of its
    # own): `d` goes to the dashboard only once it is gone, and the screen waited for is
    # this service's, never the one before.
    assert await wait_for(pilot, lambda: pilot.app.screen is pilot.app.dashboard)
    await settle(pilot)
    table = pilot.app.dashboard.query_one(ServiceTable)
    table.focus()
    row = table.get_row_index(service)  # rows are keyed by service (the cell may be cut)
    table.move_cursor(row=row)
    await pilot.press("d")
    assert await wait_for(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, ConfirmDeployScreen)
            and pilot.app.screen.preview.service == service
        ),
    )
    screen = pilot.app.screen
    assert isinstance(screen, ConfirmDeployScreen)
    return screen


def pane_text(app: OrchwatchApp) -> str:
    pane = app.dashboard.query_one(ActionsPane)
    return "\n".join(pane.output) + "\n" + str(pane.query_one("#actions-status").render())


async def wait_run(pilot) -> None:  # type: ignore[no-untyped-def]
    await wait_for_finished_runs(pilot, pilot.app.audit.path)


async def test_cancel_at_the_confirmation_runs_nothing(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    app = make(config, demo, tmp_path, [sys.executable, "-c", "print('deploying')"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_confirmation(pilot, HEALTHY)
        assert not screen.needs_typing
        assert screen.preview.argv == [sys.executable, "-c", "print('deploying')"]
        assert screen.preview.serving == "00025"
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmDeployScreen)
        assert not (tmp_path / "audit.jsonl").exists()


async def test_confirm_runs_streams_and_audits(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    app = make(config, demo, tmp_path, [sys.executable, "-c", "print('deploying'); print('done')"])
    async with app.run_test(size=SIZE) as pilot:
        await open_confirmation(pilot, HEALTHY)
        await pilot.press("enter")
        await wait_run(pilot)
        text = pane_text(app)
        assert "deploying" in text and "done" in text
        assert f"deploy {HEALTHY}: exit 0" in text
        [entry], _ = read_audit(tmp_path / "audit.jsonl")
        assert (entry.started["action"], entry.started["service"]) == ("deploy", HEALTHY)
        assert entry.started["validator_verdict"] == "clean"
        assert entry.outcome == "exit 0"


async def test_validator_errors_require_typing_the_service(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    app = make(config, demo, tmp_path, [sys.executable, "-c", "print('deploying')"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_confirmation(pilot, BROKEN)
        assert screen.needs_typing
        assert screen.preview.validator_errors >= 1
        # the dialog sits in the middle of the screen, like every other dialog
        body = app.screen.query_one("#detail-body").region
        left, right = body.x, SIZE[0] - body.right
        assert abs(left - right) <= 1, (left, right)
        await pilot.press("enter")  # Enter alone does not confirm, and says what it needs
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDeployScreen)
        assert any(
            f"Nothing typed: type {BROKEN} to deploy anyway, or Esc to cancel." in str(n.message)
            for n in app._notifications
        )
        await pilot.press(*"wrong-name", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDeployScreen)
        field = app.screen.query_one("#confirm-name")
        field.value = ""
        await pilot.press(*BROKEN, "enter")
        await wait_run(pilot)
        [entry], _ = read_audit(tmp_path / "audit.jsonl")
        assert entry.started["service"] == BROKEN
        assert "error" in entry.started["validator_verdict"]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


async def test_cancel_during_a_run_stops_the_process_group(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    app = make(config, demo, tmp_path, [sys.executable, "-c", GROUP])
    async with app.run_test(size=SIZE) as pilot:
        await open_confirmation(pilot, HEALTHY)
        await pilot.press("enter")
        pane = app.dashboard.query_one(ActionsPane)

        def grandchild_line() -> str:
            return next((line for line in pane.output if line.startswith("grandchild")), "")

        assert await wait_for(pilot, lambda: bool(grandchild_line()))
        grandchild = int(grandchild_line().split()[1])
        assert alive(grandchild)
        await pilot.press("c")
        await wait_run(pilot)
        assert "cancelled" in pane_text(app)
        deadline = time.monotonic() + 5
        while alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(grandchild)
        [entry], _ = read_audit(tmp_path / "audit.jsonl")
        assert entry.outcome == "cancelled"


async def test_timeout(config: Config, demo: Sources, tmp_path: Path) -> None:
    app = make(
        config, demo, tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5
    )
    async with app.run_test(size=SIZE) as pilot:
        await open_confirmation(pilot, HEALTHY)
        await pilot.press("enter")
        await wait_run(pilot)
        assert "timed out" in pane_text(app)


async def test_deploy_is_off_without_actions(config: Config, demo: Sources, tmp_path: Path) -> None:
    app = make_app(config, demo, audit_path=tmp_path / "audit.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.check_action("deploy", ()) is None
        await pilot.press("d")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmDeployScreen)


async def running_deploy(pilot, tmp_path: Path) -> int:  # type: ignore[no-untyped-def]
    """Start the long deploy and wait for the audit to record its process group."""
    await open_confirmation(pilot, HEALTHY)
    await pilot.press("enter")

    def pgid() -> int | None:
        entries, _ = read_audit(tmp_path / "audit.jsonl")
        return entries[-1].pgid if entries else None

    assert await wait_for(pilot, lambda: pgid() is not None), "no process group recorded"
    return int(pgid() or 0)


async def test_q_with_a_deploy_running_asks_first(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    from orchwatch.tui.screens.quit_running import QuitWhileRunningScreen

    app = make(config, demo, tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
    async with app.run_test(size=SIZE) as pilot:
        await running_deploy(pilot, tmp_path)
        await pilot.press("q")
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuitWhileRunningScreen))
        await pilot.press("escape")  # stay
        assert await wait_for(pilot, lambda: not isinstance(app.screen, QuitWhileRunningScreen))
        assert app.is_running
        await pilot.press("q")
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuitWhileRunningScreen))
        await pilot.press("c")  # cancel it and quit once it has stopped
        await wait_run(pilot)
    [entry], _ = read_audit(tmp_path / "audit.jsonl")
    assert entry.outcome == "cancelled"


async def test_leaving_a_deploy_running_is_recorded(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    import os
    import signal

    app = make(config, demo, tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
    async with app.run_test(size=SIZE) as pilot:
        from orchwatch.tui.screens.quit_running import QuitWhileRunningScreen

        pgid = await running_deploy(pilot, tmp_path)
        await pilot.press("q")
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuitWhileRunningScreen))
        await pilot.press("l")
        assert await wait_for(pilot, lambda: app.return_code is not None)
    try:
        [entry], _ = read_audit(tmp_path / "audit.jsonl")
        assert entry.left_running and entry.finished is None and entry.output
        assert entry.outcome == (
            f"incomplete: left running by choice; its process group {pgid} is still running "
            f"(output in {entry.output})"
        )
        # Its output goes to files of its own, not to a pipe that orchwatch's exit would
        # break (SIGPIPE would end the deploy on its next line): the record names them.
        assert os.readlink(f"/proc/{pgid}/fd/1") == f"{entry.output}/stdout.log"
    finally:
        os.killpg(pgid, signal.SIGKILL)


async def test_two_deploys_at_once_each_own_their_run(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    """Runs of different services go at once: each has its status line, `c` cancels the one
    under the cursor while the other goes on to its end, quitting names every run going,
    and the audit has both records."""
    from orchwatch.tui.screens.quit_running import QuitWhileRunningScreen

    go = tmp_path / "go"
    wait_then_exit = (
        "import pathlib, time\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.02)\n"
        "print('deployed')\n"
    )
    app = make(config, demo, tmp_path, [sys.executable, "-c", wait_then_exit])
    async with app.run_test(size=SIZE) as pilot:
        pane = app.dashboard.query_one(ActionsPane)
        await open_confirmation(pilot, HEALTHY)
        await pilot.press("enter")
        await open_confirmation(pilot, BROKEN)
        await pilot.press(*BROKEN, "enter")
        assert await wait_for(pilot, lambda: len(pane.running) == 2)
        assert await wait_for(
            pilot,
            lambda: (
                f"deploy {HEALTHY}: running" in pane_text(app)
                and f"deploy {BROKEN}: running" in pane_text(app)
            ),
        )
        await pilot.press("q")
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuitWhileRunningScreen))
        said = " ".join(str(label.render()) for label in app.screen.query("Label"))
        assert f"deploy {HEALTHY}" in said and f"deploy {BROKEN}" in said
        assert "are still running" in said
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, QuitWhileRunningScreen))
        # the cursor is on BROKEN's row (its confirmation was opened from there)
        await pilot.press("c")
        await wait_for_finished_runs(pilot, tmp_path / "audit.jsonl", count=1)
        assert [h.key.subject for h in pane.running] == [HEALTHY]
        assert f"deploy {HEALTHY}: running" in pane_text(app)
        assert f"deploy {BROKEN}: cancelled" in pane_text(app)
        go.touch()
        await wait_for_finished_runs(pilot, tmp_path / "audit.jsonl", count=2)
        assert f"deploy {HEALTHY}: exit 0" in pane_text(app)
        assert pane.running == []
    entries, bad = read_audit(tmp_path / "audit.jsonl")
    assert bad == 0
    outcomes = {e.started["service"]: e.outcome for e in entries}
    assert outcomes == {BROKEN: "cancelled", HEALTHY: "exit 0"}
