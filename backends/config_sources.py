"""The settings of the sources a kube context reads: Argo CD REST, the team bus, Prometheus,
Alertmanager, health endpoints, and the per-context table that overrides them.

Split from :mod:`backends.config` (which re-exports every name) so that one context's table
``[contexts."name"]`` can carry its own ``prometheus``, ``alertmanager``, ``argocd`` and
``endpoints`` (issue 18): pointed at a second cluster, the control room must not show the
first cluster's alerts as the second's. Validation is msgspec's; each ``__post_init__``
message names the key inside its table and msgspec appends the table's path.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec


class ArgoCDSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The Argo CD REST API (``[argocd]``), for platforms that give on-call engineers an
    Argo CD token but no write access to Applications through the Kubernetes API. Empty
    ``server``: rollbacks go through the Kubernetes API (the default)."""

    #: Base URL of the Argo CD API server, e.g. ``https://argocd.example.com``.
    server: str = ""
    #: Environment variable holding the bearer token (never the token itself in the file).
    token_env: str = "ARGOCD_AUTH_TOKEN"
    #: Skip TLS certificate verification (self-signed lab servers only).
    insecure: bool = False
    #: Send credentials to an ``http://`` Argo CD server anyway, with a warning
    #: at every start (off: they are withheld; see backends/cleartext.py).
    allow_http_credentials: bool = False


class MqttSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The MQTT team bus (``[mqtt]``): what this control room does is published for the team,
    and what the team's tools publish (alerts, pipeline phases, breakers) is shown here. Empty
    ``url``: the bus is off (the demo uses the drill's own broker when it has one)."""

    #: ``mqtt://host[:port]`` (default port 1883) or ``mqtts://host[:port]`` (TLS, 8883).
    url: str = ""
    #: First topic level of every message, e.g. ``controlroom/actions``.
    topic_prefix: str = "controlroom"
    username: str = ""
    #: Environment variable holding the password (never the password itself in the file).
    password_env: str = "CONTROLROOM_MQTT_PASSWORD"
    #: CA bundle for ``mqtts://`` (default: the system's trust store).
    ca_file: str = ""
    #: Client certificate and its key for ``mqtts://`` (both or neither).
    cert_file: str = ""
    key_file: str = ""
    #: Stable client id; empty: a unique one per run. A fixed id also keeps a broker session,
    #: so team messages sent while we were away are delivered on reconnect.
    client_id: str = ""
    #: How many of our messages wait while the broker is unreachable (oldest dropped beyond).
    outbox_limit: int = 1000
    #: Larger incoming payloads are rejected unread, in bytes.
    max_payload: int = 65536
    #: Send credentials to an ``mqtt://`` broker (the password) anyway, with a warning
    #: at every start (off: they are withheld; see backends/cleartext.py).
    allow_http_credentials: bool = False

    def __post_init__(self) -> None:
        # msgspec appends " - at `$.mqtt`"; each message names the key inside the table.
        url = self.url.strip()
        match = re.fullmatch(r"mqtts?://(\[[0-9a-fA-F:.]+\]|[^/:\s\[\]]+)(?::(\d{1,5}))?/?", url)
        if url and (match is None or int(match.group(2) or 1) > 65535):
            raise ValueError(f"url must look like mqtt://host:1883 or mqtts://host:8883,"
                             f" got {self.url!r}")
        if not self.topic_prefix or any(c in self.topic_prefix for c in "#+\0") \
                or self.topic_prefix.startswith("/") or self.topic_prefix.endswith("/"):
            raise ValueError("topic_prefix must be non-empty, without # + or a leading or"
                             f" trailing /, got {self.topic_prefix!r}")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together (set both or neither)")
        if (self.cert_file or self.ca_file) and url and not url.startswith("mqtts://"):
            raise ValueError("ca_file/cert_file need an mqtts:// url")
        if self.username and url.startswith("mqtt://") and not self.allow_http_credentials:
            raise ValueError("a username (and its password) would be sent in the clear to an"
                             " mqtt:// broker: use mqtts://, or set allow_http_credentials ="
                             " true to send it anyway")
        if not 1 <= self.outbox_limit <= 1_000_000:
            raise ValueError(f"outbox_limit must be 1 to 1000000, got {self.outbox_limit}")
        if not 256 <= self.max_payload <= 256 * 1024 * 1024:
            raise ValueError(f"max_payload must be 256 bytes to 256 MiB, got {self.max_payload}")

class PrometheusSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Prometheus as an alert source (``[prometheus]``): ``/api/v1/alerts`` and the health of
    its alerting rules. Empty ``url``: off (the demo uses the drill's own Prometheus)."""

    #: Base URL, e.g. ``http://prometheus.monitoring:9090``.
    url: str = ""
    #: Seconds between the end of one poll and the start of the next.
    interval: float = 5.0
    #: Seconds one request may take before the source counts as unreachable.
    timeout: float = 10.0
    #: Verify the server's TLS certificate (turn off for self-signed lab servers only).
    verify_tls: bool = True

    def __post_init__(self) -> None:
        _check_poller(self.url, self.interval, self.timeout)


class AlertmanagerSettings(PrometheusSettings, forbid_unknown_fields=True, kw_only=True):
    """Alertmanager (``[alertmanager]``): ``/api/v2/alerts`` (silenced, inhibited) and the
    silence action. Empty ``url``: off (the demo uses the drill's own Alertmanager)."""

    #: Default length of a silence made from the control room, in hours.
    silence_hours: float = 1.0

    def __post_init__(self) -> None:
        _check_poller(self.url, self.interval, self.timeout)
        if not 0 < self.silence_hours <= 24 * 14:
            raise ValueError(f"silence_hours must be more than 0 and at most 336 (two weeks),"
                             f" got {self.silence_hours}")


def _check_poller(url: str, interval: float, timeout: float) -> None:
    """Shared checks of the polled HTTP sources; msgspec appends the table's path."""
    if url and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url.strip()):
        raise ValueError(f"url must look like http://host:port or https://host, got {url!r}")
    if not 0.5 <= interval <= 3600:
        raise ValueError(f"interval must be 0.5 to 3600 seconds, got {interval}")
    if not 0.1 <= timeout <= 300:
        raise ValueError(f"timeout must be 0.1 to 300 seconds, got {timeout}")



class EndpointSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One health endpoint probed by the control room (``[[endpoints]]``), e.g. Argo CD
    ``/api/version``, Grafana ``/api/health`` or an application's ``/health``: the update
    strategy's "curl -f" checks, shown as a panel, kept in baselines and used by validation.

    Header values never appear in this file: ``headers`` maps a header name to the NAME of an
    environment variable whose value is sent (``Authorization = "GRAFANA_TOKEN_HEADER"``), so
    the file can be shared and committed without leaking a token.
    """

    #: Shown in the panel and the identity of the endpoint in baselines (unique).
    name: str
    #: ``http://`` or ``https://`` URL probed as is.
    url: str
    method: Literal["GET", "HEAD"] = "GET"
    #: Seconds the whole probe may take (connect, TLS, answer) before it counts as failed.
    timeout: float = 5.0
    #: Verify the server's TLS certificate (turn off for self-signed lab servers only).
    verify_tls: bool = True
    #: Header name -> name of the environment variable holding its value.
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    #: HTTP statuses that count as healthy; empty: any 2xx.
    expect_status: list[int] = msgspec.field(default_factory=list)
    #: Send credentials to an ``http://`` endpoint (the headers) anyway, with a warning
    #: at every start (off: they are withheld; see backends/cleartext.py).
    allow_http_credentials: bool = False

    def __post_init__(self) -> None:
        # msgspec appends " - at `$.endpoints[N]`"; each message names the key inside the entry.
        if not self.name.strip() or not self.name.isprintable() or len(self.name) > 100:
            raise ValueError(f"name must be non-empty printable text of at most 100"
                             f" characters, got {self.name!r}")
        authority = self.url.strip().split("://", 1)[-1].split("/", 1)[0]
        if "@" in authority:
            # Not echoed: the part before "@" is a credential.
            raise ValueError(f"url of endpoint {self.name!r} must not carry credentials"
                             " (user:password@); send them in a header read from an"
                             ' environment variable (headers = { Authorization = "VAR" })')
        if not re.fullmatch(r"https?://[^\s/?#]+(/\S*)?", self.url.strip()):
            raise ValueError(f"url of endpoint {self.name!r} must look like"
                             f" https://host/path, got {self.url!r}")
        if not 0.1 <= self.timeout <= 300:
            raise ValueError(f"timeout of endpoint {self.name!r} must be 0.1 to 300 seconds,"
                             f" got {self.timeout}")
        for header, env in self.headers.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", header):
                raise ValueError(f"headers of endpoint {self.name!r}: {header!r} is not a"
                                 " header name")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
                raise ValueError(f"headers of endpoint {self.name!r}: {header} must name an"
                                 " environment variable (the value is read from it, never"
                                 " written in this file)")
        if self.headers and self.url.strip().lower().startswith("http://") \
                and not self.allow_http_credentials:
            raise ValueError(f"headers of endpoint {self.name!r} (credentials, read from the"
                             " environment) would be sent in the clear to an http:// url: use"
                             " https://, or set allow_http_credentials = true to send them"
                             " anyway")
        if any(not 100 <= code <= 599 for code in self.expect_status):
            raise ValueError(f"expect_status of endpoint {self.name!r} must hold HTTP"
                             f" statuses (100 to 599), got {self.expect_status}")


class ContextSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Per kube-context overrides (``[contexts."<name>"]``)."""

    #: Refuse every write on this context (the write gate enforces it).
    read_only: bool | None = None
    #: Treat as production whatever its name: red banner, typed confirmation.
    production: bool | None = None
    #: Namespaces to watch on this context (default: all).
    namespaces: list[str] = msgspec.field(default_factory=list)
    #: Send credentials to this context's plain ``http://`` API server anyway, with a warning
    #: at every start (off: they are withheld; see backends/cleartext.py).
    allow_http_credentials: bool = False
    #: This context's own alert sources, Argo CD REST API and health endpoints
    #: (``[contexts."name".prometheus]`` ...). Unset: the global table applies. Each cluster
    #: has its own Prometheus; a global URL shared by two watched contexts would show one
    #: cluster's alerts as the other's, so set them here when watching several.
    prometheus: PrometheusSettings | None = None
    alertmanager: AlertmanagerSettings | None = None
    argocd: ArgoCDSettings | None = None
    endpoints: list[EndpointSettings] | None = None

    def __post_init__(self) -> None:
        names = [endpoint.name for endpoint in self.endpoints or []]
        if len(set(names)) != len(names):
            raise ValueError(f"endpoint names must be unique, got {names} - at `endpoints`")
