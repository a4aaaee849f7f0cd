"""Which revision serves a demo service, and whether the service is crash-looping."""

from __future__ import annotations

from datetime import datetime

from orchwatch.sources.demo.events import CrashWindow, stored_windows
from orchwatch.sources.demo.logs import FIXED_LABEL, LOOP_LABEL
from orchwatch.sources.local import LocalStore


class ServingLookup:
    """Which revision serves a service, cached until a revision event changes it."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self._cache: dict[str, tuple[str, bool, bool]] = {}
        self._windows: list[CrashWindow] | None = None

    def invalidate(self) -> None:
        """Forget every answer (a revision, a service or a crash window changed)."""
        self._cache.clear()
        self._windows = None

    def get(self, service: str) -> tuple[str, bool, bool]:
        """(serving revision name, whether it carries the demo's fix, whether it
        crash-loops)."""
        if service not in self._cache:
            self._cache[service] = self._lookup(service)
        return self._cache[service]

    def _lookup(self, service: str) -> tuple[str, bool, bool]:
        found = self.store.fetch_services([service])
        if not found:
            return f"{service}-00001-dmo", False, False  # no such service: no fix deployed
        state = found[0]
        name = state.traffic[0].revision if state.traffic else state.latest_ready_revision
        revision = next((r for r in state.revisions if r.name == name), None)
        labels = revision.labels if revision is not None else {}
        return name, labels.get(FIXED_LABEL) == "true", labels.get(LOOP_LABEL) == "true"

    def crashing(self, service: str, moment: datetime) -> bool:
        """Whether `service` is inside one of its crash windows at `moment`."""
        if self._windows is None:
            self._windows = stored_windows(self.store)
        return any(w.service == service and w.covers(moment) for w in self._windows)
