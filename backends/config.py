"""The control room's configuration: one TOML file, validated into typed settings.

The file lives in the platformdirs config dir (``controlroom/config.toml``) unless ``--config``
names another. Validation is msgspec's (typed Structs that forbid unknown fields), so a typo or a
wrong type is refused at start-up with the file and the exact key, e.g.
``config.toml: Object contains unknown field `themee` - at `$```; the CLI exits non-zero.

Only the remembered theme is ever written back, by rewriting that one line, so comments and
layout of a hand-written file survive.

Over 500 lines because it is the one schema of the one file: each table's fields and their
validation side by side, so a key's meaning and its rules are read in one place (the links
table, a module of its own, is the example of a section that grew a job: filling URLs).
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import platformdirs

from backends.breaker_scope import BreakerConfig
from backends.links import LinkSettings

APP_NAME = "controlroom"


class ConfigError(ValueError):
    """A configuration file that cannot be used, with the file and key named."""


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


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0,
                   "w": 7 * 86400.0, "y": 365 * 86400.0}


def parse_duration(text: str) -> float:
    """Seconds of a Prometheus duration (``30s``, ``15m``, ``1h30m``); ValueError if not one."""
    text = text.strip()
    if not text or _DURATION.sub("", text):
        raise ValueError(f"{text!r} is not a duration like 30s, 15m or 1h30m")
    return sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION.findall(text))


class SignalSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One PromQL key signal (``[[signals]]``), drawn as a sparkline per Argo CD app.

    The query must return one series per app: group it by ``label``, whose value is matched
    with the Argo CD Application's name (else its destination namespace). Thresholds: higher
    is worse, unless ``crit`` is below ``warn`` (an availability, where lower is worse).
    """

    #: Column title and identity of the signal, e.g. ``error ratio`` (no ``/``).
    name: str
    #: A PromQL expression evaluated over ``range`` every ``step``.
    query: str
    #: The label naming the app in each returned series.
    label: str = "part_of"
    #: How values are shown: ``percent`` (0.05 is 5%), ``seconds`` or a plain ``number``.
    unit: Literal["percent", "seconds", "number"] = "number"
    warn: float | None = None
    crit: float | None = None
    #: How far back the sparkline reaches, and the distance of its points (PromQL durations).
    range: str = "15m"
    step: str = "1m"

    def __post_init__(self) -> None:
        # msgspec appends " - at `$.signals[N]`"; each message names the key inside the entry.
        if not self.name.strip() or "/" in self.name or not self.name.isprintable():
            raise ValueError(f"name must be non-empty printable text without '/', got "
                             f"{self.name!r}")
        if not self.query.strip():
            raise ValueError(f"query of signal {self.name!r} is empty")
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", self.label):
            raise ValueError(f"label must be a Prometheus label name, got {self.label!r}")
        for key, value in (("warn", self.warn), ("crit", self.crit)):
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{key} must be a finite number, got {value}")
        try:
            span, step = self.range_seconds, self.step_seconds
        except ValueError as exc:
            raise ValueError(f"range/step of signal {self.name!r}: {exc}") from None
        if step < 1 or span < step:
            raise ValueError(f"step must be at least 1s and at most range, got step "
                             f"{self.step!r}, range {self.range!r}")
        if span / step > 1000:
            raise ValueError(f"range / step must be at most 1000 points, got "
                             f"{span / step:.0f} ({self.range!r} / {self.step!r})")

    @property
    def range_seconds(self) -> float:
        return parse_duration(self.range)

    @property
    def step_seconds(self) -> float:
        return parse_duration(self.step)


def _default_signals() -> list[SignalSettings]:
    """Error ratio and p99 latency per app, as the drill cluster's exporter labels them."""
    return [
        SignalSettings(
            name="error ratio", unit="percent", warn=0.01, crit=0.05,
            query='sum by (part_of) (rate(http_requests_total{code=~"5.."}[2m]))'
                  ' / sum by (part_of) (rate(http_requests_total[2m]))'),
        SignalSettings(
            name="p99 latency", unit="seconds", warn=0.25, crit=1.0,
            query="histogram_quantile(0.99, sum by (part_of, le)"
                  " (rate(http_request_duration_seconds_bucket[2m])))"),
    ]

RegressionKind = Literal["nodes", "workloads", "pods", "restarts", "apps", "traffic", "alerts",
                         "endpoints", "signals", "events"]
"""The kinds of :mod:`backends.baseline.diff` items (a test keeps both lists equal)."""


class ValidateSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Post-update validation rules (``[validate]``), see :mod:`backends.baseline.validate`."""

    #: Namespaces whose pods must all be Running and ready (the update strategy's list).
    critical_namespaces: list[str] = msgspec.field(
        default_factory=lambda: ["argocd", "monitoring"])
    #: How much a workload's total restarts may rise over the baseline.
    max_restarts_increase: int = 0
    #: Alert names that never fail validation (the always-firing Watchdog and friends).
    allow_alerts: list[str] = msgspec.field(
        default_factory=lambda: ["Watchdog", "InfoInhibitor"])
    #: Firing alerts of these severities fail validation even without a baseline.
    fail_alert_severities: list[str] = msgspec.field(default_factory=lambda: ["critical"])
    #: Every Argo CD app must be Synced (off by default: a rollback leaves apps OutOfSync).
    require_synced_apps: bool = False
    #: Every Argo CD app must be Healthy.
    require_healthy_apps: bool = True
    #: Every Deployment must have all desired replicas ready.
    require_ready_workloads: bool = True
    #: Key signals in these states fail validation.
    fail_signal_status: list[Literal["warn", "crit"]] = msgspec.field(
        default_factory=lambda: ["crit"])
    #: Diff kinds where anything worse than the baseline fails validation ("restarts" uses
    #: ``max_restarts_increase``; "events" is informative and off by default).
    regressions: list[RegressionKind] = msgspec.field(default_factory=lambda: [
        "nodes", "workloads", "pods", "restarts", "apps", "traffic", "alerts", "endpoints",
        "signals"])

    def __post_init__(self) -> None:
        if self.max_restarts_increase < 0:
            raise ValueError(f"max_restarts_increase must be 0 or more, got "
                             f"{self.max_restarts_increase}")
        if any(not ns.strip() for ns in self.critical_namespaces):
            raise ValueError("critical_namespaces must not contain empty names")


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


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole settings tree; every field has a working default."""

    #: Theme name (``t`` cycles through the built-in themes and remembers the choice here).
    theme: str = "controlroom-dark"
    #: Context names matching any of these (substring, or a glob with ``*``) are production.
    production_patterns: list[str] = msgspec.field(default_factory=lambda: ["prod"])
    #: Refuse every write on every context unless a context says otherwise.
    read_only: bool = False
    #: How often the screen takes changes from the store, in milliseconds (100 to 200).
    refresh_ms: int = 150
    #: One panel at a time below ``compact_width`` columns or ``compact_height`` rows
    #: (tui/layout.py); 0: no limit.
    compact_width: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 100
    compact_height: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 30
    #: Binding id -> keys, e.g. ``quit = "q,ctrl+q"`` (see the help screen for ids).
    keys: dict[str, str] = msgspec.field(default_factory=dict)
    contexts: dict[str, ContextSettings] = msgspec.field(default_factory=dict)
    #: Circuit breaker scope (``[breaker]``): apps to freeze, deployments to scale down,
    #: routes and their emergency weights. Absent: proposed from the live state.
    breaker: BreakerConfig | None = None
    #: Argo CD REST API for rollbacks (``[argocd]``); unset: the Kubernetes API is used.
    argocd: ArgoCDSettings = msgspec.field(default_factory=ArgoCDSettings)
    #: The MQTT team bus (``[mqtt]``); empty url: off.
    mqtt: MqttSettings = msgspec.field(default_factory=MqttSettings)
    #: Prometheus alerts and rule health (``[prometheus]``); empty url: off.
    prometheus: PrometheusSettings = msgspec.field(default_factory=PrometheusSettings)
    #: Alertmanager alerts and silences (``[alertmanager]``); empty url: off.
    alertmanager: AlertmanagerSettings = msgspec.field(default_factory=AlertmanagerSettings)
    #: PromQL key signals drawn per app in the Argo CD panel (``[[signals]]``; needs
    #: ``[prometheus] url``, or the drill's Prometheus). An empty list turns them off.
    signals: list[SignalSettings] = msgspec.field(default_factory=_default_signals)
    #: Seconds between the end of one signals poll and the start of the next.
    signals_interval: float = 15.0
    #: Health endpoints probed without overlap every ``endpoints_interval`` seconds
    #: (``[[endpoints]]``); empty: none (the demo probes the drill's own endpoints).
    endpoints: list[EndpointSettings] = msgspec.field(default_factory=list)
    endpoints_interval: float = 10.0
    #: The pipeline environment (as published on the team bus) that is the staging of this
    #: platform, e.g. ``staging``: the runbook's "Staging healthy" then ticks itself from its
    #: latest pipeline events. Empty: the operator ticks it.
    staging_environment: str = ""
    #: Post-update validation rules (``[validate]``).
    validate: ValidateSettings = msgspec.field(default_factory=ValidateSettings)
    #: Links out per kind of row (``[[links.pods]]``...; ``o`` shows and copies them).
    links: LinkSettings = msgspec.field(default_factory=LinkSettings)

    def __post_init__(self) -> None:
        if not 100 <= self.refresh_ms <= 200:
            raise ValueError(f"refresh_ms must be between 100 and 200, got {self.refresh_ms}"
                             " - at `$.refresh_ms`")
        if not 1 <= self.signals_interval <= 3600:
            raise ValueError(f"signals_interval must be 1 to 3600 seconds, got "
                             f"{self.signals_interval} - at `$.signals_interval`")
        names = [signal.name for signal in self.signals]
        if len(set(names)) != len(names):
            raise ValueError(f"signal names must be unique, got {names} - at `$.signals`")
        endpoint_names = [endpoint.name for endpoint in self.endpoints]
        if len(set(endpoint_names)) != len(endpoint_names):
            raise ValueError(f"endpoint names must be unique, got {endpoint_names}"
                             " - at `$.endpoints`")
        if not 1 <= self.endpoints_interval <= 3600:
            raise ValueError(f"endpoints_interval must be 1 to 3600 seconds, got "
                             f"{self.endpoints_interval} - at `$.endpoints_interval`")

    def context(self, name: str) -> ContextSettings:
        return self.contexts.get(name) or ContextSettings()

    def is_production(self, context: str) -> bool:
        explicit = self.context(context).production
        if explicit is not None:
            return explicit
        # Folded on both sides: AKS context and cluster names are often upper-case
        # (``AKS-PROD-WEU``), and a protection that a capital letter switches off protects
        # nothing. fnmatchcase, since fnmatch folds only on case-insensitive file systems.
        folded = context.casefold()
        for pattern in self.production_patterns:
            wanted = pattern.casefold()
            if ("*" in wanted or "?" in wanted) and fnmatch.fnmatchcase(folded, wanted):
                return True
            if wanted and wanted in folded:
                return True
        return False

    def is_read_only(self, context: str) -> bool:
        explicit = self.context(context).read_only
        return self.read_only if explicit is None else explicit


CONFIG_ENV = "CONTROLROOM_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024
"""A config is a few KiB; anything this large is the wrong file."""


def default_path() -> Path:
    """Where the config file lives unless ``--config`` says otherwise."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def parse(text: str | bytes, source: str = "config") -> Settings:
    """Validate TOML text into Settings; ConfigError names the source and the bad key."""
    try:
        return msgspec.toml.decode(text, type=Settings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    except ValueError as exc:  # raised by __post_init__
        raise ConfigError(f"{source}: {exc}") from exc
    except RecursionError:  # tomllib recurses per nesting level
        raise ConfigError(f"{source}: nested too deeply to be a controlroom config") from None


def load(path: Path | None = None) -> tuple[Settings, Path]:
    """Settings from ``path`` (or the default file); a missing default file means defaults."""
    # A file somebody named (``--config`` or ``$CONTROLROOM_CONFIG``) that is not there is an
    # error: falling back to defaults would silently drop ``read_only = true`` on a typo.
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
    path = path or default_path()
    try:
        info = path.stat()
        # stat first: opening a FIFO blocks until a writer comes, and /dev/zero never ends.
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{path}: no such file") from None
        return Settings(), path
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a "
                          "controlroom config")
    return parse(data, str(path)), path


_THEME_LINE = re.compile(r'^\s*theme\s*=')


def remember_theme(path: Path, theme: str) -> None:
    """Write the chosen theme into the config file, keeping everything else as it was."""
    line = f'theme = "{theme}"\n'
    try:
        lines = path.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        lines = []
    # Only a top-level ``theme =`` counts: the top level ends at the first table header.
    top = next((i for i, text in enumerate(lines) if text.lstrip().startswith("[")), len(lines))
    for i in range(top):
        if _THEME_LINE.match(lines[i]):
            lines[i] = line
            break
    else:
        lines.insert(0, line)
    new = "".join(lines)
    parse(new, str(path))  # never write a file we could not read back
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, path)
