"""The garbage collector through start-up.

Start-up allocates hundreds of thousands of long-lived objects (modules, classes, the
demo's story, the first frame's widgets) and no cyclic garbage worth collecting, yet at
Python's default thresholds the collector runs through them again and again: 40 ms of
the first frame (0.51 s to 0.47 s, `make bench`). So the launcher raises the young
generation's threshold, and once the first frame is on screen (or a headless verb has
its modules), `settle()` puts the defaults back and freezes what start-up made into the
permanent generation, where later collections do not walk it.
"""

from __future__ import annotations

import gc

STARTUP_THRESHOLDS = (100_000, 50, 100)
_defaults: tuple[int, int, int] | None = None


def tune() -> None:
    """Raise the collector's thresholds for start-up (the launcher calls this first)."""
    global _defaults
    if _defaults is None:
        _defaults = gc.get_threshold()
        gc.set_threshold(*STARTUP_THRESHOLDS)


def settle() -> None:
    """Start-up is over: the defaults back, and what it made frozen. Idempotent, and a
    no-op when `tune` was never called (tests, a library import)."""
    global _defaults
    if _defaults is not None:
        gc.set_threshold(*_defaults)
        _defaults = None
        gc.freeze()
