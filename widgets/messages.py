"""Messages the panels post up to the App: past-tense domain events, never commands.

A panel only says what the engineer did on it ("this row was activated"); the App decides what
that means (open the detail view, plan an action). The ``kind`` is a store kind (``"pods"``,
``"httproutes"``...) and ``key`` the row key in that kind, so the App can read the object from the
store without knowing which panel it came from.
"""

from __future__ import annotations

import rich.repr
from textual.message import Message
from textual.widget import Widget

__all__ = ["PanelRowActivated", "PanelRowHighlighted"]


@rich.repr.auto
class PanelRowActivated(Message):
    """The engineer pressed Enter on (or clicked the selected) row of a panel."""

    def __init__(self, kind: str, key: str, *, panel: Widget | None = None) -> None:
        super().__init__()
        self.panel = panel
        """The panel the row belongs to."""
        self.kind = kind
        """Store kind of the row, e.g. ``"pods"``."""
        self.key = key
        """Store key of the row, e.g. ``"shop/checkout-7c9f-abcde"``."""

    def __rich_repr__(self) -> rich.repr.Result:
        yield "kind", self.kind
        yield "key", self.key

    @property
    def control(self) -> Widget | None:
        """The panel that posted the message."""
        return self.panel


@rich.repr.auto
class PanelRowHighlighted(Message):
    """The cursor of a panel moved to another row (e.g. to follow it in a detail pane).

    Snapshot-type: only the latest highlight matters, so a queued one is replaced.
    """

    def __init__(self, kind: str, key: str, *, panel: Widget | None = None) -> None:
        super().__init__()
        self.panel = panel
        """The panel whose cursor moved."""
        self.kind = kind
        """Store kind of the highlighted row."""
        self.key = key
        """Store key of the highlighted row."""

    def __rich_repr__(self) -> rich.repr.Result:
        yield "kind", self.kind
        yield "key", self.key

    @property
    def control(self) -> Widget | None:
        """The panel that posted the message."""
        return self.panel

    def can_replace(self, message: Message) -> bool:
        """A newer highlight from the same panel makes an older queued one pointless."""
        return isinstance(message, PanelRowHighlighted) and message.panel is self.panel
