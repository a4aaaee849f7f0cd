"""Counts in words: "1 row", "2 rows" (a count line that says "1 rows" reads as a bug)."""

from __future__ import annotations

IRREGULAR = {"entry": "entries", "retry": "retries", "query": "queries", "is": "are"}


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, the noun plural unless the count is one."""
    return f"{count:,} {noun if count == 1 else plural or IRREGULAR.get(noun, noun + 's')}"
