"""Writing a file the user named: all of it or nothing, and never over anything but a file.

One writer for every output file (a snapshot today): it writes beside the target under a
temporary name, moves it into place only when complete, and removes it on any failure,
interrupt or deadline, so that no `.partial` is ever left behind; and it replaces only a
regular file, never a device, a folder, a link or a socket that happens to have the name.
"""

from __future__ import annotations

import os
import stat
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_PARTIAL: set[Path] = set()
_LOCK = threading.Lock()


class NotReplaceable(Exception):
    """The target exists and is not a regular file (or exists and may not be replaced)."""


def check_target(out: Path, *, replace: bool) -> None:
    """Whether `out` may be written: absent, or (with `replace`) a regular file.

    Raises:
        NotReplaceable: with what is in the way.
    """
    try:
        mode = os.lstat(out).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise NotReplaceable(f"{out}: is a folder; give the path of the file to write")
    if not stat.S_ISREG(mode):
        kind = (
            "a link"
            if stat.S_ISLNK(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file"
        )
        raise NotReplaceable(f"{out}: is {kind}; only a regular file is ever replaced")
    if not replace:
        raise NotReplaceable(f"{out} exists; pass --force to replace it")


@contextmanager
def atomic_target(out: Path, *, replace: bool) -> Iterator[Path]:
    """A temporary path beside `out` to write; moved onto `out` when the block ends
    normally, removed whatever else happens.

    Raises:
        NotReplaceable: `out` became something that may not be replaced meanwhile.
    """
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    with _LOCK:
        _PARTIAL.add(tmp)
    try:
        yield tmp
        check_target(out, replace=replace)
        os.replace(tmp, out)
    finally:
        with _LOCK:
            _PARTIAL.discard(tmp)
        tmp.unlink(missing_ok=True)


def remove_partials() -> None:
    """Remove every file this process is writing (before an exit that skips `finally`)."""
    with _LOCK:
        for tmp in _PARTIAL:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                continue
