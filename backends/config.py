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
