"""Completions by game date, over stores that key some phases by their processing date.

The runbook's first concept: a night's games (GAME_DATE) are processed after midnight, so
processing status (box-score scrapers, phase 3 analytics, their orchestrator's Firestore
document and BigQuery rows) is keyed by the PROCESSING_DATE, the day after. A phase
configured with `keyed_by = "processing_date"` is read here from the store's next day,
so that a grid column, a check or an explain of game date D shows that phase's records
of D's games. Due times are reckoned from the same keyed date (`analysis.completion`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from orchwatch.config import PhaseSpec
from orchwatch.model import DateCompletions, ExecutionLogRow, FailedQueueItem
from orchwatch.sources.base import CompletionSource


class KeyedCompletions:
    """The `CompletionSource` by game date over `inner`, keyed as each phase is stored."""

    def __init__(self, inner: CompletionSource, phases: Sequence[PhaseSpec]) -> None:
        self.inner = inner
        self.phases = tuple(phases)
        self._owner = {p.name: p for p in self.phases} | {
            proc.name: p for p in self.phases for proc in p.processors
        }
        """A phase's or a processor's name -> its phase."""

    def _keyed(self, day: date) -> list[date]:
        return sorted({p.keyed_date(day) for p in self.phases} | {day})

    def fetch_completions(self, dates: Sequence[date]) -> dict[date, DateCompletions]:
        """Each game date's records, each phase's from the date it is stored under.

        Raises:
            SourceError: the store cannot be read.
        """
        wanted = sorted({k for d in dates for k in self._keyed(d)})
        held = self.inner.fetch_completions(wanted)
        result: dict[date, DateCompletions] = {}
        for day in dates:
            firestore, bigquery = {}, {}
            for phase in self.phases:
                stored = held.get(phase.keyed_date(day))
                if stored is None:
                    continue
                if phase.name in stored.firestore:
                    firestore[phase.name] = stored.firestore[phase.name]
                if phase.name in stored.bigquery:
                    bigquery[phase.name] = stored.bigquery[phase.name]
            result[day] = DateCompletions(day, firestore, bigquery)
        return result

    def fetch_execution_log(self, game_date: date) -> list[ExecutionLogRow]:
        """The transitions out of each phase, from the date that phase is stored under
        (a row `phase3_to_phase4` of a processing-keyed phase 3 is on the next day);
        rows of no configured transition from the game date itself."""
        transitions = {f"{p.name}_to_{p.next_phase}": p for p in self.phases if p.next_phase}
        rows: list[ExecutionLogRow] = []
        for day in self._keyed(game_date):
            for row in self.inner.fetch_execution_log(day):
                phase = transitions.get(row.phase_name)
                keyed = phase.keyed_date(game_date) if phase is not None else game_date
                if keyed == day:
                    rows.append(row)
        return rows

    def fetch_failed_queue(self, game_date: date) -> list[FailedQueueItem]:
        """Each processor's queue items from the date its phase is stored under."""
        items: list[FailedQueueItem] = []
        for day in self._keyed(game_date):
            for item in self.inner.fetch_failed_queue(day):
                phase = self._owner.get(item.processor_name)
                keyed = phase.keyed_date(game_date) if phase is not None else game_date
                if keyed == day:
                    items.append(item)
        return items

    def scalar_query(self, sql: str, game_date: date) -> float | None:
        """A custom check's number (its SQL says which date it means by `@date`)."""
        return self.inner.scalar_query(sql, game_date)

    def watch_date(self, day: date, on_change: Callable[[], None]) -> None:
        """Listen to the game date's documents (a processing-keyed phase's are the next
        day's: today's when yesterday is checked, re-read at every refresh)."""
        self.inner.watch_date(day, on_change)

    def close(self) -> None:
        """Close the inner store, when it holds anything."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # what a store says of itself (its cost notes)


def keyed(completions: CompletionSource, phases: Sequence[PhaseSpec]) -> CompletionSource:
    """`completions` read by game date: as it is when every phase is keyed by it."""
    if all(p.date_offset == 0 for p in phases):
        return completions
    return KeyedCompletions(completions, phases)
