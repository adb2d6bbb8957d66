"""Credentials never travel in the clear unless someone said they may (issue 14, point 13).

A bearer token, a basic-auth password, an exec plugin's token or a header read from the
environment sent to an ``http://`` server can be read by anyone on the path, and replayed
against the real (TLS) endpoint of the same cluster or tool. kubectl sends no bearer token to a
plain-``http://`` API server; neither do we. The rule is one function for every place that
holds a credential (the Kubernetes connection, the Argo CD REST client, health endpoints with
headers, the MQTT bus with a password): :func:`decide` answers whether the credential goes out,
and what to tell the engineer either way.

How to allow it, on purpose (a lab server behind a trusted tunnel, say):

- in the kubeconfig, on the cluster entry (kubectl ignores extensions it does not know)::

      clusters:
      - name: lab
        cluster:
          server: http://10.0.0.5:8080
          extensions:
          - name: controlroom.io/allow-http-credentials
            extension: {allow: true}

- or in the config: ``[contexts."lab"] allow_http_credentials = true`` for a context, and
  ``allow_http_credentials = true`` in ``[argocd]``, an ``[[endpoints]]`` entry or ``[mqtt]``.

When allowed, the credential is sent and a warning says so every time the tool starts; when
withheld, a warning says that too, so a 401 that follows is not a mystery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from backends.sanitize import clean

if TYPE_CHECKING:
    from backends.config import Settings

__all__ = ["ALLOW_EXTENSION", "Cleartext", "config_warnings", "decide", "extension_allows",
           "is_cleartext"]

ALLOW_EXTENSION: Final = "controlroom.io/allow-http-credentials"
"""Name of the kubeconfig cluster extension that allows credentials over plain http."""

_CLEARTEXT_SCHEMES: Final = frozenset({"http", "mqtt", "ws"})


def is_cleartext(url: str) -> bool:
    """True for a URL whose scheme carries no TLS (``http://``, ``mqtt://``, ``ws://``)."""
    return urlsplit(url.strip()).scheme.lower() in _CLEARTEXT_SCHEMES


def extension_allows(cluster: Mapping[str, Any]) -> bool:
    """Whether a kubeconfig cluster entry carries the allow extension with ``allow: true``.

    ``extension: true`` is accepted as well; anything else (absent, false, malformed) does
    not allow: the safe answer for a file written by someone else.
    """
    extensions = cluster.get("extensions")
    if not isinstance(extensions, list):
        return False
    for entry in extensions:
        if not isinstance(entry, Mapping) or entry.get("name") != ALLOW_EXTENSION:
            continue
        value = entry.get("extension")
        if value is True or (isinstance(value, Mapping) and value.get("allow") is True):
            return True
    return False


@dataclass(frozen=True)
class Cleartext:
    """The decision for one credential and one server."""

    send: bool
    """Whether the credential goes out."""
    warning: str
    """What to tell the engineer ("" when there is nothing to say: TLS, or no credential)."""


def decide(what: str, url: str, *, has_credential: bool, allowed_by: str = "") -> Cleartext:
    """Whether ``what`` (e.g. "the kubeconfig's token") may be sent to ``url``.

    ``allowed_by`` names the explicit allowance when there is one (e.g. "the kubeconfig's
    cluster extension"); empty: none. Over TLS, or with no credential, the answer is to send
    and say nothing.
    """
    if not has_credential or not is_cleartext(url):
        return Cleartext(send=True, warning="")
    where, what = clean(url, 200), clean(what, 200)
    if allowed_by:
        return Cleartext(send=True, warning=(
            f"sending {what} in the clear to {where} (plain {urlsplit(url).scheme}://, "
            f"allowed by {allowed_by})"))
    return Cleartext(send=False, warning=(
        f"not sending {what} to {where}: plain {urlsplit(url).scheme}:// would show them "
        f"to anyone on the path (use TLS, or allow it explicitly: {ALLOW_EXTENSION} in the "
        f"kubeconfig cluster, or allow_http_credentials = true in the config)"))


def config_warnings(settings: Settings) -> list[str]:
    """One line per credential the config sends in the clear because it says so
    (``allow_http_credentials``): said at every start, by the CLI and the App alike. The
    Kubernetes connection says its own (``KubeConnection.warnings``)."""
    found: list[str] = []
    argocd, mqtt = settings.argocd, settings.mqtt
    if argocd.allow_http_credentials and is_cleartext(argocd.server):
        found.append(f"sending the Argo CD token in the clear to {argocd.server}"
                     " ([argocd] allow_http_credentials)")
    if mqtt.allow_http_credentials and mqtt.username and is_cleartext(mqtt.url):
        found.append(f"sending the MQTT password in the clear to {mqtt.url}"
                     " ([mqtt] allow_http_credentials)")
    found.extend(f"sending the headers of endpoint {e.name!r} in the clear to {e.url}"
                 " (allow_http_credentials)" for e in settings.endpoints
                 if e.allow_http_credentials and e.headers and is_cleartext(e.url))
    return [clean(line, 500) for line in found]
