"""The README's configuration examples are real configuration: each ```toml block parses into
Settings, so the documentation cannot drift from what the program accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backends.config import ConfigError, parse

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_configuration_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_readme_toml_block_is_valid_configuration(block: str) -> None:
    try:
        parse(block, "README.md")
    except ConfigError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"README.md example does not parse: {exc}")


def test_a_wrong_key_in_such_a_block_would_be_caught() -> None:
    with pytest.raises(ConfigError, match="unknown field"):
        parse(BLOCKS[0] + "\nthemee = 'x'\n", "README.md")
