"""A text field that keeps the order of a burst of keys (a paste, a fast typist over SSH).

Textual inserts a printable key in the field's own ``_on_key``, but an editing key (backspace, ctrl+u,
left…) bubbles up to the app, which then runs the field's binding: by then the printable keys typed after
it are already in, and ``abc⌫⌫k`` becomes ``ab``. This field runs its own bindings as the key arrives.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import Input


class Field(Input):
    """An ``Input`` whose editing keys take effect in the order typed."""

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, ()):
                if await self.app.run_action(binding.action, self):  # True: handled
                    event.stop()
                    event.prevent_default()
                    return
        await super()._on_key(event)


class HistoryField(Field):
    """A ``Field`` whose ↑/↓ walk earlier entries (newest first), as a shell does; ↓ past the newest gives
    back what was being typed. The owner fills ``history`` (oldest first) and adds to it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Earlier", show=False, id="field.history_back"),
        Binding("down", "history(1)", "Later", show=False, id="field.history_forward"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[str] = []
        self._place: int | None = None  # index into history while walking it; None: the draft
        self._draft = ""

    def action_history(self, step: int) -> None:
        """Show the entry ``step`` away (-1: earlier, 1: later)."""
        if not self.history:
            return
        if self._place is None:
            if step > 0:
                return
            self._draft, place = self.value, len(self.history) - 1
        else:
            place = self._place + step
        if place < 0:
            return
        if place >= len(self.history):
            self._place, value = None, self._draft
        else:
            self._place, value = place, self.history[place]
        self.value = value
        self.cursor_position = len(value)

    def _on_blur(self, event: events.Blur) -> None:
        self._place = None  # the next ↑ starts again from the newest
        super()._on_blur(event)

    def stop_walking(self) -> None:
        """Forget the place in the history (after an entry is used or the field is left)."""
        self._place = None
