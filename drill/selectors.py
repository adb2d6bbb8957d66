"""Kubernetes label and field selectors for the drill cluster's API server.

kubectl, informers and the control room's watch sources send selectors as query strings; the
drill cluster must accept, reject and match them exactly as a real API server does, or a
rehearsal would teach behaviour production does not have. So the label parser is a port of
apimachinery's ``labels`` lexer and parser (same tokens, whitespace rules and error texts) and
field selectors follow its ``fields`` package (escapes; a missing field compares as "").
Selectors are frozen dataclasses; matching never touches the objects it is given.

Over 500 lines because it is one port kept beside its original: apimachinery's ``labels``
and ``fields`` packages, which share the error texts, the quoting and the validation helpers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class SelectorError(ValueError):
    """A selector that Kubernetes would refuse; the server answers 400 BadRequest with it."""


class Operator(StrEnum):
    """Label requirement operators, spelt as apimachinery's ``selection.Operator``."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


# --- validation (k8s.io/apimachinery/pkg/util/validation), same texts as the API server ------

_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RE = re.compile(_NAME_FMT)
_VALUE_FMT = f"({_NAME_FMT})?"
_VALUE_RE = re.compile(_VALUE_FMT)
_DNS_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN_FMT = _DNS_LABEL_FMT + r"(\." + _DNS_LABEL_FMT + ")*"
_DNS_SUBDOMAIN_RE = re.compile(_DNS_SUBDOMAIN_FMT)
_INT64_RE = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's ``RegexError`` (including its odd double space before ``or``)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


_NAME_MSG = _regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character", _NAME_FMT, "MyName", "my.name", "123-abc")
_VALUE_MSG = _regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character", _VALUE_FMT,
    "MyValue", "my_value", "12345")
_DNS_MSG = _regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character", _DNS_SUBDOMAIN_FMT,
    "example.com")


def _qualified_name_errors(key: str) -> list[str]:
    """``IsQualifiedName``: an optional DNS-subdomain prefix, ``/``, a name of <= 63 chars."""
    parts = key.split("/")
    if len(parts) > 2:
        return [f"a qualified name {_NAME_MSG} with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"]
    errs: list[str] = []
    name, prefix = parts[-1], parts[0] if len(parts) == 2 else None
    if prefix == "":
        errs.append("prefix part must be non-empty")
    elif prefix is not None:
        if len(prefix) > 253:
            errs.append("prefix part must be no more than 253 characters")
        if not _DNS_SUBDOMAIN_RE.fullmatch(prefix):
            errs.append(f"prefix part {_DNS_MSG}")
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _NAME_RE.fullmatch(name):
        errs.append(f"name part {_NAME_MSG}")
    return errs


def _go_quote(value: Any) -> str:
    """Render a bad value the way ``field.Invalid`` does (``%q`` / ``%#v``)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    quoted = ", ".join(json.dumps(v, ensure_ascii=False) for v in value)
    return "[]string{" + quoted + "}" if value else "[]string(nil)"


def _invalid(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {_go_quote(value)}: {detail}"


def _is_int64(text: str) -> bool:
    return bool(_INT64_RE.fullmatch(text)) and _INT64_MIN <= int(text) <= _INT64_MAX


# --- label selectors ------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """One ``key <op> values`` term; a selector is the AND of its requirements."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Kubernetes semantics: ``!=`` and ``notin`` also match objects without the key."""
        op = self.operator
        present = self.key in labels
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        # Gt / Lt: both sides must be int64, otherwise the object does not match.
        if not present or len(self.values) != 1:
            return False
        have, want = labels[self.key], self.values[0]
        if not (_is_int64(have) and _is_int64(want)):
            return False
        return int(have) > int(want) if op is Operator.GREATER_THAN else int(have) < int(want)

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        # Values are sorted on output (never in place), as apimachinery's String() does.
        joined = ",".join(sorted(self.values))
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({joined})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{joined}"


_SET = (lambda n: n > 0, "for 'in', 'notin' operators, values set can't be empty")
_EXACT = (lambda n: n == 1, "exact-match compatibility requires one single value")
_UNARY = (lambda n: n == 0, "values set must be empty for exists and does not exist")
_NUMERIC = (lambda n: n == 1, "for 'Gt', 'Lt' operators, exactly one value is required")
_VALUE_COUNTS: dict[Operator, tuple[Callable[[int], bool], str]] = {
    Operator.IN: _SET, Operator.NOT_IN: _SET, Operator.EQUALS: _EXACT,
    Operator.DOUBLE_EQUALS: _EXACT, Operator.NOT_EQUALS: _EXACT, Operator.EXISTS: _UNARY,
    Operator.DOES_NOT_EXIST: _UNARY, Operator.GREATER_THAN: _NUMERIC, Operator.LESS_THAN: _NUMERIC,
}


def new_requirement(key: str, operator: Operator, values: Sequence[str]) -> Requirement:
    """Build a validated requirement (apimachinery's ``NewRequirement``).

    Raises SelectorError with all problems aggregated like ``field.ErrorList``.
    """
    errs: list[str] = []
    if key_errs := _qualified_name_errors(key):
        errs.append(_invalid("key", key, "; ".join(key_errs)))
    vals = list(values)
    counts_ok, detail = _VALUE_COUNTS[operator]
    if not counts_ok(len(vals)):
        errs.append(_invalid("values", vals, detail))
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        errs.extend(_invalid(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an "
                             "integer") for i, v in enumerate(vals) if not _is_int64(v))
    for i, v in enumerate(vals):
        value_errs = (["must be no more than 63 characters"] if len(v) > 63 else []) + (
            [] if _VALUE_RE.fullmatch(v) else [_VALUE_MSG])
        if value_errs:
            errs.append(_invalid(f"values[{i}][{key}]", v, "; ".join(value_errs)))
    if errs:
        raise SelectorError(errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
    return Requirement(key, operator, tuple(vals))


@dataclass(frozen=True)
class LabelSelector:
    """The AND of requirements. No requirements selects everything; ``match_none`` nothing."""

    requirements: tuple[Requirement, ...] = ()
    match_none: bool = False

    @classmethod
    def nothing(cls) -> LabelSelector:
        """What a missing (null) ``spec.selector`` means to Kubernetes: select no object."""
        return cls(match_none=True)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (selects every object)."""
        return not self.requirements and not self.match_none

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.match_none:
            return False
        have = labels if isinstance(labels, Mapping) else {}  # a malformed object: no labels
        return all(r.matches(have) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# Lexer tokens. "in"/"notin" are keywords only where an operator is expected (KeyAndOperator
# context); elsewhere they are plain identifiers, so `in in (in)` is a valid selector.
_IDENT, _EOS, _IN, _NOTIN = "IDENT", "EOS", "in", "notin"
# Longest symbol first ("!=" before "!"), as scanSpecialSymbol; only " \t\r\n" is whitespace.
_LEXEME = re.compile(r"!=|==|[!=(),<>]|[^ \t\r\n!=(),<>]+")


def _lex(text: str) -> list[tuple[str, str]]:
    """Split into (token, literal); a symbol or keyword token's kind is its literal."""
    items = [(lit if lit[0] in "!=(),<>" or lit in (_IN, _NOTIN) else _IDENT, lit)
             for lit in _LEXEME.findall(text)]
    return [*items, (_EOS, "")]


_BINARY = {_IN: Operator.IN, _NOTIN: Operator.NOT_IN, "=": Operator.EQUALS,
           "==": Operator.DOUBLE_EQUALS, "!=": Operator.NOT_EQUALS, ">": Operator.GREATER_THAN,
           "<": Operator.LESS_THAN}


class _Parser:
    """A port of apimachinery's label ``Parser`` (same grammar, same error texts)."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def lookahead(self, values: bool = True) -> tuple[str, str]:
        """The next token; ``values`` is the Values context, where keywords are identifiers."""
        tok, lit = self.items[self.pos]
        return (_IDENT if values and tok in (_IN, _NOTIN) else tok), lit

    def consume(self, values: bool = True) -> tuple[str, str]:
        item = self.lookahead(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok == _EOS:
                return reqs
            if tok not in (_IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self.requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            tok, lit = self.consume()
            if tok == _EOS:
                return reqs
            if tok != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.lookahead()
            if tok not in (_IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = False
        tok, key = self.consume()
        if tok == "!":
            negated = True
            tok, key = self.consume()
        if tok != _IDENT:
            raise SelectorError(f"found '{key}', expected: identifier")
        if errs := _qualified_name_errors(key):
            raise SelectorError(_invalid("key", key, "; ".join(errs)))
        if negated or self.lookahead()[0] in (_EOS, ","):
            return new_requirement(key, Operator.DOES_NOT_EXIST if negated else Operator.EXISTS, ())
        tok, lit = self.consume(values=False)
        if tok not in _BINARY:
            raise SelectorError(f"found '{lit}', expected: '=', '!=', '==', 'in', notin'")
        op = _BINARY[tok]
        values = self.set_values() if op in (Operator.IN, Operator.NOT_IN) else self.exact_value()
        return new_requirement(key, op, sorted(values))

    def set_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok == ")":
            self.consume()
            return {""}
        if tok not in (_IDENT, ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifier_list()
        if self.consume()[0] != ")":
            raise SelectorError(f"found '{lit}', expected: ')'")
        return values

    def identifier_list(self) -> set[str]:
        """Comma-separated, possibly empty identifiers: ``(a,,b)`` and ``(,)`` hold ""."""
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _IDENT:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == ")":
                    return values
                if tok2 != ",":
                    raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            elif tok == ",":
                if not values:
                    values.add("")
                tok2, _ = self.lookahead()
                if tok2 == ")":
                    values.add("")
                    return values
                if tok2 == ",":
                    self.consume()
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.lookahead()[0] in (_EOS, ","):
            return {""}
        tok, lit = self.consume()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        return {lit}


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a ``labelSelector`` query value; the empty string selects everything."""
    reqs = _Parser(text).parse()
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


_EXPRESSION_OPERATORS = {"In": Operator.IN, "NotIn": Operator.NOT_IN,
                         "Exists": Operator.EXISTS, "DoesNotExist": Operator.DOES_NOT_EXIST}


def selector_from_match_labels(
    match_labels: Mapping[str, Any] | None,
    match_expressions: Sequence[Mapping[str, Any]] | None = None,
) -> LabelSelector:
    """A ``metav1.LabelSelector`` (``matchLabels`` + ``matchExpressions``) as a selector.

    Mirrors ``LabelSelectorAsSelector``: both empty selects everything, values are validated.
    """
    reqs: list[Requirement] = []
    for key, value in (match_labels or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SelectorError(f"matchLabels must map strings to strings, got {key!r}: {value!r}")
        reqs.append(new_requirement(key, Operator.EQUALS, [value]))
    for i, expr in enumerate(match_expressions or ()):
        if not isinstance(expr, Mapping):
            raise SelectorError(f"matchExpressions[{i}] must be an object")
        name, op_name, values = expr.get("key"), str(expr.get("operator")), expr.get("values") or []
        if not isinstance(name, str):
            raise SelectorError(f"matchExpressions[{i}].key must be a string")
        if op_name not in _EXPRESSION_OPERATORS:
            raise SelectorError(f"{_go_quote(op_name)} is not a valid label selector operator")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SelectorError(f"matchExpressions[{i}].values must be a list of strings")
        reqs.append(new_requirement(name, _EXPRESSION_OPERATORS[op_name], values))
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def selector_from_spec(selector: Mapping[str, Any] | None) -> LabelSelector:
    """A whole ``spec.selector`` object; None (absent) selects nothing, as in Kubernetes."""
    if selector is None:
        return LabelSelector.nothing()
    return selector_from_match_labels(selector.get("matchLabels"),
                                      selector.get("matchExpressions"))


def selector_to_string(selector: LabelSelector | Mapping[str, Any] | None) -> str:
    """The canonical string (``app=web,tier in (a,b)``), e.g. for ``Scale.status.selector``.

    Accepts a parsed selector or a ``spec.selector`` object straight from a stored workload.
    """
    if not isinstance(selector, LabelSelector):
        selector = selector_from_spec(selector)
    return str(selector)


# --- field selectors ------------------------------------------------------------------------


def _field_text(value: Any) -> str:
    """How the API server renders a selectable field: missing is "", booleans lower-case."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _with_default(path: str, default: str) -> Callable[[Mapping[str, Any]], str]:
    # Fields backed by non-pointer Go bools/ints: absent reads as their zero value.
    return lambda obj: _field_text(_dig(obj, path)) or default


def _event_source(obj: Mapping[str, Any]) -> str:
    # Events: `source` is source.component, falling back to reportingComponent.
    return _field_text(_dig(obj, "source.component")) or _field_text(obj.get("reportingComponent"))


def _pod_ip(obj: Mapping[str, Any]) -> str:
    ip = _field_text(_dig(obj, "status.podIP"))
    ips = _dig(obj, "status.podIPs")
    if not ip and isinstance(ips, list) and ips and isinstance(ips[0], Mapping):
        ip = _field_text(ips[0].get("ip"))
    return ip


#: Fields whose value is not simply the dotted path into the JSON object.
_FIELD_EXTRACTORS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "source": _event_source,
    "status.podIP": _pod_ip,
    "spec.hostNetwork": _with_default("spec.hostNetwork", "false"),
    "spec.unschedulable": _with_default("spec.unschedulable", "false"),
    "status.replicas": _with_default("status.replicas", "0"),
}


def field_value(obj: Mapping[str, Any], field: str) -> str:
    """The string a field selector compares against (a missing field is "")."""
    extractor = _FIELD_EXTRACTORS.get(field)
    return extractor(obj) if extractor else _field_text(_dig(obj, field))


def escape_field_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` so a value survives a round trip through the parser."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


@dataclass(frozen=True)
class FieldRequirement:
    """``field=value`` (``==`` is stored as ``=``) or ``field!=value``."""

    field: str
    operator: str
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (field_value(obj, self.field) == self.value) == (self.operator == "=")

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """The AND of field requirements; no requirements selects everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def fields(self) -> frozenset[str]:
        """Field names used, so the server can refuse those the resource does not support."""
        return frozenset(r.field for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split_terms(text: str) -> list[str]:
    """Split on commas not escaped by a backslash (the backslash stays in the term)."""
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


_ESCAPE = re.compile(r"\\(.?)|([,=])", re.DOTALL)


def _unescape(value: str) -> str:
    """Undo ``\\\\``, ``\\,`` and ``\\=``; other escapes and bare ``,``/``=`` are errors."""

    def one(match: re.Match[str]) -> str:
        escaped, bare = match.groups()
        if bare:
            raise SelectorError(f"invalid field selector: unescaped character in value: {bare}")
        if escaped not in ("\\", ",", "="):
            raise SelectorError(f"invalid field selector: invalid escape sequence: \\{escaped}")
        return str(escaped)

    return _ESCAPE.sub(one, value)


_FIELD_OPERATOR = re.compile("!=|==|=")


def parse_field_selector(text: str) -> FieldSelector:
    """Parse a ``fieldSelector`` query value (no whitespace trimming, as in Kubernetes)."""
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_terms(text) if text else []):
        if not part:
            continue
        # The first operator occurrence splits the term; "!=" and "==" are tried before "=".
        if not (match := _FIELD_OPERATOR.search(part)):
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        op = "!=" if match.group() == "!=" else "="
        value = _unescape(part[match.end():])
        reqs.append(FieldRequirement(part[:match.start()], op, value))
    return FieldSelector(tuple(reqs))


_META = frozenset({"metadata.name", "metadata.namespace"})

#: Field selectors each resource supports in Kubernetes, keyed by plural (``*`` = default).
SUPPORTED_FIELDS: dict[str, frozenset[str]] = {
    "*": _META,
    "pods": _META | {
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
    },
    "events": _META | {
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
    },
    "nodes": frozenset({"metadata.name", "spec.unschedulable"}),
    "namespaces": frozenset({"metadata.name", "status.phase"}),
    "replicasets": _META | {"status.replicas"},
}


def check_fields(plural: str, selector: FieldSelector) -> None:
    """Refuse fields the resource does not support, with the API server's message."""
    allowed = SUPPORTED_FIELDS.get(plural, SUPPORTED_FIELDS["*"])
    for r in selector.requirements:
        if r.field not in allowed:
            raise SelectorError(f"field label not supported: {r.field}")
