"""Module analysis on the second core while the main process evaluates deploy scripts.

A cold run spends most of its time in two places: evaluating scripts and building each
module's syntax tree. They do not depend on each other for the function folders' own
uploads, so a worker process analyses the modules those uploads will need (found by a
quick scan of their import lines, which is only a hint) while the scripts are evaluated.
The check takes a module's facts from the worker when it has them and analyses it
itself otherwise: the result is the same either way, only sooner.

A worker that cannot start (no process spawning here) changes nothing but the time.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import re
from collections.abc import Iterable

from orchwatch.validate.imports import ModuleFacts, analyse_source
from orchwatch.validate.tree import Entry, PackageTree

MIN_FILES = 40
"""Below this many modules to analyse, a worker costs more than it saves."""
_IMPORT_LINE = re.compile(
    rb"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t(]+([\w, \t]*)|import[ \t]+([\w. ,]+))",
    re.M,
)
"""`from X import a, b` or `import X`. Only X is followed: following the names as possible
submodules slowed the scan and reached no more modules on the corpus."""


def _analyse_many(items: list[tuple[str, bytes, tuple[int, int] | None]]) -> list[ModuleFacts]:
    return [analyse_source(data, name, feature) for name, data, feature in items]


def _import_lines(
    entry: Entry, memo: dict[object, list[tuple[bytes, bytes, bytes]]]
) -> list[tuple[bytes, bytes, bytes]]:
    key: object = entry.real if entry.real is not None else id(entry)
    if key not in memo:
        data = entry.read()
        memo[key] = _IMPORT_LINE.findall(data) if data is not None else []
    return memo[key]


def likely_closure(
    tree: PackageTree,
    start: str = "main.py",
    memo: dict[object, list[tuple[bytes, bytes, bytes]]] | None = None,
) -> list[str]:
    """Module files an upload probably imports, from its import lines (a hint, not a verdict:
    a wrong guess only costs the worker's time). `memo` keeps each file's import lines
    across the uploads of a run, which share most of their files."""
    memo = memo if memo is not None else {}
    seen: set[str] = set()
    pending = [start]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        entry = tree.files.get(path)
        if entry is None:
            continue
        package = path.rsplit("/", 1)[0].split("/") if "/" in path else []
        for source, _names, absolute in _import_lines(entry, memo):
            names: Iterable[str]
            if source:
                text = source.decode()
                level = len(text) - len(text.lstrip("."))
                base = package[: len(package) - (level - 1)] if level else []
                names = [".".join([*base, text.lstrip(".")]).strip(".")]
            else:
                names = [n.strip().split(" ")[0] for n in absolute.decode().split(",")]
            for name in names:
                parts = [p for p in name.split(".") if p]
                for end in range(1, len(parts) + 1):
                    found = tree.module_file(".".join(parts[:end]))
                    if found is not None and found.endswith(".py"):
                        pending.append(found)
    return sorted(seen)


class Prefetcher:
    """A one-process pool that analyses modules ahead of the check."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._futures: dict[str, concurrent.futures.Future[list[ModuleFacts]]] = {}
        self._index: dict[str, tuple[str, int]] = {}
        self._batch: list[tuple[str, tuple[str, bytes, tuple[int, int] | None]]] = []
        self._queued: set[str] = set()

    def want(self, key: str, name: str, data: bytes, feature: tuple[int, int] | None) -> None:
        """Queue a module (key: the cache key of its facts)."""
        if key not in self._index and key not in self._queued:
            self._queued.add(key)
            self._batch.append((key, (name, data, feature)))

    def boot(self) -> None:
        """Start the worker now, so that its interpreter starts while work is queued."""
        if self._pool is not None:
            return
        try:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
            self._pool.submit(_analyse_many, [])
        except (OSError, RuntimeError, ValueError):
            self.close()

    def start(self, *, chunk_size: int = 25) -> bool:
        """Send the queued modules to the worker (started on the first call with enough of
        them); False when nothing was sent. The worker takes chunks in the queue's order."""
        if self._pool is None and len(self._batch) < MIN_FILES:
            self._batch.clear()
            self._queued.clear()
            return False
        try:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn")
                )
            for start in range(0, len(self._batch), chunk_size):
                chunk = self._batch[start : start + chunk_size]
                future = self._pool.submit(_analyse_many, [item for _, item in chunk])
                for offset, (key, _) in enumerate(chunk):
                    self._futures[key] = future
                    self._index[key] = (key, offset)
        except (OSError, RuntimeError, ValueError):
            self.close()
            return False
        finally:
            self._batch.clear()
            self._queued.clear()
        return True

    def take(self, key: str) -> ModuleFacts | None:
        """The worker's facts for a module, waiting if it is at work on them; None when the
        worker does not have them (the caller analyses the module itself)."""
        future = self._futures.pop(key, None)
        if future is None:
            return None
        if not future.running() and not future.done() and future.cancel():
            return None
        try:
            facts = future.result(timeout=60)
        except Exception:  # a dead worker: analyse locally
            return None
        return facts[self._index[key][1]]

    def close(self) -> None:
        """Stop the worker and wait for it to exit (pending chunks are dropped, so this is at
        most one chunk's work): a worker left running would outlive the verb, holding its
        caller's pipes open."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._futures.clear()
