"""Who committed each revision of an app's history, and why: Argo CD's revision metadata.

``status.history`` says which revision was deployed when, not what it was. Argo CD's API
server knows (its repo-server reads the commit): ``GET /api/v1/applications/{name}/revisions/
{revision}/metadata`` answers ``{author, date, message, tags}``, what the Argo CD UI shows
beside each history entry. Where the REST API is configured (``[argocd] server`` and a token
in ``[argocd] token_env``), the app's detail shows author and message per entry; without it the
history still shows revision and time.

This only reads: it uses the same :class:`~backends.ops.argocd_rest.ArgoRestClient` (same
token handling, cleartext rules and body limits) but never its gate. Author and message are
untrusted text from Git: sanitized here, once; a message keeps its first line (the subject)
for the one-line history row.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import msgspec

from backends.config import ArgoCDSettings
from backends.kube.errors import KubeError
from backends.ops.argocd_rest import ArgoRestClient
from backends.sanitize import clean

__all__ = ["RevisionInfo", "fetch_history_metadata", "revision_metadata"]


class _MetadataIn(msgspec.Struct, gc=False):
    author: str = ""
    date: str = ""
    message: str = ""
    tags: list[str] | None = None


_DECODER = msgspec.json.Decoder(_MetadataIn)


@dataclass(frozen=True)
class RevisionInfo:
    """A commit as the history shows it: author, the message's subject, the commit date."""

    author: str = ""
    subject: str = ""
    date: float | None = None
    error: str = ""
    """Why the metadata could not be read ("" when it was)."""


def _epoch(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None
    except ValueError:
        return None


async def revision_metadata(client: ArgoRestClient, namespace: str, name: str,
                            revision: str) -> RevisionInfo:
    """One revision's metadata (raises :class:`KubeError` when it cannot be read)."""
    path = (f"/api/v1/applications/{quote(name, safe='')}/revisions/"
            f"{quote(revision, safe='')}/metadata")
    body = await client.get_raw(path, {"appNamespace": namespace or None})
    try:
        meta = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        return RevisionInfo(error=f"unreadable answer: {clean(exc, 200)}")
    subject = meta.message.strip().splitlines()[0] if meta.message.strip() else ""
    return RevisionInfo(author=clean(meta.author, 200), subject=clean(subject, 300),
                        date=_epoch(meta.date))


async def fetch_history_metadata(settings: ArgoCDSettings, namespace: str, name: str,
                                 revisions: Sequence[str]) -> dict[str, RevisionInfo]:
    """Metadata of each revision (one request each, in order), from the configured Argo CD
    API. A revision that fails gets a :class:`RevisionInfo` with ``error``; a client that
    cannot be built (no token) raises ``ValueError`` naming the variable."""
    token = os.environ.get(settings.token_env) or None
    try:
        client = ArgoRestClient(settings.server, token, verify_tls=not settings.insecure,
                                allow_http_credentials=settings.allow_http_credentials)
    except ValueError as exc:
        raise ValueError(f"{exc} (token from ${settings.token_env})") from exc
    out: dict[str, RevisionInfo] = {}
    async with client:
        for revision in dict.fromkeys(r for r in revisions if r):
            try:
                out[revision] = await revision_metadata(client, namespace, name, revision)
            except KubeError as exc:
                out[revision] = RevisionInfo(error=clean(str(exc), 300))
    return out
