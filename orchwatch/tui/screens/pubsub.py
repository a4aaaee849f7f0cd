"""The Pub/Sub hops of a date: each phase's completions published, delivered to its
orchestrator, refused, waiting or dropped; the hop under the cursor in full; `R` replays
its lost completions. Read again at the dashboard's refresh while open."""

from __future__ import annotations

from datetime import date, timedelta

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from orchwatch.analysis.pubsub import Hop, HopLevel, spark
from orchwatch.gather import PubSubView, gather_pubsub
from orchwatch.model import DateStatus
from orchwatch.pubsub import REFUSAL_CLASSES, SAMPLE_PERIOD
from orchwatch.sanitize import clip, inert_line, wrap_at_boundaries
from orchwatch.tui.context import context
from orchwatch.tui.failures import FailsInPlace
from orchwatch.tui.requests import ReplayRequested
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.footer import SteadyFooter
from orchwatch.tui.widgets.keys import ListTable

MARK = {
    HopLevel.FAIL: ("✗", "error"),
    HopLevel.WARN: ("!", "warning"),
    HopLevel.UNKNOWN: ("?", "muted"),
    HopLevel.OK: ("✓", "success"),
}
NARROW = 110
"""Below this width the counts' headers are abbreviated, so the verdict keeps room."""
SHORT = ("", "phase", "pub", "ack", "ref", "wait", "drop", "rec", "verdict")
COLUMNS = (
    "",
    "phase",
    "published",
    "acked",
    "refused",
    "waiting",
    "dropped",
    "recorded",
    "verdict",
)


class PubSubLoaded(Message):
    """A date's Pub/Sub hops were read."""

    def __init__(self, view: PubSubView) -> None:
        self.view = view
        super().__init__()


class PubSubScreen(FailsInPlace, Screen[None]):
    """One row per phase's hop; the details of the hop under the cursor below."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="pubsub.close"),
        Binding("R", "replay", "Replay", id="pubsub.replay"),
        Binding("p", "move(-1)", "Prev date", id="pubsub.previous"),
        Binding("n", "move(1)", "Next date", id="pubsub.next"),
        Binding("r", "reload", "Re-read", id="pubsub.reload"),
    ]

    def __init__(self, day: date) -> None:
        super().__init__()
        self.day = day
        self.view: PubSubView | None = None
        """The date's hops, once read."""

    def compose(self) -> ComposeResult:
        with Vertical(id="daily-body"):
            yield Static(id="pubsub-heading")
            yield ListTable(id="pubsub-table", cursor_type="row")
            yield Static(id="pubsub-detail")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.query_one("#pubsub-table", DataTable).focus()
        self.action_reload()
        # The backlog moves: read again while the view is open, at the dashboard's pace but
        # not sooner than Cloud Monitoring samples the counts (a read finds no new point
        # before then; each read is one call per metric, whatever the subscriptions).
        app = context(self)
        every = app.refresh_seconds
        if app.sources.kind == "gcp":
            every = max(every, SAMPLE_PERIOD.total_seconds())
        self.set_interval(every, lambda: self._read(self.day))

    def on_resize(self, event: Resize) -> None:
        self._show()

    @property
    def hops(self) -> list[Hop]:
        """The hops on show, in the table's order."""
        return list(self.view.hops.value or ()) if self.view is not None else []

    def action_reload(self) -> None:
        """Read the date's hops (off the UI thread)."""
        self.query_one("#daily-body").border_title = f"Pub/Sub · {self.day:%Y-%m-%d (%a)}"
        self.query_one("#pubsub-heading", Static).update(Text("reading…", style="dim"))
        self._read(self.day)

    @work(thread=True, exclusive=True, group="pubsub", exit_on_error=False)
    def _read(self, day: date) -> None:
        app = context(self)
        self.post_message(PubSubLoaded(gather_pubsub(app.config, app.sources, day)))

    def failed(self, group: str, reason: str) -> None:
        """The hops could not be read: said in place, with the key that retries."""
        self.view = None
        self.query_one("#pubsub-table", DataTable).clear(columns=True)
        self.query_one("#pubsub-detail", Static).update("")
        self._error(reason)

    def _error(self, reason: str) -> None:
        self.query_one("#pubsub-heading", Static).update(
            Text.assemble(
                (
                    inert_line(f"⚠ Pub/Sub could not be read: {reason}", 400),
                    semantic_style(self.app, "error", bold=True),
                ),
                ("   r: re-read", "dim"),
            )
        )

    @on(PubSubLoaded)
    def _loaded(self, message: PubSubLoaded) -> None:
        if message.view.game_date == self.day:
            self.view = message.view
            self._show()

    def _show(self) -> None:
        view = self.view
        if view is None:
            return
        if view.hops.value is None:
            self.query_one("#pubsub-table", DataTable).clear(columns=True)
            self._error(view.hops.error)
            return
        zone = context(self).config.shown_zone
        start, end = view.window or (view.now, view.now)
        read = f" (read {view.read_until.astimezone(zone):%H:%M:%S})" if view.read_until else ""
        heading = Text.assemble(
            f"{start.astimezone(zone):%Y-%m-%d %H:%M}–{end.astimezone(zone):%H:%M %Z}{read}: "
            "published → pushed to the orchestrator → recorded in Firestore",
            ("   R: replay the phase under the cursor · Enter: the hop whole", "dim"),
        )
        self.query_one("#pubsub-heading", Static).update(heading)
        table: DataTable[Text] = self.query_one("#pubsub-table", DataTable)
        row = table.cursor_row if table.row_count else self._worst()
        narrow = table.size.width < NARROW
        headers = SHORT if narrow else COLUMNS
        width = table.size.width - (46 if narrow else 72)
        status = view.status.value
        table.clear(columns=True)
        for key, column in zip(COLUMNS, headers, strict=True):
            table.add_column(column, key=key or "mark")
        for hop in self.hops:
            glyph, colour = MARK[hop.level]
            style = semantic_style(self.app, colour, bold=hop.level is HopLevel.FAIL)
            refused = sum(hop.refused.values())
            table.add_row(
                Text(glyph, style=style),
                Text(hop.phase),
                Text(_count(hop.published), justify="right"),
                Text(_count(hop.acked), justify="right"),
                Text(_count(refused if hop.published is not None else None), justify="right"),
                Text(_count(hop.backlog), justify="right"),
                Text(_count(hop.dropped), justify="right", style=style if hop.dropped else ""),
                Text(_recorded(status, hop.phase), justify="right"),
                Text(clip(inert_line(hop.verdict, 600), max(width, 8)), style=style),
            )
        if self.hops:
            table.move_cursor(row=min(max(row, 0), len(self.hops) - 1), animate=False)
        self._detail()

    def _worst(self) -> int:
        """The row of the first failing hop (else the first warning, else the first)."""
        for level in (HopLevel.FAIL, HopLevel.WARN):
            for row, hop in enumerate(self.hops):
                if hop.level is level:
                    return row
        return 0

    @on(DataTable.RowHighlighted, "#pubsub-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def cursor_hop(self) -> Hop | None:
        """The hop under the cursor."""
        row = self.query_one("#pubsub-table", DataTable).cursor_row
        hops = self.hops
        return hops[row] if 0 <= row < len(hops) else None

    def _detail(self) -> None:
        """The hop under the cursor in full: its verdict, its subscription's settings, the
        refusals by class, and what delivers the next phase's trigger."""
        hop = self.cursor_hop()
        detail = self.query_one("#pubsub-detail", Static)
        if hop is None:
            detail.update("")
            return
        width = max(detail.size.width - 2, 40)
        out: list[str] = []

        def say(line: str) -> None:  # wrapped at word and path boundaries, indented after
            parts = wrap_at_boundaries(inert_line(line, 2000), width)
            out.extend([parts[0], *(f"  {p}" for p in parts[1:])])

        for line in (f"{hop.phase}: {hop.topic} → {hop.orchestrator or '?'}", hop.verdict):
            say(line)
        for line in hop.details:
            say(line)
        if hop.refused:
            say(
                "refused by class: "
                + ", ".join(f"{REFUSAL_CLASSES.get(c, c)} {n}" for c, n in hop.refused.items())
            )
        if hop.buckets:
            zone = context(self).config.shown_zone
            first, last = hop.buckets[0].at, hop.buckets[-1].at
            say(
                f"over {first.astimezone(zone):%H:%M}–{last.astimezone(zone):%H:%M}, "
                "one column per step (each the most in it):"
            )
            columns = max(detail.size.width - 14, 20)
            for name, values in (
                ("published", [b.published for b in hop.buckets]),
                ("acked", [b.acked for b in hop.buckets]),
                ("refused", [b.refused for b in hop.buckets]),
                ("waiting", [b.backlog for b in hop.buckets]),
            ):  # a sparkline is never wrapped
                out.append(f"  {name:<9} {spark(values, columns)}│ max {max(values)}")
        if hop.others:
            say("other subscriptions: " + ", ".join(s.name for s in hop.others))
        if hop.trigger_topic:
            delivered = ", ".join(s.name for s in hop.trigger_subscriptions) or "nothing"
            say(f"{hop.trigger_topic} is delivered by {delivered}")
        detail.update(Text("\n".join(out)))

    def action_replay(self) -> None:
        """Replay the lost completions of the hop under the cursor (the app previews and
        asks first)."""
        hop = self.cursor_hop()
        if hop is None:
            self.notify("No hop is read yet.", markup=False)
            return
        self.post_message(ReplayRequested(hop.phase, self.day))

    def action_move(self, days: int) -> None:
        """The previous or next date's hops."""
        self.day += timedelta(days=days)
        self.action_reload()

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)

    @on(DataTable.RowSelected, "#pubsub-table")
    def _whole(self, event: DataTable.RowSelected) -> None:
        hop = self.cursor_hop()
        if hop is None:
            return
        self.notify(
            "\n".join(inert_line(line, 800) for line in (hop.verdict, *hop.details)),
            title=f"{hop.phase} · {hop.topic}",
            timeout=15,
            markup=False,
        )


def _recorded(status: DateStatus | None, phase: str) -> str:
    """Firestore's count of the phase (what the orchestrator recorded), `?` unread."""
    if status is None:
        return "?"
    try:
        found = status.phase(phase)
    except KeyError:
        return "?"
    return f"{found.firestore_count}/{found.expected}"


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"
