"""``:ctx NAME``: switch the panels to a watched context (issue 18), for the ``:`` command
line. Kept apart from that command line (another change) so it can be wired in with one call:
``ctx_command(app.fleet, "ctx prod")`` returns None when the text is not a ``ctx`` command,
else the message to show ("" when switched)."""

from __future__ import annotations

from tui.fleet import Fleet


def ctx_command(fleet: Fleet, text: str) -> str | None:
    words = text.strip().removeprefix(":").split()
    if not words or words[0] not in ("ctx", "context"):
        return None
    if len(words) != 2:
        return f"usage: ctx NAME (watched: {', '.join(fleet.names())})"
    return fleet.switch(words[1])
