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
from backends.config_sources import (
    AlertmanagerSettings,
    ArgoCDSettings,
    ContextSettings,
    EndpointSettings,
    MqttSettings,
    PrometheusSettings,
)
from backends.links import LinkSettings

__all__ = [
    "AlertmanagerSettings", "ArgoCDSettings", "ConfigError", "ContextSettings",
    "EndpointSettings", "MqttSettings", "PrometheusSettings", "RegressionKind", "Settings",
    "SignalSettings", "ValidateSettings", "default_path", "load", "parse", "parse_duration",
    "remember_theme",
]

APP_NAME = "controlroom"


class ConfigError(ValueError):
    """A configuration file that cannot be used, with the file and key named."""


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
    #: Contexts watched side by side when no ``--context`` is given, e.g.
    #: ``watch = ["staging", "prod"]``; empty: the kubeconfig's current context alone.
    watch: list[str] = msgspec.field(default_factory=list)
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
        if len(set(self.watch)) != len(self.watch) or any(not n.strip() for n in self.watch):
            raise ValueError(f"watch must list distinct, non-empty context names, got "
                             f"{self.watch} - at `$.watch`")
        if not 1 <= self.endpoints_interval <= 3600:
            raise ValueError(f"endpoints_interval must be 1 to 3600 seconds, got "
                             f"{self.endpoints_interval} - at `$.endpoints_interval`")

    def context(self, name: str) -> ContextSettings:
        return self.contexts.get(name) or ContextSettings()

    def for_context(self, name: str) -> Settings:
        """These settings as seen from context ``name``: its own Prometheus, Alertmanager,
        Argo CD and endpoints where its table sets them, the global ones elsewhere.

        Every consumer (pollers, baseline, validation, rollbacks) then reads the ordinary
        fields of the result, so no code path can pick the global source by mistake once
        the context is known. The result is resolved: a second call changes nothing.
        """
        own = self.contexts.get(name)
        if own is None:
            return self
        return msgspec.structs.replace(
            self,
            prometheus=own.prometheus or self.prometheus,
            alertmanager=own.alertmanager or self.alertmanager,
            argocd=own.argocd or self.argocd,
            endpoints=self.endpoints if own.endpoints is None else list(own.endpoints))

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
        raise ConfigError(f"{source}: {_name_context(text, str(exc))}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    except ValueError as exc:  # raised by __post_init__
        raise ConfigError(f"{source}: {exc}") from exc
    except RecursionError:  # tomllib recurses per nesting level
        raise ConfigError(f"{source}: nested too deeply to be a controlroom config") from None


def _name_context(text: str | bytes, message: str) -> str:
    """msgspec writes a dict key's path as ``$.contexts[...]``; with several contexts the
    reader must know WHICH table is wrong, so the first context whose table alone fails is
    named (``$.contexts."prod".prometheus``)."""
    if "$.contexts[...]" not in message:
        return message
    try:
        tables = msgspec.toml.decode(text).get("contexts", {})
    except (msgspec.DecodeError, AttributeError, RecursionError):
        return message
    for name, table in tables.items() if isinstance(tables, dict) else ():
        try:
            msgspec.convert(table, ContextSettings)
        except (msgspec.ValidationError, ValueError):
            quoted = msgspec.json.encode(str(name)).decode()
            return message.replace("$.contexts[...]", f"$.contexts.{quoted}")
    return message


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
