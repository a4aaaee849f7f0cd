"""The action layer: safe templating, the process-group runner, and the audit log."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orchwatch.actions.audit import AuditLog, audit_markdown, read_audit
from orchwatch.actions.runner import ActionGuard, ActionRun, RunResult
from orchwatch.actions.template import TemplateError, check_template, render_command
from orchwatch.cli import main
from orchwatch.config import EXAMPLE_CONFIG

# --- templating -------------------------------------------------------------------------------


def test_render_fills_known_fields_one_argument_each() -> None:
    argv = render_command(
        ["./bin/deploy_{function}.sh", "--service={service}", "{date}"],
        {
            "function": "phase3_to_phase4",
            "service": "phase3-to-phase4-orchestrator",
            "date": "2026-02-01",
        },
    )
    assert argv == [
        "./bin/deploy_phase3_to_phase4.sh",
        "--service=phase3-to-phase4-orchestrator",
        "2026-02-01",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "--delete-everything",
        "-rf",
        "../../etc",
        "a b",
        "x;rm -rf /",
        "$(id)",
        "`id`",
        "a|b",
        "",
        "é",
        "a\nb",
        "phase3\n",  # `$` would match before the newline; the pattern ends with \Z
        "x" * 200,
    ],
)
def test_data_cannot_inject_arguments_or_shell(value: str) -> None:
    with pytest.raises(TemplateError, match="not a plain name"):
        render_command(["deploy", "{service}"], {"service": value})


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (["deploy", "{password}"], "unknown field {password}"),
        (["deploy", "{service!r}"], "no format spec or conversion"),
        (["deploy", "{service:>20}"], "no format spec or conversion"),
        ([], "at least the program"),
    ],
)
def test_bad_templates(template: list[str], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        check_template(template)


def test_missing_value() -> None:
    with pytest.raises(TemplateError, match=r"no value for \{date\}"):
        render_command(["x", "{date}"], {"service": "s"})


# --- the runner -------------------------------------------------------------------------------


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_output_from_both_streams_and_the_exit_code(tmp_path: Path) -> None:
    run = ActionRun(
        python("""
        import sys
        print("to stdout", flush=True)
        print("to stderr", file=sys.stderr, flush=True)
        sys.exit(3)
    """),
        tmp_path,
        timeout=30,
    )
    result = run.run()
    assert result.exit_code == 3 and not result.ok
    lines = []
    while not run.lines.empty():
        lines.append(run.lines.get())
    assert sorted(lines) == [("stderr", "to stderr"), ("stdout", "to stdout")]
    assert set(result.output_tail) == {"to stdout", "to stderr"}


def test_a_program_that_cannot_start(tmp_path: Path) -> None:
    result = ActionRun([str(tmp_path / "nope.sh")], tmp_path, timeout=5).run()
    assert result.exit_code is None
    assert "cannot start" in result.error


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


GROUP = """
    import signal, subprocess, sys, time
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # make cancel escalate to SIGTERM
    child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"])
    print(child.pid, flush=True)
    time.sleep(60)
"""


def test_cancel_stops_the_whole_process_group(tmp_path: Path) -> None:
    run = ActionRun(python(GROUP), tmp_path, timeout=60, grace=0.3)
    results: list[RunResult] = []
    worker = threading.Thread(target=lambda: results.append(run.run()))
    worker.start()
    _, line = run.lines.get(timeout=20)
    grandchild = int(line)
    assert run.pid is not None and alive(run.pid) and alive(grandchild)
    run.cancel()
    worker.join(timeout=20)
    [result] = results
    assert result.cancelled and not result.ok
    assert not alive(run.pid)
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


def test_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    result = ActionRun(
        python("import time; time.sleep(60)"), tmp_path, timeout=0.5, grace=0.5
    ).run()
    assert result.timed_out and not result.ok
    assert time.monotonic() - started < 10


def test_guard_refuses_a_second_run_of_the_same_action_and_service() -> None:
    guard = ActionGuard()
    assert guard.acquire("deploy", "svc")
    assert not guard.acquire("deploy", "svc")
    assert guard.acquire("deploy", "other")
    assert guard.acquire("validate", "svc")
    guard.release("deploy", "svc")
    assert guard.acquire("deploy", "svc")


# --- the audit log ----------------------------------------------------------------------------


def test_one_record_pair_per_run(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    run_id = log.started("deploy", ["./deploy.sh", "svc"], tmp_path, "svc", "clean")
    log.finished(run_id, RunResult(0, 1.5, ("done",)))
    [entry], bad = read_audit(log.path)
    assert bad == 0
    assert entry.outcome == "exit 0"
    started = entry.started
    assert {"user", "host", "time", "action", "command", "cwd", "validator_verdict"} <= set(started)
    assert started["command"] == ["./deploy.sh", "svc"]
    assert entry.finished is not None and entry.finished["output_tail"] == ["done"]
    assert oct(log.path.stat().st_mode & 0o777) == "0o600"


def test_a_crash_mid_run_leaves_what_started(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.started("deploy", ["./deploy.sh"], tmp_path, "svc")
    [entry], _ = read_audit(log.path)
    assert entry.outcome.startswith("incomplete")


def test_concurrent_runs_do_not_interleave_lines(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    big = ("x" * 2000,) * 40  # records far larger than a pipe buffer

    def writer(n: int) -> None:
        for _ in range(15):
            log.finished(log.started("validate", [f"cmd{n}"], tmp_path), RunResult(0, 0.1, big))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = log.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8 * 15 * 2
    assert all(json.loads(line)["event"] in ("started", "finished") for line in lines)
    entries, bad = read_audit(log.path)
    assert (len(entries), bad) == (120, 0)
    assert all(e.outcome == "exit 0" for e in entries)


def test_audit_command_exports_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.finished(
        log.started("deploy", ["./deploy.sh", "a|b"], tmp_path, "svc", "clean"),
        RunResult(1, 2.0, ()),
    )
    log.started("validate", ["orchwatch", "validate"], tmp_path)
    assert main(["audit", "--file", str(path), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    # Times in the zone every time is shown in: the pipeline's by default, `[ui] timezone`.
    assert out.splitlines()[0].startswith("| time (America/New_York) | user@host | action")
    assert "`./deploy.sh a\\|b` | exit 1 | 2.0 s |" in out
    assert "incomplete (orchwatch stopped during the run)" in out
    recorded = read_audit(path)[0][0].started["time"]
    shown = datetime.fromisoformat(recorded).astimezone(ZoneInfo("America/New_York"))
    assert f"| {shown:%Y-%m-%d %H:%M:%S} |" in out
    config = tmp_path / "orchwatch.toml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace("[ui]\n", '[ui]\ntimezone = "UTC"\n'))
    assert (
        main(["--config", str(config), "audit", "--file", str(path), "--format", "markdown"]) == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("| time (UTC) |")
    assert f"| {datetime.fromisoformat(recorded):%Y-%m-%d %H:%M:%S} |" in out
    assert audit_markdown([], ZoneInfo("UTC")).count("\n") == 1


def test_audit_path_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchwatch.actions.audit import default_audit_path

    monkeypatch.setenv("ORCHWATCH_AUDIT_LOG", str(tmp_path / "a.jsonl"))
    assert default_audit_path() == tmp_path / "a.jsonl"


@pytest.mark.parametrize(
    "line",
    [
        '{"event": "started", "id": 7, "time": "x"}',
        '{"event": "started", "id": "a", "time": 12, "command": "not a list"}',
        '{"event": "finished", "id": "a", "exit_code": "zero", "duration_s": 1}',
        '{"event": "finished", "id": "a", "duration_s": true}',
        '{"event": "exploded", "id": "a"}',
        "[1, 2, 3]",
        "null",
        "[" * 100_000,
    ],
)
def test_audit_counts_malformed_records_and_never_crashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.finished(
        log.started("validate", ["orchwatch", "validate"], tmp_path), RunResult(0, 1.0, ())
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    for fmt in ("text", "markdown", "json"):
        assert main(["audit", "--file", str(path), "--format", fmt]) == 0
    assert "1 run in" in capsys.readouterr().out
    entries, bad = read_audit(path)
    assert (len(entries), bad) == (1, 1)


def test_audit_of_a_folder_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--file", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_run_orchwatch_never_saw_end_is_found_alive_then_gone(tmp_path: Path) -> None:
    """As after kill -9 of orchwatch during a deploy: the audit has the run's process group."""
    import signal
    import subprocess as sp

    log = AuditLog(tmp_path / "audit.jsonl")
    run_id = log.started("deploy", ["sleep", "60"], tmp_path, "svc", "clean")
    child = sp.Popen(["sleep", "60"], start_new_session=True)
    log.process(run_id, child.pid)  # what ActionRun's on_start records
    [entry], bad = read_audit(log.path)
    assert bad == 0 and entry.pgid == child.pid
    assert entry.outcome == f"incomplete: its process group {child.pid} is still running"
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    [entry], _ = read_audit(log.path)
    assert (
        entry.outcome
        == f"incomplete: its process group {child.pid} is gone; how it ended is unknown"
    )


def test_action_run_reports_its_process_group(tmp_path: Path) -> None:
    seen: list[int] = []
    run = ActionRun(["true"], tmp_path, timeout=10, on_start=seen.append)
    result = run.run()
    assert result.exit_code == 0
    assert seen == [run.pid]


# --- the run manager ---------------------------------------------------------------------------


def test_the_manager_runs_several_at_once_one_per_key_each_audited(tmp_path: Path) -> None:
    from orchwatch.actions.manager import RunKey, RunManager

    ended: list[str] = []
    audit = AuditLog(tmp_path / "audit.jsonl")
    manager = RunManager(audit, timeout=30, on_end=lambda h: ended.append(str(h.key)))
    go = tmp_path / "go"
    argv = [
        sys.executable,
        "-c",
        f"import pathlib,time\nwhile not pathlib.Path({str(go)!r}).exists(): time.sleep(0.02)\nprint('ok')",
    ]
    first = manager.start(RunKey("deploy", "a"), argv, tmp_path, service="a")
    second = manager.start(RunKey("deploy", "b"), argv, tmp_path, service="b")
    assert first is not None and second is not None
    assert manager.start(RunKey("deploy", "a"), argv, tmp_path) is None  # one per key
    assert [str(h.key) for h in manager.running()] == ["deploy a", "deploy b"]
    assert manager.cancel(RunKey("deploy", "a"))
    cancelled = first.wait(10)
    assert cancelled is not None and cancelled.cancelled
    assert [str(h.key) for h in manager.running()] == ["deploy b"]
    go.touch()
    done = second.wait(10)
    assert done is not None and done.ok and done.output_tail == ("ok",)
    assert sorted(ended) == ["deploy a", "deploy b"]
    assert manager.running() == []
    entries, bad = read_audit(audit.path)
    assert bad == 0
    assert {e.started["service"]: e.outcome for e in entries} == {"a": "cancelled", "b": "exit 0"}
    assert all(e.pgid for e in entries)  # each process group was recorded


def test_work_done_inside_orchwatch_is_guarded_and_audited_even_when_it_raises(
    tmp_path: Path,
) -> None:
    from orchwatch.actions.manager import RunKey, RunManager

    audit = AuditLog(tmp_path / "audit.jsonl")
    manager = RunManager(audit, timeout=30)
    key = RunKey("validate", str(tmp_path))

    def job() -> tuple[RunResult, object]:
        assert manager.call(key, ["again"], tmp_path, job) is None  # refused while it runs
        raise LookupError("no Cloud Function found")

    with pytest.raises(LookupError):
        manager.call(key, ["orchwatch", "validate"], tmp_path, job)
    assert manager.running() == []
    [entry], _ = read_audit(audit.path)
    assert entry.outcome == "exit 2"
    assert entry.finished is not None and "no Cloud Function found" in entry.finished["error"]

    def slow() -> tuple[RunResult, object]:
        time.sleep(0.05)
        return RunResult(0, 0.0, ()), 7

    result = manager.call(key, ["orchwatch", "validate"], tmp_path, slow)
    assert result is not None and result[1] == 7  # released: it can run again
    # the duration is the manager's measure, not what the job put in its result
    assert result[0].duration >= 0.05
    entries, _ = read_audit(audit.path)
    assert entries[-1].finished is not None and entries[-1].finished["duration_s"] >= 0.05
