"""`/` on a list: a field under it that narrows the rows as you type (k9s, lazygit).

Enter keeps the filter and goes back to the list; Esc drops it, in the field or (once
kept) on the list. The list decides what a
row's text is; a row is kept when it contains every word typed, in any case.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input


def matches(words: str, texts: Iterable[str]) -> bool:
    """Whether the texts hold every word of `words` (case-insensitive); no words: all."""
    haystack = " ".join(texts).casefold()
    return all(word in haystack for word in words.casefold().split())


class ListFilter(Input):
    """A filter field, hidden until `open()`."""

    BINDINGS = [Binding("escape", "drop", "Clear filter", show=False)]

    DEFAULT_CSS = """
    ListFilter, ListFilter:focus { display: none; height: 1; border: none; padding: 0 1; }
    ListFilter.-open { display: block; }
    """

    class WordsChanged(Message):
        """The filter's words changed ("" when dropped)."""

        def __init__(self, words: str) -> None:
            self.words = words
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter: words to keep; Enter keeps, Esc clears", id=id)
        self.words = ""
        """The words applied."""
        self._list: Widget | None = None

    def open(self, filtered: Widget) -> None:
        """Show the field, with the words applied, and focus it; `filtered` (the list)
        gets the focus back when the field closes."""
        self._list = filtered
        self.add_class("-open")
        self.value = self.words
        self.focus()

    def _close(self) -> None:
        self.remove_class("-open")
        if self._list is not None:
            self._list.focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.value != self.words:
            self.words = event.value
            self.post_message(self.WordsChanged(self.words))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close()

    def drop_kept(self) -> bool:
        """Drop a kept filter without touching the focus (Esc on the list); returns
        whether there was one."""
        if not self.words:
            return False
        self.value = ""
        self.words = ""
        self.post_message(self.WordsChanged(""))
        return True

    def action_drop(self) -> None:
        """Clear the filter and go back to the list."""
        self.value = ""
        if self.words:
            self.words = ""
            self.post_message(self.WordsChanged(""))
        self._close()
