"""Configuration: validated with errors that name the file and key; theme remembered in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.config import ConfigError, Settings, load, parse, remember_theme


def test_defaults_when_the_default_file_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody named a file: the platform's default config file may well not exist yet."""
    monkeypatch.delenv("CONTROLROOM_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    settings, path = load()
    assert settings == Settings() and path == tmp_path / "controlroom" / "config.toml"


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


def test_production_matching_ignores_case() -> None:
    """AKS contexts are often upper-case: ``AKS-PROD-WEU`` is as protected as
    ``aks-prod-weu``, for substring and glob patterns alike, whatever case they are in."""
    s = parse('production_patterns = ["prod", "AKS-*-NEU"]\n')
    for context in ("aks-prod-weu", "AKS-PROD-WEU", "Aks-Prod-Weu", "aks-stage-neu",
                    "AKS-STAGE-NEU"):
        assert s.is_production(context), context
    assert not s.is_production("AKS-DEV-WEU")
    assert Settings().is_production("MY-PROD-CLUSTER")  # the default pattern too


def test_a_config_named_by_the_environment_must_exist(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``$CONTROLROOM_CONFIG`` names a file as surely as ``--config`` does: a typo in it must
    not silently drop ``read_only = true``."""
    missing = tmp_path / "typo.toml"
    monkeypatch.setenv("CONTROLROOM_CONFIG", str(missing))
    with pytest.raises(ConfigError, match="typo.toml: no such file"):
        load()
    good = tmp_path / "c.toml"
    good.write_text("read_only = true\n")
    monkeypatch.setenv("CONTROLROOM_CONFIG", str(good))
    settings, path = load()
    assert settings.read_only and path == good


def test_files_that_are_not_configs_are_refused_without_hanging(tmp_path: Path) -> None:
    """A FIFO (opening it would wait for a writer forever), /dev/zero (never ends), a huge
    file and a deeply nested one each get one line naming the file."""
    import os

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load(Path("/dev/zero"))
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"# " + b"x" * (2 * 1024 * 1024) + b"\n")
    with pytest.raises(ConfigError, match="huge.toml: larger than"):
        load(huge)
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="deep.toml: "):
        load(deep)
