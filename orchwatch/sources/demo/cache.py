"""The demo's disk cache: the scenario's store at `DEMO_START` and its future events, so
that a later start restores them instead of generating them again.

Safe to share: the events are kept as tagged JSON (data only; nothing in the file is
executed on load, unlike a pickle), every file is written under a name of its own and
moved into place, and a missing, partial or foreign cache is only a slower start.
Several orchwatch processes starting at once on an empty cache each build and write
their own copy; the last move wins, and every reader sees a whole file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from orchwatch.config import Config
from orchwatch.files import atomic_target
from orchwatch.model import (
    BackupRow,
    Condition,
    ConditionState,
    ExecutionLogRow,
    FailedQueueItem,
    Revision,
    RunStatus,
    TrafficStatus,
)
from orchwatch.sources.demo.events import (
    CrashWindow,
    Event,
    Queued,
    RevisionChanged,
    Run,
    ServiceChanged,
    Trigger,
)
from orchwatch.sources.local import LocalStore

_RECORDS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        Run,
        Trigger,
        Queued,
        CrashWindow,
        RevisionChanged,
        ServiceChanged,
        BackupRow,
        ExecutionLogRow,
        FailedQueueItem,
        Revision,
        Condition,
        TrafficStatus,
    )
}
"""The only types a cache file may name: anything else makes it foreign."""
_ENUMS: dict[str, type[Enum]] = {cls.__name__: cls for cls in (RunStatus, ConditionState)}


def encode(value: Any) -> Any:
    """`value` as JSON data, its types tagged."""
    if value is None or (isinstance(value, bool | int | float) and not isinstance(value, Enum)):
        return value
    if isinstance(value, Enum):
        return {"$enum": type(value).__name__, "value": value.value}
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    name = type(value).__name__
    if _RECORDS.get(name) is type(value):
        if isinstance(value, Run | BackupRow):  # the named tuples
            fields = value._asdict()
        else:
            assert dataclasses.is_dataclass(value) and not isinstance(value, type)
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"$record": name, "fields": {k: encode(v) for k, v in fields.items()}}
    if isinstance(value, tuple | list):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"the demo cache cannot keep a {name}")


def decode(data: Any) -> Any:
    """The value `encode` made `data` from.

    Raises:
        ValueError: `data` names a type the cache may not hold, or is malformed.
    """
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, dict) and len(data) in (1, 2):
        if "$datetime" in data:
            return datetime.fromisoformat(data["$datetime"])
        if "$date" in data:
            return date.fromisoformat(data["$date"])
        if "$enum" in data and data["$enum"] in _ENUMS:
            return _ENUMS[data["$enum"]](data["value"])
        if "$record" in data and data["$record"] in _RECORDS:
            fields = {str(k): decode(v) for k, v in dict(data["fields"]).items()}
            return _RECORDS[data["$record"]](**fields)
        if "$tuple" in data:
            return tuple(decode(v) for v in data["$tuple"])
        if "$dict" in data:
            return {decode(k): decode(v) for k, v in data["$dict"]}
    raise ValueError(f"not a demo cache value: {str(data)[:80]}")


def cache_paths(
    cache_dir: Path | None, config: Config, seed: int, key: object
) -> tuple[Path, Path] | None:
    """The store and events files for (config, seed), keyed also by the scenario's own
    code, so that a changed scenario never reads an old cache."""
    if cache_dir is None:
        return None
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for module in [*sorted(here.glob("*.py")), here.parent / "local.py"]:
        digest.update(module.read_bytes())
    digest.update(repr((seed, key)).encode())
    name = f"demo-{digest.hexdigest()[:16]}"
    return cache_dir / f"{name}.db", cache_dir / f"{name}.events.json"


def restore(store: LocalStore, cache: tuple[Path, Path]) -> list[Event] | None:
    """The future events, with the store restored; None when there is no usable cache."""
    database, events = cache
    try:
        future = decode(json.loads(events.read_text(encoding="utf-8")))
        if not isinstance(future, tuple):
            return None
        store.restore_from(database)
    except (OSError, ValueError, TypeError, KeyError, sqlite3.Error):
        return None  # a missing, partial or foreign cache: build afresh
    return list(future)


def save(store: LocalStore, future: Sequence[Event], cache: tuple[Path, Path]) -> None:
    """Keep the store and the future events, each written whole under its own name."""
    database, events = cache
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        store.backup_to(database)
        with atomic_target(events, replace=True) as tmp:
            tmp.write_text(json.dumps(encode(tuple(future))), encoding="utf-8")
    except (OSError, sqlite3.Error):  # a read-only or full cache dir only costs speed
        return
