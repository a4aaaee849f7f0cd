"""Verbs in pipes and on odd terminals, as cron jobs and shells run them: a closed reader
ends a verb quietly, a full disk is exit 74, and the dashboard never writes escape codes
into a file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback.seed import silent_config
from loopback.silent import silent_port as silent
from repo_builder import build, function

ORCHWATCH = [sys.executable, "-m", "orchwatch"]


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "ORCHWATCH_CACHE_DIR": str(kwargs.pop("cache"))}
    return subprocess.run([*ORCHWATCH, *args], env=env, timeout=120, **kwargs)  # type: ignore[call-overload,no-any-return]


def big_repo(root: Path) -> Path:
    files: dict[str, str] = {}
    imports = "".join(f"import missing_{k}\n" for k in range(20))
    for n in range(60):  # 1,200 findings: far more than the 64 KiB a pipe holds
        files.update(function(f"f{n:02d}", imports + "\ndef handler(e):\n    return e\n"))
    return build(root, files)


def test_a_closed_reader_ends_the_verb_quietly_with_0(tmp_path: Path) -> None:
    repo = big_repo(tmp_path / "repo")
    process = subprocess.Popen(
        [*ORCHWATCH, "validate", str(repo), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "ORCHWATCH_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10)  # like `| head -c 10`
    process.stdout.close()
    assert process.wait(timeout=120) == 0
    assert process.stderr.read() == b""


def test_a_full_disk_is_exit_74_with_a_message(tmp_path: Path) -> None:
    repo = big_repo(tmp_path / "repo")
    with open("/dev/full", "wb") as full:
        done = run(["validate", str(repo)], stdout=full, stderr=subprocess.PIPE, cache=tmp_path)
    assert done.returncode == 74
    assert b"cannot write the output: No space left on device" in done.stderr


def test_the_dashboard_refuses_a_file_and_a_dumb_terminal(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("wb") as handle:
        done = run(["--demo"], stdout=handle, stderr=subprocess.PIPE, cache=tmp_path)
    assert done.returncode == 2
    assert out.read_bytes() == b""  # no escape codes written into the file
    assert b"stdout is not a terminal" in done.stderr and b"orchwatch daily" in done.stderr
    env = {**os.environ, "TERM": "dumb", "ORCHWATCH_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        ["script", "-qc", " ".join([*ORCHWATCH, "--demo"]), "/dev/null"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert b"TERM is dumb" in done.stdout


# --- deadlines: a backend that accepts and never answers -----------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    with silent() as port:
        yield port


@pytest.mark.parametrize("verb", [["daily", "--date", "2026-01-31"], ["revisions"]])
def test_a_silent_backend_ends_the_verb_at_its_deadline(
    tmp_path: Path, silent_port: int, verb: list[str]
) -> None:
    config = silent_config(tmp_path, silent_port)
    started = time.monotonic()
    done = run(
        ["--config", str(config), *verb, "--timeout", "3"],
        capture_output=True,
        cache=tmp_path,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert b"timed out after 3 s waiting for " in done.stderr
    assert elapsed < 30  # the deadline, plus the interpreter and the libraries' imports


def test_snapshot_checks_its_target_before_capturing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchwatch.cli import main

    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["snapshot", "--demo", "-o", str(folder), "--force"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["snapshot", "--demo", "-o", str(tmp_path / "missing" / "x.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out"]  # nothing left behind
    assert main(["snapshot", "--demo", "--days", "1", "-o", str(folder / "ok.db")]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["ok.db"]
