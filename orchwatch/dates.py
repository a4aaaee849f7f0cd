"""Reading dates, instants and durations the way operators type them.

Every date, instant and duration a user gives goes through one of the parsers here, so
that one range holds for all of them: a value outside it is answered with what is
accepted (exit 2 in a verb), never with date arithmetic overflowing further on.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_RELATIVE = re.compile(r"^([+-]\d{1,4})d?$")

EARLIEST = date(1970, 1, 2)
LATEST = date(2099, 12, 31)
"""The dates orchwatch reads and judges. Cloud Run, Logging and the pipeline's data all
live well inside; outside it, `date + timedelta` overflows and nothing can be judged."""
MAX_WINDOW = timedelta(days=3650)
"""The longest look-back window: Cloud Logging keeps an entry at most 3,650 days."""
MAX_SECONDS = 86400.0
"""The longest deadline a verb takes (a day): past that, a cron job is not waiting for it."""

RANGE = f"from {EARLIEST.isoformat()} to {LATEST.isoformat()}"


def in_range(day: date, what: str) -> date:
    """`day` when it lies within [EARLIEST, LATEST].

    Raises:
        ValueError: `what` is out of range, with the range.
    """
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"{what} is out of range: expected a date {RANGE}")
    return day


def parse_date(text: str, today: date) -> date:
    """Parse `YYYY-MM-DD`, `today`, `yesterday`, `tomorrow` or an offset such as `-3` / `-3d`.

    Raises:
        ValueError: with a message saying what is accepted (and the range, when the date
            is outside it).
    """
    value = text.strip().lower()
    named = {"today": 0, "yesterday": -1, "tomorrow": 1}
    try:
        if value in named:
            day = today + timedelta(days=named[value])
        elif match := _RELATIVE.match(value):
            day = today + timedelta(days=int(match[1]))
        else:
            day = date.fromisoformat(value)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range: expected a date {RANGE}") from None
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date: use YYYY-MM-DD, today, yesterday, or an offset like -3"
        ) from None
    return in_range(day, repr(text))


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time (`2026-02-01T11:30`, `...Z`, `...+01:00`), aware; a time without a
    zone is UTC.

    Raises:
        ValueError: it is not a time, or lies outside the range.
    """
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r}: expected a time like 2026-02-01T11:30") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        in_range(moment.astimezone(UTC).date(), repr(text))
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC date
        raise ValueError(f"{text!r} is out of range: expected a time {RANGE}") from None
    return moment


_DURATION = re.compile(r"\s*(\d{1,12})\s*([smhd])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `1h`, `2d` as a timedelta, at most `MAX_WINDOW`.

    Raises:
        ValueError: with what is accepted.
    """
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r}: expected a number and a unit, like 90s, 30m, 1h or 2d")
    try:
        window = timedelta(**{_UNITS[match[2]]: int(match[1])})
    except OverflowError:
        window = MAX_WINDOW + timedelta(days=1)
    if window > MAX_WINDOW:
        raise ValueError(
            f"{text!r} is too long: at most {MAX_WINDOW.days}d (Cloud Logging keeps no older entry)"
        )
    return window


def parse_seconds(text: str) -> float:
    """A number of seconds from 0 to `MAX_SECONDS` (0: no deadline).

    Raises:
        ValueError: not a number, not finite, negative or too large.
    """
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{text!r}: expected a number of seconds") from None
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_SECONDS):
        raise ValueError(
            f"{text!r}: expected a number of seconds from 0 (no deadline) to {MAX_SECONDS:g}"
        )
    return seconds


def humanize_age(seconds: float) -> str:
    """A short age: `4 s`, `3 min`, `2 h`, `5 d`."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def date_range(end: date, days: int) -> list[date]:
    """The `days` dates ending with `end`, oldest first."""
    return [end - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def business_date(moment: datetime, zone: ZoneInfo) -> date:
    """The business date `moment` falls on in the pipeline's timezone."""
    return moment.astimezone(zone).date()
