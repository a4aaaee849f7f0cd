"""The console script `orchwatch` (and `python -m orchwatch`): the collector tuned for
start-up (`orchwatch.startup`) before anything is imported, then the CLI."""

from __future__ import annotations


def run() -> None:
    """Start orchwatch."""
    from orchwatch.startup import tune

    tune()
    from orchwatch.cli import entry

    entry()
