"""What a list's cursor is on, as explain's keywords: each table that can be explained
says it itself, so the dashboard never decodes another widget's cursor keys."""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

Subject = tuple[dict[str, str], date]
"""Explain's keywords (phase, processor, service or group) and the date they are about."""


@runtime_checkable
class Explainable(Protocol):
    """A widget whose cursor names something explain can follow."""

    def subject(self, day: date) -> Subject | None:
        """What the cursor is on, for the selected date `day` (a widget of dates may name
        its own), or None when it is on nothing explain can follow."""
        ...
