"""Reading dates the way operators type them."""

from __future__ import annotations

import re
from datetime import date, timedelta

_RELATIVE = re.compile(r"^([+-]\d{1,4})d?$")


def parse_date(text: str, today: date) -> date:
    """Parse `YYYY-MM-DD`, `today`, `yesterday`, `tomorrow` or an offset such as `-3` / `-3d`.

    Raises:
        ValueError: with a message saying what is accepted.
    """
    value = text.strip().lower()
    named = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if value in named:
        return today + timedelta(days=named[value])
    if match := _RELATIVE.match(value):
        return today + timedelta(days=int(match[1]))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date: use YYYY-MM-DD, today, yesterday, or an offset like -3"
        ) from None


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
