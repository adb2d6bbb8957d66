"""Reading a paged list ahead: the next page is requested before this one is decoded.

Split from :mod:`backends.kube.source` (the list-then-watch loop uses it in ``_list``): the
continue token is read from the head of a body (:func:`peek_continue`) so the server can
prepare page n+1 while page n is decoded; a page read ahead that will not be used is dropped
with its outcome ignored (:func:`drop_ahead`).
"""

from __future__ import annotations

import asyncio
import re

__all__ = ["SEND_AHEAD", "drop_ahead", "peek_continue"]


_CONTINUE = re.compile(rb'"continue"\s*:\s*"([A-Za-z0-9+/=_.:-]+)"')
SEND_AHEAD = 0.002
"""How long a list waits for the page requested ahead to go out before decoding the current
one (which blocks the loop). aiohttp with ``trust_env`` (kubernetes.aio's session) looks up
netrc and proxy settings in worker threads before it writes a request: a millisecond or so
of loop turns. The wait ends early if the page is already in; the loop is free meanwhile."""
_HEAD = 4096
"""How far into a list body :func:`peek_continue` looks for the metadata."""


def peek_continue(raw: bytes) -> str | None:
    """The continue token of a list body, read from its head without decoding the items.

    The API server writes ``metadata`` before ``items``; when this body does not (or the
    token is not plain base64-like text), None, and the caller simply does not read ahead.
    Only a hint: the full decode says what the token really is.
    """
    head = raw[:_HEAD]
    items = head.find(b'"items"')
    if items < 0:
        return None
    found = _CONTINUE.search(head, 0, items)
    return found.group(1).decode("ascii") if found else None


def drop_ahead(ahead: tuple[str, asyncio.Task[bytes]] | None) -> None:
    """Cancel a page requested ahead that will not be used (its outcome is ignored)."""
    if ahead is not None:
        task = ahead[1]
        task.cancel()
        task.add_done_callback(_ignore_outcome)


def _ignore_outcome(task: asyncio.Task[bytes]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
