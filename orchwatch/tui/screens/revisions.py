"""A service's revision history, and one revision's conditions and differences."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from orchwatch.analysis.revisions import (
    MARKER_COLOUR,
    MARKER_GLYPH,
    RevisionRow,
    ServiceVerdict,
    age,
    revision_differences,
    short_name,
)
from orchwatch.model import ConditionState
from orchwatch.sanitize import clip
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.virtual_table import VirtualTable

HISTORY_COLUMNS = ("revision", "age", "created", "creator", "commit", "marker", "traffic", "reason")


def history_cells(
    row: RevisionRow, now: datetime, zone: ZoneInfo, app: App[object]
) -> tuple[Text, ...]:
    """One history row's cells; revision data is shown as text, never markup."""
    revision = row.revision
    style = semantic_style(
        app, MARKER_COLOUR[row.marker], bold=row.marker.value in ("failed", "stuck", "crashing")
    )
    return (
        Text(short_name(revision.name), style="bold"),
        Text(age(now - revision.create_time)),
        Text(revision.create_time.astimezone(zone).strftime("%Y-%m-%d %H:%M")),
        Text(revision.creator.split("@")[0]),
        Text((revision.commit or "—")[:10]),
        Text(f"{MARKER_GLYPH[row.marker]} {row.marker.value}", style=style),
        Text(f"{row.percent}%" if row.percent else ""),
        Text(clip(row.reason, 90), style=style, no_wrap=True),
    )


class RevisionHistoryScreen(Screen[None]):
    """Newest first: name, age and time, creator, commit, marker, traffic, reason.

    A full screen, not a modal: a drill-down, and the dashboard need not be composited
    under it on every frame."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="history.close")]

    def __init__(self, verdict: ServiceVerdict, now: datetime, zone: ZoneInfo) -> None:
        super().__init__()
        self.verdict = verdict
        self._now = now
        self._zone = zone

    def compose(self) -> ComposeResult:
        with Vertical(id="history-body"):
            yield Static(Text.assemble((self.verdict.service, "bold"), "  ", self.verdict.text))
            # times in the pipeline's zone, named once in the header
            zone = self._now.astimezone(self._zone).strftime("%Z")
            columns = [f"created ({zone})" if c == "created" else c for c in HISTORY_COLUMNS]
            yield VirtualTable(columns, id="history-table")
            yield Static(
                Text(
                    "Enter: conditions and differences from the serving revision · Esc closes",
                    style="dim",
                )
            )

    def on_mount(self) -> None:
        self.query_one("#history-body").border_title = f"Revisions · {self.verdict.service}"
        table = self.query_one("#history-table", VirtualTable)
        table.set_rows(
            [history_cells(row, self._now, self._zone, self.app) for row in self.verdict.rows]
        )
        table.focus()

    @on(VirtualTable.RowSelected, "#history-table")
    def _open(self, event: VirtualTable.RowSelected) -> None:
        row = self.verdict.rows[event.index]
        self.app.push_screen(RevisionDetailScreen(row, self.verdict, self._zone))


class RevisionDetailScreen(ModalScreen[None]):
    """A revision's conditions in full, and how it differs from the serving revision."""

    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close", id="revision.close")]

    def __init__(self, row: RevisionRow, verdict: ServiceVerdict, zone: ZoneInfo) -> None:
        super().__init__()
        self._row = row
        self._verdict = verdict
        self._zone = zone

    def compose(self) -> ComposeResult:
        revision = self._row.revision
        conditions = Table(title="Conditions", title_justify="left", expand=True)
        for name in ("type", "state", "reason", "message", "since"):
            conditions.add_column(name, overflow="fold")
        for condition in revision.conditions:
            colour = {"CONDITION_FAILED": "error", "CONDITION_SUCCEEDED": "success"}.get(
                condition.state.value, "warning"
            )
            conditions.add_row(
                Text(condition.type),
                Text(
                    condition.state.value.removeprefix("CONDITION_"),
                    style=semantic_style(self.app, colour),
                ),
                Text(condition.reason),
                Text(condition.message),
                Text(
                    condition.last_transition_time.astimezone(self._zone).strftime("%m-%d %H:%M")
                    if condition.last_transition_time
                    else "—"
                ),
            )
        serving = self._verdict.serving
        with VerticalScroll(id="detail-body"):
            yield Static(
                Text.assemble(
                    (
                        MARKER_GLYPH[self._row.marker] + " ",
                        semantic_style(self.app, MARKER_COLOUR[self._row.marker], bold=True),
                    ),
                    (revision.name, "bold"),
                    f"  {self._row.marker.value}",
                    f" · {self._row.percent}% traffic" if self._row.percent else "",
                )
            )
            yield Static(
                Text(
                    f"created {revision.create_time.astimezone(self._zone):%Y-%m-%d %H:%M %Z}"
                    f" by {revision.creator or '?'}"
                )
            )
            yield Static(Text(f"image {revision.image}"))
            yield Static(conditions)
            if serving is not None and serving.name != revision.name:
                differences = revision_differences(revision, serving)
                table = Table(
                    title=f"Differences from the serving revision {short_name(serving.name)}",
                    title_justify="left",
                    expand=True,
                )
                for name in ("field", "this revision", "serving"):
                    table.add_column(name, overflow="fold")
                for field_name, mine, theirs in differences:
                    table.add_row(Text(field_name), Text(mine), Text(theirs))
                if not differences:
                    table.add_row("—", "no differences in image, env or labels", "")
                yield Static(table)
            failed = any(c.state is ConditionState.FAILED for c in revision.conditions)
            if failed:
                yield Static(
                    Text(
                        "This revision never took traffic: "
                        "Cloud Run kept serving the previous one.",
                        style=semantic_style(self.app, "error"),
                    )
                )
            yield Static(Text("Esc closes.", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#detail-body").border_title = "Revision detail"
