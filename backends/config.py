"""The control room's configuration: one TOML file, validated into typed settings.

The file lives in the platformdirs config dir (``controlroom/config.toml``) unless ``--config``
names another. Validation is msgspec's (typed Structs that forbid unknown fields), so a typo or a
wrong type is refused at start-up with the file and the exact key, e.g.
``config.toml: Object contains unknown field `themee` - at `$```; the CLI exits non-zero.

Only the remembered theme is ever written back, by rewriting that one line, so comments and
layout of a hand-written file survive.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path

import msgspec
import platformdirs

from backends.ops.breaker_plan import BreakerConfig

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

    def __post_init__(self) -> None:
        url = self.url.strip()
        if url and not re.fullmatch(r"mqtts?://[^/:\s]+(:\d{1,5})?/?", url):
            raise ValueError(f"mqtt url must look like mqtt://host:1883 or mqtts://host:8883,"
                             f" got {self.url!r} - at `$.mqtt.url`")
        if not self.topic_prefix or any(c in self.topic_prefix for c in "#+\0") \
                or self.topic_prefix.startswith("/") or self.topic_prefix.endswith("/"):
            raise ValueError("mqtt topic_prefix must be non-empty, without # + or a leading or"
                             f" trailing /, got {self.topic_prefix!r} - at `$.mqtt.topic_prefix`")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("mqtt cert_file and key_file go together - at `$.mqtt`")
        if (self.cert_file or self.ca_file) and url and not url.startswith("mqtts://"):
            raise ValueError("mqtt ca_file/cert_file need an mqtts:// url - at `$.mqtt.url`")
        if not 1 <= self.outbox_limit <= 1_000_000:
            raise ValueError(f"mqtt outbox_limit must be 1 to 1000000, got {self.outbox_limit}"
                             " - at `$.mqtt.outbox_limit`")
        if not 256 <= self.max_payload <= 256 * 1024 * 1024:
            raise ValueError(f"mqtt max_payload must be 256 bytes to 256 MiB, got "
                             f"{self.max_payload} - at `$.mqtt.max_payload`")


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

    def __post_init__(self) -> None:
        if not 100 <= self.refresh_ms <= 200:
            raise ValueError(f"refresh_ms must be between 100 and 200, got {self.refresh_ms}"
                             " - at `$.refresh_ms`")

    def context(self, name: str) -> ContextSettings:
        return self.contexts.get(name) or ContextSettings()

    def is_production(self, context: str) -> bool:
        explicit = self.context(context).production
        if explicit is not None:
            return explicit
        for pattern in self.production_patterns:
            if ("*" in pattern or "?" in pattern) and fnmatch.fnmatch(context, pattern):
                return True
            if pattern and pattern in context:
                return True
        return False

    def is_read_only(self, context: str) -> bool:
        explicit = self.context(context).read_only
        return self.read_only if explicit is None else explicit


def default_path() -> Path:
    """Where the config file lives unless ``--config`` says otherwise."""
    env = os.environ.get("CONTROLROOM_CONFIG")
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


def load(path: Path | None = None) -> tuple[Settings, Path]:
    """Settings from ``path`` (or the default file); a missing default file means defaults."""
    explicit = path is not None
    path = path or default_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{path}: no such file") from None
        return Settings(), path
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
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
