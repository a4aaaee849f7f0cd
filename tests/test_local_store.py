"""The SQLite store: round trips, and clear errors for files that are not stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from orchwatch.model import BackupRow, CompletionRecord, PhaseDocument
from orchwatch.sources.base import SourceError
from orchwatch.sources.local import LocalStore

DAY = date(2026, 2, 1)
T0 = datetime(2026, 2, 1, 12, tzinfo=UTC)


def test_backup_rows_aggregate_to_the_latest_run(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s.db")
    store.insert_backup_rows(
        [
            BackupRow("phase3", DAY, "p", "success", T0, 5, "c1", "e1"),
            BackupRow("phase3", DAY, "p", "failed", T0 + timedelta(hours=1), 0, "c2", "e2"),
            BackupRow("phase3", DAY + timedelta(days=1), "p", "success", T0, 1, "c3", "e3"),
        ]
    )
    summary = store.fetch_completions([DAY])[DAY].bigquery["phase3"]["p"]
    assert (summary.runs, summary.successes, summary.last_status) == (2, 1, "failed")
    assert summary.last_correlation_id == "c2"
    assert summary.first_completed_at == T0
    assert summary.last_completed_at == T0 + timedelta(hours=1)


def test_firestore_fields_and_metadata_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = LocalStore(path)
    store.record_firestore([("phase3", DAY, CompletionRecord("a", "success", T0, 3, "c", "e"))])
    store.record_firestore([("phase3", DAY, CompletionRecord("b", "success", T0, 4, "c", "e"))])
    store.mark_triggered("phase3", DAY, T0, "all_complete", "same_day")
    store.close()
    reopened = LocalStore(path, create=False)
    doc = reopened.fetch_completions([DAY])[DAY].firestore["phase3"]
    assert set(doc.records) == {"a", "b"}
    assert doc.completed_count == 2
    assert doc.triggered and doc.triggered_at == T0 and doc.trigger_reason == "all_complete"


def test_put_document_replaces_the_whole_document() -> None:
    store = LocalStore()
    store.record_firestore([("phase3", DAY, CompletionRecord("old", "success", T0))])
    store.put_document(
        PhaseDocument("phase3", DAY, {"new": CompletionRecord("new", "partial", T0)})
    )
    assert set(store.fetch_completions([DAY])[DAY].firestore["phase3"].records) == {"new"}


def test_opening_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such store file"):
        LocalStore(tmp_path / "missing.db", create=False)


def test_opening_a_file_that_is_not_a_store_says_so(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SourceError, match="not an orchwatch store"):
        LocalStore(junk, create=False)


def test_naive_datetimes_are_refused() -> None:
    store = LocalStore()
    with pytest.raises(ValueError, match="naive"):
        store.insert_backup_rows([BackupRow("p", DAY, "x", "success", datetime(2026, 2, 1))])
