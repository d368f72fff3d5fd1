"""A text field that keeps the order of a burst of keys (a paste, a fast typist over SSH).

Textual inserts a printable key in the field's own ``_on_key``, but an editing key (backspace, ctrl+u,
left…) bubbles up to the app, which then runs the field's binding: by then the printable keys typed after
it are already in, and ``abc⌫⌫k`` becomes ``ab``. This field runs its own bindings as the key arrives.
"""

from __future__ import annotations

from textual import events
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
