"""The repository stands alone: nothing it runs names a path outside the checkout.

A clone anywhere (CI clones into an empty temporary directory) must pass, so no source file,
test, script or build file may name the steering repository's ``shared`` folder beside the
checkout, or an absolute path of one machine (a home or work directory). Every fixture a test
reads is in ``tests/fixtures`` (provenance in its SOURCES.md) and the update strategy the
runbook quotes is in ``docs/``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Built from parts so that this file does not match itself.
OUTSIDE = re.compile("|".join([
    r"\.\./" + "shared",
    r"(?<![\w.])/(?:" + "|".join(["work", "root", "home", "Users", "mnt"]) + r")/",
]))
#: Files that run or build something; Markdown prose may talk about the shared folder.
CHECKED = re.compile(r"(\.(py|sh|toml|cfg|ini|tcss|ya?ml|go|mod)$|(^|/)Makefile$|^\.ci/)")


def tracked_files() -> list[str]:
    """The repository's files: committed ones and new ones not yet added (not ignored)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True)
    return sorted({name for name in out.stdout.decode().split("\0") if name})


def outside_paths(files: list[str]) -> list[str]:
    """Each ``file:line: text`` that names a path outside the repository."""
    hits = []
    for name in files:
        if not CHECKED.search(name) or name.startswith("tests/fixtures/"):
            continue
        path = ROOT / name
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{name}:{number}: {line.strip()}")
    return hits


def test_no_file_names_a_path_outside_the_repository() -> None:
    files = tracked_files()
    assert "tests/test_stands_alone.py" in files  # the listing really is the repository's
    assert outside_paths(files) == []


def test_the_check_finds_what_it_is_for(tmp_path: Path) -> None:
    """The pattern catches the shapes that broke clones before, and leaves system paths."""
    assert OUTSIDE.search('FIXTURES = Path("/wor' + 'k/shared/fixtures/prometheus")')
    assert OUTSIDE.search("parents[2] / '..' / '../sha" + "red/fixtures'")
    assert OUTSIDE.search("cd /hom" + "e/alice/src")
    assert not OUTSIDE.search('find_program looks in "/usr/sbin/mosquitto"')
    assert not OUTSIDE.search("https://example.org/work/items")


def test_every_fixture_named_in_sources_is_in_the_repository() -> None:
    """SOURCES.md is the provenance of every copied file, and names only files that exist."""
    fixtures = ROOT / "tests" / "fixtures"
    sources = (fixtures / "SOURCES.md").read_text()
    files = sorted(p.relative_to(fixtures).as_posix() for p in fixtures.rglob("*")
                   if p.is_file() and p.name != "SOURCES.md")
    assert len(files) >= 39
    for name in files:
        if name.startswith("crds/"):  # one row per release, with a brace pattern of kinds
            kind = re.sub(r"^(gateway-api|argocd)-v[\d.]+-|(-crd)?\.yaml$", "", name.split("/")[1])
            assert kind in sources, name
        else:
            assert f"`{name}`" in sources, f"{name} has no provenance row"
    assert (ROOT / "docs" / "update-strategy.md").is_file()


def test_under_ci_a_skip_of_any_kind_fails(tmp_path: Path) -> None:
    """The conftest hook: under CI=true a skip in a test, a fixture, a module mark or an
    ``importorskip`` is reported as a failure; outside CI the same skips are listed (``-ra``)."""
    import os
    import sys

    (tmp_path / "test_skips.py").write_text(
        "import pytest\n"
        "@pytest.fixture\n"
        "def fx():\n"
        "    pytest.skip('fixture says no')\n"
        "def test_in_body():\n"
        "    pytest.skip('body says no')\n"
        "def test_in_fixture(fx):\n"
        "    pass\n"
        "@pytest.mark.skipif(True, reason='mark says no')\n"
        "def test_marked():\n"
        "    pass\n"
        "def test_runs():\n"
        "    pass\n")
    (tmp_path / "test_importorskip.py").write_text(
        "import pytest\npytest.importorskip('no_such_module_here')\n"
        "def test_never():\n    pass\n")

    def run(ci: str) -> str:
        env = {**os.environ, "CI": ci, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
             "-q", "-ra", "--continue-on-collection-errors", "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        return out.stdout

    ci = run("true")
    summary = ci.strip().splitlines()[-1]
    assert "1 passed" in summary and "skipped" not in summary, ci
    assert ci.count("nothing may skip in CI") == 4, ci
    local = run("")
    assert "1 passed, 4 skipped" in local, local
    assert "body says no" in local and "no_such_module_here" in local
