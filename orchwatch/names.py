"""A name the user gave that matches nothing: said as such, with the nearest names.

`orchwatch explain --service phase3-to-phase4-orchestrater` once answered "Nothing
broken in what was read" and exit 0: a typo read as an all-clear. Every verb that takes a
name (`--service`, `--phase`, `--processor`, `--group`) checks it against what exists and
answers a name that matches nothing with `no_such` (exit 2 in a verb).
"""

from __future__ import annotations

from collections.abc import Iterable


class UnknownName(LookupError):
    """A name that matches nothing: the message says so, with the nearest names."""


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i]
        for j, right in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right))
            )
        previous = current
    return previous[-1]


def nearest(name: str, candidates: Iterable[str], most: int = 3) -> list[str]:
    """The candidates closest to `name`, if within a few edits of it (a third of its
    length, at least 2): those at the least distance, at most `most`."""
    limit = max(2, len(name) // 3)
    scored = sorted(
        (distance, candidate)
        for candidate in set(candidates)
        if (distance := edit_distance(name.lower(), candidate.lower())) <= limit
    )
    return [candidate for distance, candidate in scored[:most] if distance == scored[0][0]]


def no_such(kind: str, name: str, candidates: Iterable[str], where: str = "") -> str:
    """`no service 'x' in the logs read; did you mean 'y'; known: a, b, c`."""
    known = sorted(set(candidates))
    close = nearest(name, known)
    parts = [f"no {kind} {name!r}" + (f" {where}" if where else "")]
    if close:
        parts.append("did you mean " + " or ".join(repr(c) for c in close))
    if known:
        more = f" (+{len(known) - 20} more)" if len(known) > 20 else ""
        parts.append(f"known: {', '.join(known[:20])}{more}")
    else:
        parts.append(f"no {kind} is known")
    return "; ".join(parts)
