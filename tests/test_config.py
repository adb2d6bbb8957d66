"""Configuration: validated with errors that name the file and key; theme remembered in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.config import ConfigError, Settings, load, parse, remember_theme


def test_defaults_when_the_default_file_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTROLROOM_CONFIG", str(tmp_path / "none.toml"))
    settings, path = load()
    assert settings == Settings() and path == tmp_path / "none.toml"


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.toml")


@pytest.mark.parametrize(("text", "needle"), [
    ("themee = 'x'", "unknown field `themee`"),
    ("theme = 1", "$.theme"),
    ("refresh_ms = 20", "$.refresh_ms"),
    ("[contexts.prod]\nreadonly = true", "unknown field `readonly`"),
    ("[keys]\nquit = 3", "$.keys"),
    ("theme = [", "not valid TOML"),
])
def test_bad_config_names_the_problem(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text, "my.toml")
    assert str(info.value).startswith("my.toml: ") and needle in str(info.value)


def test_production_and_read_only_resolution() -> None:
    s = parse('production_patterns = ["prod", "aks-*-weu"]\nread_only = false\n'
              '[contexts."aks-dev-weu"]\nproduction = false\nread_only = true\n')
    assert s.is_production("aks-prod-neu")
    assert s.is_production("aks-stage-weu")
    assert not s.is_production("aks-dev-weu")  # explicit per-context wins
    assert not s.is_production("drill")
    assert s.is_read_only("aks-dev-weu") and not s.is_read_only("drill")


def test_remember_theme_keeps_comments_and_tables(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('# mine\nread_only = true\n[contexts."x"]\nread_only = false\n')
    remember_theme(path, "controlroom-light")
    remember_theme(path, "controlroom-high-contrast")
    text = path.read_text()
    assert text.count("theme =") == 1 and "# mine" in text
    s = parse(text)
    assert s.theme == "controlroom-high-contrast" and s.read_only is True
    assert s.contexts["x"].read_only is False
