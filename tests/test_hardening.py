"""The second hardening pass: hostile inputs and faults, each answered at its cause.

Each test here failed on the code before the pass: an escape reaching the terminal, a
device replaced by --force, a half-written file left behind, a pipe or a closed stdout
ending in a traceback, a WAL store's folder changed by reading it, a deadline blamed on a
source for an option that was never valid.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from loopback.seed import silent_config
from loopback.silent import silent_port
from repo_builder import build, function

from orchwatch.actions.audit import read_audit
from orchwatch.cli import main
from orchwatch.clock import FrozenClock
from orchwatch.config import EXAMPLE_CONFIG, Config, ConfigError, find_config_file, parse_config
from orchwatch.snapshot import capture
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import SourceOptions, build_sources

ORCHWATCH = [sys.executable, "-m", "orchwatch"]
ESCAPES = ("\x1b", "\x07", "\u202e")


def cli(tmp: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "ORCHWATCH_CACHE_DIR": str(tmp / "cache")}
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [*ORCHWATCH, *args], env=env, timeout=120, **kwargs
    )


# --- nothing from a file, a config, a path or a server reaches the terminal live -------------


def test_a_hostile_file_name_is_inert_in_validate_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = build(tmp_path / "r", function("fn_a", "def h(e):\n    return e\n"))
    evil = "evil\x1b]52;c;aGk=\x07\u202e.py"
    (repo / "orchestration/cloud_functions/fn_a" / evil).symlink_to("nowhere")
    assert main(["validate", str(repo), "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "evil␛]52;c;aGk=␇<U+202E>.py" in out  # shown, as visible stand-ins
    assert not any(c in out for c in ESCAPES)


def test_a_hostile_service_name_from_the_config_is_inert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE_CONFIG.read_text().replace(
        '"self-heal"]', '"self-heal", "bad\\u001b[2J\\u001b]52;c;aGk=\\u0007name"]'
    )
    (tmp_path / "o.toml").write_text(text)
    main(["--config", str(tmp_path / "o.toml"), "revisions", "--demo"])
    out = capsys.readouterr().out
    assert "bad␛[2J␛]52;c;aGk=␇name" in out
    assert not any(c in out for c in ESCAPES)


def test_a_hostile_config_path_is_inert_in_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "d\x1b[31mx" / "o.toml"), "daily", "--demo"]) == 2
    err = capsys.readouterr().err
    assert "d␛[31mx" in err and "no such file" in err
    assert "\x1b" not in err


def test_a_hostile_argument_is_inert_in_the_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["daily", "--demo", "x\x1b]52;c;aGk=\x07"]) == 2  # argparse prints it as is
    err = capsys.readouterr().err
    assert err.startswith("orchwatch: unrecognized arguments: x␛]52;c;aGk=␇")
    assert not any(c in err for c in ESCAPES)


# --- the validator reads nothing outside the repository --------------------------------------


@pytest.mark.parametrize(
    "line", ["-r /etc/shadow", "--requirement=/etc/shadow", "-r../../../../outside.txt"]
)
def test_a_requirements_include_outside_the_repo_is_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("requests\n")
    repo = build(
        tmp_path / "r",
        {
            **function("fn_a", "import requests\n\ndef h(e):\n    return e\n"),
            "orchestration/cloud_functions/fn_a/requirements.txt": f"{line}\n",
        },
    )
    opened: list[str] = []

    def audit(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(audit)
    code = main(["validate", str(repo), "--no-cache", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    reads = [path for path in opened if "shadow" in path or "outside.txt" in path]
    opened.clear()
    assert reads == []
    messages = [f["message"] for f in report["findings"] if f["function"] == "fn_a"]
    assert any("outside the repository" in m for m in messages), messages
    # requests is not taken as declared by a file that was not read
    assert code == 1 and any("requests" in m for m in messages), messages


def test_a_requirements_include_inside_the_repo_is_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = build(
        tmp_path / "r",
        {
            **function("fn_a", "import requests\n\ndef h(e):\n    return e\n"),
            "orchestration/cloud_functions/fn_a/requirements.txt": "-r base.txt\n",
            "orchestration/cloud_functions/fn_a/base.txt": "requests\n",
        },
    )
    assert main(["validate", str(repo), "--no-cache"]) == 0, capsys.readouterr().out


# --- output files: all or nothing, and only over a regular file ------------------------------


def test_force_never_replaces_what_is_not_a_regular_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "target.db")
    for target, kind in ((fifo, "not a regular file"), (link, "a link")):
        assert main(["snapshot", "--demo", "--force", "-o", str(target)]) == 2
        assert f"is {kind}; only a regular file is ever replaced" in capsys.readouterr().err
    assert fifo.is_fifo() and link.is_symlink()
    if os.geteuid() == 0:  # a device, as the issue found it (mknod needs root)
        device = tmp_path / "fulldev"
        os.mknod(device, 0o644 | 0o020000, os.makedev(1, 7))
        assert main(["snapshot", "--demo", "--force", "-o", str(device)]) == 2
        assert "is a device" in capsys.readouterr().err
        assert device.is_char_device()


def test_an_interrupted_snapshot_leaves_nothing(tmp_path: Path, config: Config) -> None:
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(DEMO_START))
    seen: list[list[str]] = []

    def interrupt(what: str, done: int, total: int) -> None:
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        if done == 2:  # the partial file exists by now: Ctrl-C
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        capture(config, sources, [DEMO_START.date()], tmp_path / "x.db", interrupt)
    sources.close()
    assert any(name.endswith(".partial") for name in seen[-1])  # it was being written
    assert list(tmp_path.iterdir()) == []


def test_a_snapshot_past_its_deadline_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with silent_port() as port:
        config = silent_config(tmp_path, port)
        done = cli(
            tmp_path,
            *("--config", str(config), "snapshot", "--timeout", "3", "-o", str(out / "x.db")),
            capture_output=True,
        )
    assert done.returncode == 2, done.stderr
    assert b"timed out after 3 s" in done.stderr
    assert list(out.iterdir()) == []


def test_a_terminated_snapshot_leaves_nothing(tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "out"
    out.mkdir()
    with silent_port() as port:
        config = silent_config(tmp_path, port)
        process = subprocess.Popen(
            [*ORCHWATCH, "--config", str(config), "snapshot", "-o", str(out / "x.db")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "ORCHWATCH_CACHE_DIR": str(tmp_path / "cache")},
        )
        try:
            deadline = time.monotonic() + 60
            while not any(out.iterdir()):  # the partial file appears: it is capturing
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)  # as `timeout` or a CI job's end sends it
            assert process.wait(timeout=60) == 130
        finally:
            process.kill()
            process.wait()
    assert list(out.iterdir()) == []


# --- pipes and closed streams ---------------------------------------------------------------


def test_help_into_a_reader_that_went_away_ends_quietly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*ORCHWATCH, "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "ORCHWATCH_CACHE_DIR": str(tmp_path)},
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # `| true`: gone before the help is written
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


def test_a_closed_stdout_is_exit_74_with_a_message(tmp_path: Path) -> None:
    # A shell closes the descriptor before it execs orchwatch. (A preexec_fn would make
    # Python fork the test process, whose gRPC threads from the Google Cloud tests may then
    # abort the child between fork and exec.)
    env = {**os.environ, "ORCHWATCH_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *ORCHWATCH, "daily", "--demo"],
        env=env,
        timeout=120,
        stderr=subprocess.PIPE,
        check=False,
    )
    assert done.returncode == 74
    assert done.stderr == b"orchwatch: cannot write the output: standard output is closed\n"


# --- reading never changes what is read, its folder included ---------------------------------


def _wal_store(tmp: Path, config: Config) -> Path:
    path = tmp / "wal" / "store.db"
    path.parent.mkdir()
    assert main(["snapshot", "--demo", "-o", str(path)]) == 0
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
    return path


def test_a_wal_store_is_read_without_a_file_appearing_beside_it(
    tmp_path: Path, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _wal_store(tmp_path, config)
    before = sorted(p.name for p in path.parent.iterdir())
    assert before == ["store.db"]
    assert main(["revisions", "--source", str(path)]) == 1
    assert "phase3-to-phase4-orchestrator" in capsys.readouterr().out
    assert sorted(p.name for p in path.parent.iterdir()) == before


def test_a_wal_store_with_unmerged_writes_is_read_whole_and_left_as_it_was(
    tmp_path: Path, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _wal_store(tmp_path, config)
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE meta SET value = 'from the wal' WHERE key = 'captured_from'")
    writer.commit()
    files = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    assert "store.db-wal" in files
    from orchwatch.sources.local import LocalStore

    store = LocalStore(path, create=False)
    assert store.get_meta("captured_from") == "from the wal"
    store.close()
    # the writer is still open (a recorder may be writing), and its files are as they were
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == files
    writer.close()


# --- options and values out of range: exit 2 at once, saying what is accepted ---------------


@pytest.mark.parametrize("value", ["nan", "-5", "1e300", "inf", "soon"])
def test_a_timeout_that_is_not_a_deadline_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["daily", "--demo", "--timeout", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orchwatch: argument --timeout: ")
    assert "expected a number of seconds" in err and "timed out" not in err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["daily", "--demo", "--date", "9999-12-31"], "out of range: expected a date from"),
        (["daily", "--demo", "--date", "1969-12-31"], "out of range"),
        (["--as-of", "0001-01-01T00:00", "daily", "--demo"], "out of range"),
        (["--as-of", "0001-01-01T00:00+01:00", "daily", "--demo"], "out of range"),
        (["errors", "--demo", "--since", "99999999d"], "at most 3650d"),
        (["errors", "--demo", "--since", "9" * 40 + "s"], "expected a number and a unit"),
        (["--as-of", "2099-12-31T23:59", "daily", "--demo"], "the demo covers"),
    ],
)
def test_a_moment_outside_the_range_is_exit_2(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("orchwatch: ") and said in err


def test_a_config_in_a_folder_that_cannot_be_entered_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked" / "orchwatch.toml"
    real_stat = os.stat

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if str(path).startswith(str(locked.parent)):  # as for a user without x on the folder
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat)
    with pytest.raises(ConfigError) as raised:
        find_config_file(str(locked))
    assert str(raised.value) == (f"{locked}: cannot be read (Permission denied; named by --config)")


def test_a_toml_integer_beyond_64_bits_is_refused_naming_its_key() -> None:
    text = EXAMPLE_CONFIG.read_text().replace(
        "refresh_seconds = 10", "refresh_seconds = 99999999999999999999999"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, None)
    assert raised.value.key == "ui.refresh_seconds"
    assert "64 bits" in raised.value.expected


def _chain(count: int, back_to: int | None = None) -> str:
    return "".join(
        f'[[phases]]\nname = "p{i}"\norchestrator = "o{i}"\nprocessors = [{{ name = "x{i}" }}]\n'
        + (
            f'next_phase = "p{i + 1}"\n'
            if i < count - 1
            else f'next_phase = "p{back_to}"\n'
            if back_to is not None
            else ""
        )
        for i in range(count)
    )


def test_a_long_phase_chain_is_checked_once_and_a_cycle_at_its_end_is_found() -> None:
    assert len(parse_config(_chain(1500), None).phases) == 1500  # 4 s before; now linear
    with pytest.raises(ConfigError) as raised:
        parse_config(_chain(1500, back_to=1497), None)
    assert raised.value.key == "phases[1497].next_phase"
    assert "(p1497 → p1498 → p1499 → p1497)" in raised.value.expected


# --- audit records: a process group is one a run can have ------------------------------------


@pytest.mark.parametrize("pgid", [-1, 0, 1, True, 2**70, "12"])
def test_an_impossible_process_group_is_an_unreadable_record(
    tmp_path: Path, pgid: object, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    started = {
        "event": "started",
        "id": "r1",
        "time": "2026-02-01T11:00:00+00:00",
        "command": ["sleep", "1"],
        "user": "u",
        "host": "h",
        "action": "deploy",
        "service": "s",
    }
    process = {"event": "process", "id": "r1", "time": "2026-02-01T11:00:01+00:00", "pgid": pgid}
    log.write_text(json.dumps(started) + "\n" + json.dumps(process) + "\n")
    entries, bad = read_audit(log)
    assert bad == 1
    assert entries[0].outcome == "incomplete (orchwatch stopped during the run)"
    assert main(["audit", "--file", str(log)]) == 0
    assert "(1 unreadable line)" in capsys.readouterr().out


# --- quitting is immediate, whatever is still waiting ----------------------------------------


_ESCAPE = __import__("re").compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|[\r\n]")
"""Escape sequences (and line ends) between the characters a terminal program draws."""


def _read_until(fd: int, wanted: bytes | None, seconds: float) -> bytes:
    """What the terminal received until `wanted` appears (None: until the program ends),
    within `seconds`."""
    import select
    import time

    seen = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the program ended and closed the terminal
            return seen
        if not data:
            return seen
        seen += data
        if wanted is not None and wanted in _ESCAPE.sub(b"", seen):
            return seen
    raise AssertionError(f"not seen within {seconds} s: {wanted!r}; last: {seen[-300:]!r}")


def test_q_on_a_silent_backend_returns_to_the_shell_at_once(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    with silent_port() as port:
        config = silent_config(tmp_path, port)
        fd, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 35, 120, 0, 0))
        child = subprocess.Popen(
            [*ORCHWATCH, "--config", str(config)],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env={**os.environ, "TERM": "xterm-256color", "ORCHWATCH_CACHE_DIR": str(tmp_path)},
            start_new_session=True,
        )
        os.close(terminal)
        try:
            _read_until(fd, b"source: project", 120)  # the first frame: every read pending
            os.write(fd, b"q")
            # Every source is still waiting on the silent port (their reads give up after
            # 20 s and more); quitting must not wait for them.
            after = _read_until(fd, None, 15)
            code = child.wait(timeout=5)
        finally:
            child.kill()
            child.wait()
            os.close(fd)
    assert code == 0
    restored = after.rfind(b"\x1b[?1049l")  # the alternate screen left: the shell's again
    assert restored >= 0, after[-300:]
    printed = _ESCAPE.sub(b"", after[restored:])
    assert printed == b"", printed  # nothing printed after the terminal is restored
