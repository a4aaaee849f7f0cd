"""Make untrusted text inert for a terminal: no escape sequences, no control characters.

Log payloads are attacker-influenced (a request path, an exception message). Rich
strips a few control codes but passes ESC through, so `\\x1b]52;c;...\\x07` would
write the user's clipboard and `\\x1b[2J` would clear the screen. Every C0/C1
control character except newline becomes a visible stand-in, and so does every
bidirectional control and invisible character (`<U+202E>`); tabs become spaces.
Markup is never an issue where the text goes into `rich.text.Text` (never parsed).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TextIO

_C0_PICTURES = {code: chr(0x2400 + code) for code in range(0x20)}  # ␀ ... ␟
_C0_PICTURES[0x7F] = "␡"
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f"
    # Bidirectional controls (a right-to-left override makes `exe.txt` read `txt.exe`) and
    # invisible characters (zero-width, word joiner, byte order mark, line separators).
    "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
MAX_LINE = 4000
"""Longest line shown; Cloud Logging allows 256 KiB in one entry."""


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFF:
        return f"<U+{code:04X}>"
    return _C0_PICTURES.get(code) or f"\\x{code:02x}"


def inert(text: str) -> str:
    """Control characters shown as visible stand-ins (␛ for ESC); tabs as 4 spaces;
    newlines kept."""
    return _CONTROL.sub(_picture, text.replace("\t", "    "))


def inert_line(text: str, limit: int = MAX_LINE) -> str:
    """One display line: inert, newlines as ⏎, and at most `limit` characters."""
    line = inert(text).replace("\n", "⏎")
    if len(line) > limit:
        return f"{line[:limit]}… (+{len(line) - limit} chars)"
    return line


def clip(text: str, width: int) -> str:
    """One line of at most `width` characters, whitespace runs as one space, cut with `…`
    (a detail screen shows the rest). The text is assumed inert already."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


def clip_lines(text: str, width: int, lines: int) -> list[str]:
    """At most `lines` lines of at most `width` characters, wrapped at spaces and
    separators (`wrap_at_boundaries`), the last cut with `…` when the text is longer."""
    wrapped = wrap_at_boundaries(text, width)
    if len(wrapped) <= lines:
        return wrapped
    return [*wrapped[: lines - 1], clip(" ".join(wrapped[lines - 1 :]), width)]


def distinct_width(names: Sequence[str], least: int, most: int) -> int:
    """The narrowest width from `least` to `most` at which `clip` keeps `names` apart
    (`phase2-to-p…` and `phase3-to-p…` are still two services); `most` when none does."""
    unique = len(set(names))
    for width in range(least, most):
        if len({clip(name, width) for name in names}) == unique:
            return width
    return most


def decode(data: bytes) -> str:
    """Bytes from a log file as text; invalid UTF-8 becomes U+FFFD, never an error."""
    return data.decode("utf-8", errors="replace")


class InertWriter(io.TextIOBase):
    """A text stream that makes everything written to it inert before it reaches `stream`.

    The headless verbs write through one of these (stdout and stderr), so a file name, a
    config value, a path or a server's message can never reach the terminal as an escape
    sequence, whichever line of code printed it. JSON escapes control characters itself;
    text and markdown rely on this.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        """The stream written to (a progress bar that means its escape codes uses it)."""

    def write(self, text: str) -> int:
        """Write `text`, inert; returns its length as given."""
        self.stream.write(_CONTROL.sub(_picture, text))
        return len(text)

    def flush(self) -> None:
        """Flush the stream below."""
        self.stream.flush()

    def fileno(self) -> int:
        """The stream's file descriptor."""
        return self.stream.fileno()

    def isatty(self) -> bool:
        """Whether the stream is a terminal."""
        return self.stream.isatty()

    def writable(self) -> bool:
        """Always: this is an output stream."""
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The stream's encoding."""
        return getattr(self.stream, "encoding", "utf-8")


_BREAKS = ("/.", "-:,;=)]", "_")
"""Where a word too long for its line may be broken, best first: after a path or module
separator, then after other punctuation, an underscore last."""


def wrap_at_boundaries(text: str, width: int) -> list[str]:
    """`text` as lines of at most `width` characters, broken at spaces; a word longer
    than a line is broken after one of its separators (`/` `.` `-` `_` ...), so that no
    identifier is split mid-name; only a run with no separator that is itself longer
    than the line is cut at the width."""
    width = max(width, 1)
    pieces: list[tuple[str, bool]] = []
    """(text, whether it continues the word before it: joined with no space)."""
    for word in text.split():
        first = True
        while len(word) > width:
            cut = next(
                (
                    at + 1
                    for group in _BREAKS
                    if (at := max(word.rfind(c, 0, width) for c in group)) >= 0
                ),
                width,
            )
            pieces.append((word[:cut], not first))
            word, first = word[cut:], False
        pieces.append((word, not first))
    lines: list[str] = []
    line = ""
    for piece, continues in pieces:
        joined = (line + piece if continues else f"{line} {piece}") if line else piece
        if len(joined) <= width:
            line = joined
        else:
            if line:
                lines.append(line)
            line = piece
    if line:
        lines.append(line)
    return lines or [""]
