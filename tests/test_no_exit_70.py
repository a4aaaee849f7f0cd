"""No verb exits 70 (an internal error) on any hostile input of the suite: each case here
gets 0, 1, 2 or 74 and a message, never a traceback."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from repo_builder import build, function

from orchwatch.cli import main
from orchwatch.clock import FrozenClock
from orchwatch.config import EXAMPLE_CONFIG, Config
from orchwatch.sources.demo import DEMO_START, build_demo

Case = Callable[[Path, Config], list[str]]


def store(tmp: Path, config: Config, *damage: str) -> Path:
    path = tmp / "store.db"
    built, _ = build_demo(config, FrozenClock(DEMO_START), path=str(path))
    built.close()
    with sqlite3.connect(path) as db:
        for statement in damage:
            db.execute(statement)
    return path


def file(tmp: Path, name: str, data: bytes | str) -> Path:
    path = tmp / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def config_with(tmp: Path, old: str, new: str) -> Path:
    return file(tmp, "orchwatch.toml", EXAMPLE_CONFIG.read_text().replace(old, new))


def repo_linked_to_root(tmp: Path) -> Path:
    repo = build(tmp / "r", function("f", "import os\n"))
    (repo / "orchestration/cloud_functions/f/root").symlink_to("/")
    return repo


CASES: dict[str, Case] = {
    "errors: empty file": lambda t, c: ["errors", "--from-file", str(file(t, "e", b""))],
    "errors: binary": lambda t, c: [
        "errors",
        "--from-file",
        str(file(t, "b", bytes(range(256)) * 64)),
    ],
    "errors: deep nesting": lambda t, c: [
        "errors",
        "--from-file",
        str(file(t, "d", "[" * 200_000)),
    ],
    "errors: wrong types": lambda t, c: [
        "errors",
        "--from-file",
        str(file(t, "w", json.dumps([{"timestamp": 5, "severity": None, "resource": []}]))),
    ],
    "errors: year 1": lambda t, c: [
        "errors",
        "--from-file",
        str(file(t, "y", json.dumps({"timestamp": "0001-01-01T00:00:00Z", "textPayload": "x"}))),
        "--samples",
    ],
    "errors: a folder": lambda t, c: ["errors", "--from-file", str(t)],
    "errors: missing file": lambda t, c: ["errors", "--from-file", str(t / "nope.json")],
    "audit: garbage": lambda t, c: [
        "audit",
        "--file",
        str(file(t, "a", '{"event": 1}\n[[[\n\x00')),
    ],
    "audit: a folder": lambda t, c: ["audit", "--file", str(t)],
    "validate: empty repo": lambda t, c: ["validate", str(t), "--no-cache"],
    "validate: not a folder": lambda t, c: ["validate", str(file(t, "f", "x")), "--no-cache"],
    "validate: link to /": lambda t, c: ["validate", str(repo_linked_to_root(t)), "--no-cache"],
    "validate: binary script": lambda t, c: [
        "validate",
        str(
            build(
                t / "r",
                {
                    **function("f", "x = 1\n"),
                    "bin/deploy.sh": "\x00\xff gcloud functions deploy f $(",
                },
            )
        ),
        "--no-cache",
    ],
    "source: newer schema": lambda t, c: [
        "revisions",
        "--source",
        str(store(t, c, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")),
    ],
    "source: missing tables": lambda t, c: [
        "daily",
        "--source",
        str(store(t, c, "DROP TABLE phase_completions")),
    ],
    "source: bad json": lambda t, c: [
        "revisions",
        "--source",
        str(store(t, c, "UPDATE cloud_run_revision SET conditions = '[{'")),
    ],
    "source: junk file": lambda t, c: ["revisions", "--source", str(file(t, "j.db", b"junk" * 99))],
    "config: a folder": lambda t, c: ["--config", str(t), "daily", "--demo"],
    "config: cycle": lambda t, c: [
        "--config",
        str(config_with(t, 'due_after = "11:00"', 'due_after = "11:00"\nnext_phase = "phase2"')),
        "daily",
        "--demo",
    ],
    "config: nan": lambda t, c: [
        "--config",
        str(config_with(t, "refresh_seconds = 10", "refresh_seconds = nan")),
        "revisions",
        "--demo",
    ],
    "snapshot: onto a folder": lambda t, c: ["snapshot", "--demo", "-o", str(t), "--force"],
    "daily: a date that is not one": lambda t, c: ["daily", "--demo", "--date", "2026-13-45"],
    "errors: a bad duration": lambda t, c: ["errors", "--demo", "--since", "forever"],
    "source: labels a list": lambda t, c: [
        "revisions",
        "--source",
        str(store(t, c, "UPDATE cloud_run_revision SET labels = '[1, 2]'")),
    ],
    "source: conditions of numbers": lambda t, c: [
        "revisions",
        "--source",
        str(store(t, c, "UPDATE cloud_run_revision SET conditions = '[1]'")),
    ],
    "audit: pgid -1": lambda t, c: ["audit", "--file", str(file(t, "a", _audit_with(-1)))],
    "audit: pgid 2**70": lambda t, c: ["audit", "--file", str(file(t, "a", _audit_with(2**70)))],
    "daily: year 9999": lambda t, c: ["daily", "--demo", "--date", "9999-12-31"],
    "as-of: year 1": lambda t, c: ["--as-of", "0001-01-01T00:00", "daily", "--demo"],
    "errors: since 99999999d": lambda t, c: ["errors", "--demo", "--since", "99999999d"],
    "config: nested 50,000 deep": lambda t, c: [
        "--config",
        str(file(t, "deep.toml", "a = " + "[" * 50_000 + "]" * 50_000)),
        "daily",
        "--demo",
    ],
    "timeout: 1e300": lambda t, c: ["daily", "--demo", "--timeout", "1e300"],
}


def _audit_with(pgid: int) -> str:
    started = {"event": "started", "id": "r", "time": "2026-02-01T11:00:00Z", "command": []}
    process = {"event": "process", "id": "r", "time": "2026-02-01T11:00:01Z", "pgid": pgid}
    return f"{json.dumps(started)}\n{json.dumps(process)}\n"


@pytest.mark.parametrize("name", list(CASES))
def test_no_verb_exits_70(
    name: str, tmp_path: Path, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(CASES[name](tmp_path, config))
    err = capsys.readouterr().err
    assert code in (0, 1, 2, 74), err
    assert "internal error" not in err and "Traceback" not in err
    if code == 2:
        assert err.startswith("orchwatch: ")  # one line that says why
