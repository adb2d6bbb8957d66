"""The layering rule, checked in a fresh interpreter: ``backends`` never loads the UI."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import backends


def test_importing_every_backend_module_never_loads_textual() -> None:
    modules = sorted(m.name for m in pkgutil.walk_packages(backends.__path__, "backends."))
    assert "backends.demo.server" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'rich', 'tui', 'widgets', 'themes'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"backends loaded UI modules: {out.stdout.strip()}"
