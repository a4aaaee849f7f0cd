"""Detail of one grid cell: both stores' records side by side, or a phase's document."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from orchwatch.analysis.completion import trigger_verdict
from orchwatch.glyphs import STATE_COLOUR, STATE_GLYPH, STATE_MEANING
from orchwatch.model import CompletionCell, FailedQueueItem, PhaseStatus
from orchwatch.tui.styles import semantic_style


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "—"


def _text(value: object) -> Text:
    """Store values are data, never markup."""
    return Text("—" if value is None else str(value))


class CellDetailScreen(ModalScreen[None]):
    """Firestore and BigQuery records of one processor on one date."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close", id="detail.close")]

    def __init__(self, cell: CompletionCell, status: PhaseStatus, zone: ZoneInfo) -> None:
        super().__init__()
        self._cell = cell
        self._status = status
        self._zone = zone

    def compose(self) -> ComposeResult:
        cell, zone = self._cell, self._zone
        fs, bq = cell.firestore, cell.backup
        heading = Text.assemble(
            (
                STATE_GLYPH[cell.state],
                semantic_style(self.app, STATE_COLOUR[cell.state], bold=True),
            ),
            " ",
            (cell.processor, "bold"),
            f"  {cell.phase} · {self._status.game_date:%Y-%m-%d}  ",
            (STATE_MEANING[cell.state], semantic_style(self.app, STATE_COLOUR[cell.state])),
        )
        table = Table(expand=True, show_edge=False)
        table.add_column("field", style="dim", no_wrap=True)
        table.add_column("Firestore (latest)")
        table.add_column("BigQuery (latest run)")
        table.add_row(
            "completed_at",
            _when(fs.completed_at if fs else None, zone),
            _when(bq.last_completed_at if bq else None, zone),
        )
        table.add_row("status", _text(fs and fs.status), _text(bq and bq.last_status))
        table.add_row(
            "record_count", _text(fs and fs.record_count), _text(bq and bq.last_record_count)
        )
        table.add_row(
            "correlation_id", _text(fs and fs.correlation_id), _text(bq and bq.last_correlation_id)
        )
        table.add_row(
            "execution_id", _text(fs and fs.execution_id), _text(bq and bq.last_execution_id)
        )
        table.add_row("run count", _text("1" if fs else "0"), _text(bq.runs if bq else 0))
        table.add_row("successful runs", "", _text(bq.successes if bq else 0))
        table.add_row("first run", "", _when(bq.first_completed_at if bq else None, zone))
        with VerticalScroll(id="detail-body"):
            yield Static(heading)
            yield Static(Text(cell.reason))
            yield Static(table)
            yield Static(
                Text.assemble(
                    ("required" if cell.required else "optional", "bold"),
                    " · due after ",
                    _when(cell.due_at, zone),
                ),
            )
            yield Static(Text("Esc closes.", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#detail-body").border_title = "Completion detail"


class PhaseDetailScreen(ModalScreen[None]):
    """A phase's Firestore document metadata, its reconciliation and its failed-queue items."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close", id="detail.close")]

    def __init__(
        self,
        status: PhaseStatus,
        now: datetime,
        zone: ZoneInfo,
        queue: Sequence[FailedQueueItem] = (),
    ) -> None:
        super().__init__()
        self._status = status
        self._now = now
        self._zone = zone
        self._queue = queue

    def compose(self) -> ComposeResult:
        status, zone = self._status, self._zone
        doc = status.document
        alarm, verdict = trigger_verdict(status, self._now, zone)
        table = Table(expand=True, show_edge=False, show_header=False)
        table.add_column("field", style="dim", no_wrap=True)
        table.add_column("value")
        table.add_row(
            "document", f"{status.phase}_completion/{status.game_date:%Y-%m-%d}" if doc else "none"
        )
        table.add_row("Firestore", f"{status.firestore_count}/{status.expected} processors")
        table.add_row("BigQuery", f"{status.bigquery_count}/{status.expected} processors")
        table.add_row("untracked", ", ".join(status.untracked) or "—")
        table.add_row("unbacked", ", ".join(status.unbacked) or "—")
        table.add_row("required missing", ", ".join(status.required_missing) or "—")
        table.add_row("_triggered", _text(doc.triggered if doc else None))
        table.add_row("_triggered_at", _when(doc.triggered_at if doc else None, zone))
        table.add_row("_trigger_reason", _text(doc.trigger_reason if doc else None))
        table.add_row("_completed_count", _text(doc.completed_count if doc else None))
        table.add_row("_mode", _text(doc.mode if doc else None))
        table.add_row("_last_update", _when(doc.last_update if doc else None, zone))
        style = semantic_style(self.app, "error" if alarm else "success", bold=alarm)
        with VerticalScroll(id="detail-body"):
            yield Static(
                Text.assemble(
                    (status.phase, "bold"), f" {status.label} · {status.game_date:%Y-%m-%d}"
                )
            )
            yield Static(Text(verdict, style=style))
            yield Static(table)
            if self._queue:
                queue = Table(title="failed_processor_queue", title_justify="left", expand=True)
                for name in ("processor", "status", "retries", "error"):
                    queue.add_column(name)
                for item in self._queue:
                    queue.add_row(
                        _text(item.processor_name),
                        _text(item.status),
                        _text(item.retry_count),
                        _text(item.error_message),
                    )
                yield Static(queue)
            yield Static(Text("Esc closes.", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#detail-body").border_title = "Phase detail"
