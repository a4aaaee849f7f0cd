"""How states look: one glyph and one semantic colour each, so colour is never the only cue.

Colours are semantic names ("success", "error", "warning", "muted", "accent")
that the TUI maps to the current theme and the text output maps to ANSI.
"""

from __future__ import annotations

from typing import Final

from orchwatch.model import CellState

STATE_GLYPH: Final[dict[CellState, str]] = {
    CellState.COMPLETE: "✓",
    CellState.UNTRACKED: "◐",
    CellState.UNBACKED: "◑",
    CellState.FAILED: "✗",
    CellState.PARTIAL: "≈",
    CellState.MISSING: "○",
    CellState.NOT_DUE: "◷",
}

STATE_COLOUR: Final[dict[CellState, str]] = {
    CellState.COMPLETE: "success",
    CellState.UNTRACKED: "error",
    CellState.UNBACKED: "warning",
    CellState.FAILED: "error",
    CellState.PARTIAL: "warning",
    CellState.MISSING: "error",
    CellState.NOT_DUE: "muted",
}

STATE_MEANING: Final[dict[CellState, str]] = {
    CellState.COMPLETE: "complete in Firestore and BigQuery",
    CellState.UNTRACKED: "untracked: BigQuery has it, Firestore does not",
    CellState.UNBACKED: "unbacked: Firestore has it, BigQuery does not",
    CellState.FAILED: "failed: the latest run failed",
    CellState.PARTIAL: "partial: the latest run completed partially",
    CellState.MISSING: "missing: due, and no store has it",
    CellState.NOT_DUE: "not due yet (cadence or time of day)",
}
