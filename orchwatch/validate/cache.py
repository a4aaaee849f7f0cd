"""A content-hash cache, so a warm validation parses nothing and re-checks nothing.

Two maps: module facts keyed by the SHA-256 of a file's bytes (plus the Python
version, whose grammar decides what parses), and each package variant's findings
keyed by a fingerprint of all its files' paths and content hashes. Both are stored
as one msgspec-encoded JSON file in the user cache directory. A corrupt or foreign
cache file is ignored, never fatal.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import msgspec

from orchwatch.validate.imports import ModuleFacts
from orchwatch.validate.model import Finding, FunctionResult

CACHE_VERSION = 3
_KEY_PREFIX = f"{CACHE_VERSION}:{sys.version_info[0]}.{sys.version_info[1]}:"
"""Facts depend on the Python that judged them: the key names it (and the runtime tag)."""


MAX_REPORTS = 8


class StoredReport(msgspec.Struct):
    """A whole run's result, keyed by a fingerprint of the repository's files."""

    functions: list[FunctionResult]
    findings: list[Finding]


class _CacheFile(msgspec.Struct):
    version: int
    entries: dict[str, ModuleFacts]
    results: dict[str, list[Finding]] = {}
    reports: dict[str, StoredReport] = {}


class FactsCache:
    """In-memory facts by content hash, optionally persisted to `path`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.hits = 0
        self.misses = 0
        self._entries: dict[str, ModuleFacts] = {}
        self._results: dict[str, list[Finding]] = {}
        self._reports: dict[str, StoredReport] = {}
        self._dirty = False
        if path is not None:
            self._load(path)

    @classmethod
    def default(cls) -> FactsCache:
        """The cache in the user cache dir (`$ORCHWATCH_CACHE_DIR` overrides it)."""
        override = os.environ.get("ORCHWATCH_CACHE_DIR")
        if override:
            base = Path(override)
        else:
            import platformdirs

            base = Path(platformdirs.user_cache_dir("orchwatch"))
        return cls(base / "validate-facts.json")

    def _load(self, path: Path) -> None:
        try:
            data = msgspec.json.decode(path.read_bytes(), type=_CacheFile)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return
        if data.version == CACHE_VERSION:
            self._entries = data.entries
            self._results = data.results
            self._reports = data.reports

    def get(self, digest: str, runtime: str = "") -> ModuleFacts | None:
        """Facts for a content hash judged for a runtime, or None."""
        facts = self._entries.get(f"{_KEY_PREFIX}{runtime}:{digest}")
        if facts is None:
            self.misses += 1
        else:
            self.hits += 1
        return facts

    def peek(self, digest: str, runtime: str = "") -> ModuleFacts | None:
        """Like `get`, without counting a hit or a miss."""
        return self._entries.get(f"{_KEY_PREFIX}{runtime}:{digest}")

    def put(self, digest: str, facts: ModuleFacts, runtime: str = "") -> None:
        """Remember facts for a content hash judged for a runtime."""
        self._entries[f"{_KEY_PREFIX}{runtime}:{digest}"] = facts
        self._dirty = True

    def get_results(self, fingerprint: str) -> list[Finding] | None:
        """A package's findings by its content fingerprint, or None."""
        return self._results.get(fingerprint)

    def put_results(self, fingerprint: str, findings: list[Finding]) -> None:
        """Remember a package's findings."""
        self._results[fingerprint] = findings
        self._dirty = True

    def get_report(self, fingerprint: str) -> StoredReport | None:
        """A whole run's result for an unchanged repository, or None."""
        return self._reports.get(fingerprint)

    def put_report(self, fingerprint: str, report: StoredReport) -> None:
        """Remember a whole run's result (the last few repositories only)."""
        self._reports.pop(fingerprint, None)
        self._reports[fingerprint] = report
        while len(self._reports) > MAX_REPORTS:
            del self._reports[next(iter(self._reports))]
        self._dirty = True

    def save(self) -> None:
        """Write the cache atomically if anything changed; failures to write are ignored."""
        if self.path is None or not self._dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            payload = msgspec.json.encode(
                _CacheFile(CACHE_VERSION, self._entries, self._results, self._reports)
            )
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".facts-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.replace(tmp, self.path)
            self._dirty = False
        except OSError:
            return
