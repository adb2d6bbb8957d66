"""The drill cluster's authorization policy: a small allow/deny rule list.

Real clusters answer ``SelfSubjectAccessReview`` from RBAC; the drill cluster answers from this
policy and enforces it on every request too, so the control room's "unavailable" paths
(forbidden list, forbidden scale) can be rehearsed and tested. The first matching rule wins;
nothing matching means allowed.

File form (JSON)::

    {"rules": [{"verbs": ["patch", "update"], "groups": ["apps"],
                "resources": ["deployments/scale"], "namespaces": ["*"], "allow": false}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

USER = "drill-operator"


@dataclass(frozen=True)
class Rule:
    verbs: frozenset[str] = frozenset({"*"})
    groups: frozenset[str] = frozenset({"*"})
    resources: frozenset[str] = frozenset({"*"})
    namespaces: frozenset[str] = frozenset({"*"})
    allow: bool = False

    def matches(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        def hit(values: frozenset[str], value: str) -> bool:
            return "*" in values or value in values
        return (hit(self.verbs, verb) and hit(self.groups, group)
                and hit(self.resources, resource) and hit(self.namespaces, namespace))


@dataclass
class Policy:
    rules: list[Rule] = field(default_factory=list)

    def decide(self, verb: str, group: str, resource: str, subresource: str,
               namespace: str) -> tuple[bool, str]:
        """(allowed, reason) for a request; ``resource`` plural, ``subresource`` may be ''."""
        full = f"{resource}/{subresource}" if subresource else resource
        for rule in self.rules:
            if rule.matches(verb, group, full, namespace or ""):
                if rule.allow:
                    return True, "allowed by drill policy"
                return False, "denied by drill policy"
        return True, "allowed by default"

    def forbidden_message(self, verb: str, group: str, resource: str, subresource: str,
                          namespace: str, name: str) -> str:
        full = f"{resource}/{subresource}" if subresource else resource
        qualified = f"{full}.{group}" if group else full
        target = f'{qualified} "{name}"' if name else qualified
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        return (f'{target} is forbidden: User "{USER}" cannot {verb} resource "{full}" in API '
                f'group "{group}"{where}')

    @classmethod
    def from_dict(cls, data: Any) -> Policy:
        """Build from parsed JSON; raises ValueError naming the bad field."""
        if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
            raise ValueError("policy: expected an object with a 'rules' list")
        rules = []
        for i, raw in enumerate(data.get("rules", [])):
            if not isinstance(raw, dict):
                raise ValueError(f"policy: rules[{i}] must be an object")
            kw: dict[str, Any] = {}
            for name in ("verbs", "groups", "resources", "namespaces"):
                if name in raw:
                    value = raw[name]
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        raise ValueError(f"policy: rules[{i}].{name} must be a list of strings")
                    kw[name] = frozenset(value)
            allow = raw.get("allow", False)
            if not isinstance(allow, bool):
                raise ValueError(f"policy: rules[{i}].allow must be true or false")
            rules.append(Rule(allow=allow, **kw))
        return cls(rules)

    @classmethod
    def load(cls, path: Path) -> Policy:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"policy file {path}: {exc}") from exc
        return cls.from_dict(data)
