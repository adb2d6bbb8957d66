"""Helpers to feed the upstream fixtures in ``tests/fixtures`` to the byte decoders.

The decoders read raw JSON bytes from the API server. Many fixtures are YAML, where unquoted
timestamps load as ``datetime``; they are turned back into the RFC3339 strings the API sends.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

#: Upstream API objects copied into the repository (provenance: ``tests/fixtures/SOURCES.md``).
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _rfc3339(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rfc3339(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rfc3339(v) for v in value]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def fixture_docs(relative: str) -> list[dict[str, Any]]:
    """All documents of a fixture file, as JSON-compatible dicts."""
    path = FIXTURES / relative
    if not path.exists():  # every fixture lives in the repository: missing is a bug, anywhere
        pytest.fail(f"fixture {path} is missing (tests/fixtures/ is part of the repository)")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return [json.loads(text)]
    return [_rfc3339(doc) for doc in yaml.safe_load_all(text) if doc is not None]


def fixture_doc(relative: str) -> dict[str, Any]:
    """The first document of a fixture file."""
    return fixture_docs(relative)[0]


def to_bytes(doc: Any) -> bytes:
    """JSON bytes as the API server would send them."""
    return json.dumps(doc).encode()


def as_list(*items: dict[str, Any], resource_version: str = "1") -> bytes:
    """Wrap single objects in a ``List`` response."""
    return to_bytes(
        {"kind": "List", "metadata": {"resourceVersion": resource_version}, "items": list(items)}
    )


def epoch(text: str) -> float:
    """Expected epoch seconds of an RFC3339 literal, computed independently of the decoder."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# Markup that must survive as text, and terminal controls that must not survive at all.
HOSTILE = (
    "[bold red]x[/] [@click=app.quit]q [link=http://x]y \x1b[31mred "
    "\x1b]52;c;ZXZpbA==\x07 \x9b2J \u202eevil\nline"
)


def all_strings(value: object) -> list[str]:
    """Every string inside a row (structs, tuples) except the verbatim automated block."""
    found: list[str] = []
    builtins = msgspec.to_builtins(value)

    def walk(node: object) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            for key, child in node.items():
                if key != "automated_json":
                    walk(child)
        elif isinstance(node, list | tuple):
            for child in node:
                walk(child)

    walk(builtins)
    return found


def assert_clean(value: object) -> None:
    """Every string in the row is printable: no ESC, C0/C1 controls, bidi or line breaks."""
    strings = all_strings(value)
    assert strings
    for text in strings:
        assert text.isprintable(), repr(text)
