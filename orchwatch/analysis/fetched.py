"""A source's answer, or why there is none: what every reader that may fail alone returns.

Its own module, so that the panes that hold one do not load the walkthrough's analysis
before the first frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """A source's answer, or why there is none."""

    value: T | None = None
    error: str = ""
