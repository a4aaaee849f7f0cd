"""The tables that repaint by difference: rebuilt on a new shape, else only changed cells."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from orchwatch.tui.widgets.diff_table import DiffTable


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield DiffTable(id="t")


async def test_only_cells_that_look_different_are_updated() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        table = app.query_one(DiffTable)
        rebuilt: list[int] = []
        updated: list[tuple[str, str]] = []

        def cells(b: Text) -> dict[tuple[str, str], Text]:
            return {("r1", "a"): Text("1"), ("r1", "b"): b}

        def rebuild(content: dict[tuple[str, str], Text]) -> None:
            rebuilt.append(1)
            table.clear(columns=True)
            table.add_column("a", key="a")
            table.add_column("b", key="b")
            table.add_row(content[("r1", "a")], content[("r1", "b")], key="r1")

        original = table.update_cell
        table.update_cell = lambda r, c, v, **k: (updated.append((r, c)), original(r, c, v, **k))  # type: ignore[method-assign]
        first = cells(Text("x"))
        assert table.paint(("r1",), first, lambda: rebuild(first))
        same = cells(Text("x"))
        assert not table.paint(("r1",), same, lambda: rebuild(same))
        assert updated == []  # nothing changed, nothing repainted
        styled = cells(Text("x", style="bold"))  # same text, another look
        assert not table.paint(("r1",), styled, lambda: rebuild(styled))
        assert updated == [("r1", "b")]
        assert table.get_cell("r1", "b").style == "bold"
        assert table.paint(("r1", "r2"), first, lambda: rebuild(first))  # a new shape
        assert rebuilt == [1, 1]
        await pilot.pause()
