"""Semantic colour names (see orchwatch.glyphs) resolved against the current theme."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import App

from orchwatch.glyphs import STATE_COLOUR, STATE_GLYPH
from orchwatch.model import CellState


def semantic_style(app: App[object], name: str, *, bold: bool = False) -> Style:
    """The Rich style for a semantic colour in the app's current theme."""
    theme = app.current_theme
    colour = {
        "success": theme.success,
        "error": theme.error,
        "warning": theme.warning,
        "accent": theme.accent,
        "primary": theme.primary,
    }.get(name)
    if colour is None:  # "muted" and anything unknown
        return Style(dim=True, bold=bold)
    return Style(color=colour, bold=bold)


def state_glyph(app: App[object], state: CellState) -> Text:
    """A state's glyph in its colour."""
    return Text(STATE_GLYPH[state], style=semantic_style(app, STATE_COLOUR[state], bold=True))


def same_look(a: Text | None, b: Text) -> bool:
    """Whether two cells look the same: text, base style and spans.

    `Text.__eq__` compares the text and the spans only, so a cell whose base style
    changed (underlined when the grid links to it, a colour when its state moved) would
    compare equal and an incremental update would skip it.
    """
    return a is not None and (a.plain, str(a.style), a.spans) == (b.plain, str(b.style), b.spans)
