"""The platform's alert rules, and the drill's copy of them with short ``for:`` durations.

The rules live in one file, ``drill/rules/platform.yml``, shipped inside the package
(hatch puts every file under a listed package into the wheel, and an editable install reads the
source tree), so ``importlib.resources`` finds them however controlroom was installed; a file
under a top-level ``deploy/`` folder would be missing from a wheel. The drill must fire the
same rules for the same reasons, only sooner: :func:`drill_rules` loads the shipped file and
rewrites every ``for:``, so there is never a second copy to drift out of date.
"""

from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

RULES_PACKAGE = "drill"
RULES_FILE = "rules/platform.yml"
#: ``for:`` of every rule in the drill (its scrape and evaluation intervals are one second).
DRILL_FOR = "5s"
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


class RulesError(ValueError):
    """The rules file is not a Prometheus rule file we can rewrite."""


def platform_rules_text() -> str:
    """The shipped rule file, verbatim (what production loads)."""
    return resources.files(RULES_PACKAGE).joinpath(RULES_FILE).read_text(encoding="utf-8")


def platform_rules() -> dict[str, Any]:
    """The shipped rule file, parsed and checked for the shape :func:`drill_rules` rewrites."""
    return _checked(yaml.safe_load(platform_rules_text()))


def _checked(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise RulesError("rule file: expected a mapping with a 'groups' list")
    for g, group in enumerate(doc["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
            raise RulesError(f"rule file: group {g} has no 'rules' list")
        for r, rule in enumerate(group["rules"]):
            if not isinstance(rule, dict) or not isinstance(rule.get("expr"), str):
                raise RulesError(f"rule file: group {g} rule {r} has no 'expr' string")
    return doc


def alert_names(doc: dict[str, Any]) -> list[str]:
    """Every alerting rule's name, in file order."""
    return [rule["alert"] for group in doc["groups"] for rule in group["rules"]
            if "alert" in rule]


def drill_rules(for_: str = DRILL_FOR, source: dict[str, Any] | None = None) -> dict[str, Any]:
    """The shipped rules with every alert's ``for:`` set to ``for_`` (expressions unchanged)."""
    if not _DURATION.match(for_):
        raise RulesError(f"not a Prometheus duration: {for_!r} (e.g. 5s, 1m)")
    doc = copy.deepcopy(source if source is not None else platform_rules())
    for group in _checked(doc)["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = for_
    return doc


def write_drill_rules(path: Path, for_: str = DRILL_FOR) -> Path:
    """Write the drill's rule file for Prometheus to load."""
    path.write_text("# Generated from drill/rules/platform.yml; do not edit.\n"
                    + yaml.safe_dump(drill_rules(for_), sort_keys=False), encoding="utf-8")
    return path
