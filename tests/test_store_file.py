"""`--source PATH.db`: every command reads a store file the same way it reads the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import SIZE, make_app, settle

from orchwatch.cli import main
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.sources.demo import DEMO_START, build_demo
from orchwatch.sources.factory import SourceOptions, build_sources
from orchwatch.tui.panes.logs import LogsPane
from orchwatch.tui.widgets.completion_grid import CompletionGrid


@pytest.fixture
def store_file(config: Config, tmp_path: Path) -> Path:
    path = tmp_path / "incident.db"
    store, _ = build_demo(config, FrozenClock(DEMO_START), path=str(path))
    store.close()
    return path


def test_verbs_read_a_store_file(store_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["revisions", "--source", str(store_file)]) == 1
    assert capsys.readouterr().out.startswith("✗ phase3-to-phase4-orchestrator")
    assert main(["--source", str(store_file), "errors", "--since", "30d"]) == 0
    assert "ModuleNotFoundError ×" in capsys.readouterr().out
    # No log of 01-28 is in the file: its orchestrators could not be checked, which is
    # not a pass (exit 2, saying what could not be checked).
    assert main(["daily", "--source", str(store_file), "--date", "2026-01-28"]) == 2
    first = capsys.readouterr().out.splitlines()[0]
    assert "UNKNOWN (could not check: orchestrator ×4; 0 fail" in first


async def test_the_dashboard_opens_a_store_file(config: Config, store_file: Path) -> None:
    sources = build_sources(
        SourceOptions(store_path=store_file), config, clock=FrozenClock(DEMO_START)
    )
    assert sources.kind == "file"
    app = make_app(config, sources)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        grid = app.dashboard.query_one(CompletionGrid)
        assert grid.get_cell("counts", "phase3").plain == "Firestore 3/5 ≠ BigQuery 5/5"
        assert "■ stopped" in str(
            app.dashboard.query_one(LogsPane).query_one("#logs-status").render()
        )


def test_a_file_that_is_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "notes.db"
    junk.write_text("hello", encoding="utf-8")
    assert main(["revisions", "--source", str(junk)]) == 2
    assert "not an orchwatch store" in capsys.readouterr().err


# --- reading never changes a store; a store that cannot be read says why ---------------------


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def test_reading_a_store_never_changes_it(
    store_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = fingerprint(store_file)
    store_file.chmod(0o444)
    assert main(["daily", "--source", str(store_file), "--date", "2026-01-28"]) == 2
    assert main(["revisions", "--source", str(store_file)]) == 1
    assert fingerprint(store_file) == before
    assert sorted(p.name for p in store_file.parent.iterdir()) == [store_file.name]


def damage(path: Path, *statements: str) -> None:
    import sqlite3

    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (
            ["UPDATE meta SET value = '9' WHERE key = 'schema_version'"],
            "written by a newer orchwatch (store schema 9; this one reads up to 1)",
        ),
        (
            ["DROP TABLE log_entry", "DROP TABLE cloud_run_revision"],
            "missing tables: cloud_run_revision, log_entry",
        ),
        (["DROP TABLE meta"], "not an orchwatch store (no meta table)"),
        (["UPDATE meta SET value = 'yesterday' WHERE key = 'captured_at'"], "is not a time"),
        (
            ["UPDATE cloud_run_revision SET labels = '{not json'"],
            "a bad row in the store (fetch_services",
        ),
    ],
)
def test_a_store_that_cannot_be_read_is_exit_2_and_left_as_it_was(
    store_file: Path, capsys: pytest.CaptureFixture[str], statements: list[str], expected: str
) -> None:
    damage(
        store_file,
        "INSERT OR REPLACE INTO meta VALUES ('captured_at', '2026-02-01T11:30:00+00:00')",
        *statements,
    )
    before = fingerprint(store_file)
    assert main(["revisions", "--source", str(store_file)]) == 2
    assert expected in capsys.readouterr().err
    assert fingerprint(store_file) == before


def test_junk_and_a_folder_are_not_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    assert main(["revisions", "--source", str(junk)]) == 2
    assert "not an orchwatch store" in capsys.readouterr().err
    assert junk.read_bytes() == b"not sqlite at all" * 100
    assert main(["revisions", "--source", str(tmp_path)]) == 2
    assert "is a folder, not a store file" in capsys.readouterr().err
