"""Verbs in pipes and on odd terminals, as cron jobs and shells run them: a closed reader
ends a verb quietly, a full disk is exit 74, and the dashboard never writes escape codes
into a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
