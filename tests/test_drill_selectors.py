"""Label and field selectors parse, match and fail exactly like the Kubernetes API server's."""

from __future__ import annotations

import copy
import random
import re

import pytest

from drill.selectors import (
    SUPPORTED_FIELDS,
    FieldSelector,
    LabelSelector,
    Operator,
    SelectorError,
    check_fields,
    escape_field_value,
    field_value,
    new_requirement,
    parse_field_selector,
    parse_label_selector,
    selector_from_match_labels,
    selector_from_spec,
    selector_to_string,
)

LABELS = {"app": "web", "tier": "front", "replicas": "3", "example.com/team": "sre"}


# --- label selectors: operators and matching ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=api", False),
        ("app!=api", True),
        ("app!=web", False),
        ("missing!=x", True),  # != matches objects without the key
        ("app in (web,api)", True),
        ("app in (api)", False),
        ("missing in (x)", False),
        ("app notin (api,db)", True),
        ("app notin (web)", False),
        ("missing notin (x)", True),  # notin matches objects without the key
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("replicas>2", True),
        ("replicas>3", False),
        ("replicas<4", True),
        ("replicas<3", False),
        ("app>1", False),  # a non-integer label never satisfies gt/lt
        ("missing>1", False),
        ("example.com/team=sre", True),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("app=web,app!=web", False),
        ("app=", False),
    ],
)
def test_label_operators(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


def test_empty_value_matches_an_empty_label() -> None:
    assert parse_label_selector("app=").matches({"app": ""})
    assert parse_label_selector("app in ()").matches({"app": ""})


def test_none_labels_mean_no_labels() -> None:
    assert parse_label_selector("!app").matches(None)
    assert parse_label_selector("app notin (x)").matches(None)
    assert not parse_label_selector("app").matches(None)
    assert parse_label_selector("").matches(None)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("app=web", "app=web"),
        ("  app = web ,\ttier\nin ( b , a )\r", "app=web,tier in (a,b)"),
        ("tier in (b,a),app==web", "app==web,tier in (a,b)"),  # sorted by key
        ("x notin (c,b,b)", "x notin (b,c)"),  # values are a set
        ("!x", "!x"),
        ("x,y", "x,y"),
        ("x>1,y<2", "x>1,y<2"),
        ("x in(a)", "x in (a)"),
        ("x in (a,,b)", "x in (,a,b)"),
        ("x in ()", "x in ()"),
        ("x in (,)", "x in ()"),
        ("x in (a,)", "x in (,a)"),
        ("x=,y", "x=,y"),
        ("in in (in)", "in in (in)"),  # keywords are identifiers where values are expected
        ("notin notin (notin)", "notin notin (notin)"),
        ("in", "in"),
        ("a!=b", "a!=b"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_whitespace_and_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


def test_parsed_operators() -> None:
    sel = parse_label_selector("a=1,b==2,c!=3,d in (4),e notin (5),f,!g,h>6,i<7")
    assert [r.operator for r in sel.requirements] == [
        Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS, Operator.IN,
        Operator.NOT_IN, Operator.EXISTS, Operator.DOES_NOT_EXIST, Operator.GREATER_THAN,
        Operator.LESS_THAN,
    ]


def test_empty_selector_selects_everything() -> None:
    sel = parse_label_selector("")
    assert sel.empty and sel.matches({}) and sel.matches(LABELS)
    assert not parse_label_selector("a").empty


# --- label selectors: errors (texts are the API server's) -----------------------------------

_NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_PR = "unable to parse requirement: "


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", _PR + "found 'b', expected: '=', '!=', '==', 'in', notin'"),
        (",", "found ',', expected: !, identifier, or 'end of string'"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("!", _PR + "found '', expected: identifier"),
        ("!,a", _PR + "found ',', expected: identifier"),
        ("x in", _PR + "found '' expected: '('"),
        ("x in a", _PR + "found 'a' expected: '('"),
        ("x in (a", _PR + "found '', expected: ',' or ')'"),
        ("x in (a b)", _PR + "found 'b', expected: ',' or ')'"),
        ("x in (=)", _PR + "found '=', expected: ',', ')' or identifier"),
        ("x in (a,=)", _PR + "found '=', expected: ',', or identifier"),
        ("x in (,,)", _PR + "found ')', expected: ',', or identifier"),  # apimachinery quirk
        ("x in (a,,)", _PR + "found ')', expected: ',', or identifier"),
        ("x = (", _PR + "found '(', expected: identifier"),
        ("x in (a))", "found ')', expected: ',' or 'end of string'"),
        ("-a=b", _PR + f'key: Invalid value: "-a": name part {_NAME_RULE}'),
        ("a=-b", _PR + f'values[0][a]: Invalid value: "-b": {_VALUE_RULE}'),
        ("a in (ok,-b)", _PR + f'values[0][a]: Invalid value: "-b": {_VALUE_RULE}'),
        ("a>b", _PR + "values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value "
                      "must be an integer"),
        ("a<", _PR + "values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value "
                     "must be an integer"),
        ("a>99999999999999999999", _PR + "values[0]: Invalid value: \"99999999999999999999\": "
                                         "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("/a", _PR + 'key: Invalid value: "/a": prefix part must be non-empty'),
        ("a/", _PR + 'key: Invalid value: "a/": name part must be non-empty; '
                     f"name part {_NAME_RULE}"),
        ("a/b/c", _PR + f'key: Invalid value: "a/b/c": a qualified name {_NAME_RULE} with an '
                        "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
        ("Example.com/a", _PR + 'key: Invalid value: "Example.com/a": prefix part a lowercase '
                                "RFC 1123 subdomain must consist of lower case alphanumeric "
                                "characters, '-' or '.', and must start and end with an "
                                "alphanumeric character (e.g. 'example.com', regex used for "
                                "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                                "([-a-z0-9]*[a-z0-9])?)*')"),
        ("k" * 64, _PR + f'key: Invalid value: "{"k" * 64}": name part must be no more than 63 '
                         "characters"),
        ("a=" + "v" * 64, _PR + f'values[0][a]: Invalid value: "{"v" * 64}": must be no more '
                                "than 63 characters"),
    ],
)
def test_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)  # the server maps it to 400 BadRequest


def test_prefix_and_name_limits() -> None:
    longest = f"{'p' * 253}/{'n' * 63}"
    assert parse_label_selector(f"{longest}=v").matches({longest: "v"})
    with pytest.raises(SelectorError, match="prefix part must be no more than 253 characters"):
        parse_label_selector(f"{'p' * 254}/n")


def test_several_errors_are_aggregated() -> None:
    with pytest.raises(SelectorError) as info:
        new_requirement("-k", Operator.GREATER_THAN, ["x", "y"])
    text = str(info.value)
    assert text.startswith("[key: Invalid value: \"-k\"") and text.endswith("]")
    assert ("values: Invalid value: []string{\"x\", \"y\"}: for 'Gt', 'Lt' operators, "
            "exactly one value is required") in text


# --- spec.selector (matchLabels / matchExpressions) -----------------------------------------


def test_match_labels_and_expressions() -> None:
    sel = selector_from_match_labels(
        {"tier": "front", "app": "web"},
        [{"key": "env", "operator": "In", "values": ["prod", "canary"]},
         {"key": "legacy", "operator": "DoesNotExist"},
         {"key": "track", "operator": "NotIn", "values": ["beta"]},
         {"key": "team", "operator": "Exists"}],
    )
    assert str(sel) == "app=web,env in (canary,prod),!legacy,team,tier=front,track notin (beta)"
    assert sel.matches({"app": "web", "tier": "front", "env": "prod", "team": "x"})
    assert not sel.matches({"app": "web", "tier": "front", "env": "prod", "team": "x",
                            "legacy": "1"})
    assert not sel.matches({"app": "web", "tier": "front", "env": "dev", "team": "x"})


def test_empty_and_missing_spec_selectors() -> None:
    assert selector_from_match_labels(None).empty
    assert selector_from_match_labels({}, []).matches({"any": "thing"})
    nothing = selector_from_spec(None)
    assert not nothing.matches({}) and not nothing.empty and str(nothing) == ""
    assert selector_from_spec({}).matches({"a": "b"})


@pytest.mark.parametrize(
    ("labels", "expressions", "message"),
    [
        ({}, [{"key": "a", "operator": "Foo"}], '"Foo" is not a valid label selector operator'),
        ({}, [{"key": "a", "operator": "In", "values": []}],
         "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't "
         "be empty"),
        ({}, [{"key": "a", "operator": "Exists", "values": ["x"]}],
         "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does "
         "not exist"),
        ({}, [{"operator": "Exists"}], "matchExpressions[0].key must be a string"),
        ({}, [{"key": "a", "operator": "In", "values": [1]}],
         "matchExpressions[0].values must be a list of strings"),
        ({}, ["a"], "matchExpressions[0] must be an object"),
        ({"a": 1}, None, "matchLabels must map strings to strings, got 'a': 1"),
        ({"a": "-x"}, None, f'values[0][a]: Invalid value: "-x": {_VALUE_RULE}'),
        ({"-a": "x"}, None, f'key: Invalid value: "-a": name part {_NAME_RULE}'),
    ],
)
def test_spec_selector_errors(labels: dict, expressions: list | None, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        selector_from_match_labels(labels, expressions)
    assert str(info.value) == message


def test_selector_to_string_for_scale_status() -> None:
    spec = {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}
    assert selector_to_string(spec) == "app=web,tier in (a,b)"
    assert selector_to_string(parse_label_selector("b=1, a=2")) == "a=2,b=1"
    assert selector_to_string(None) == ""
    assert selector_to_string({}) == ""


def test_spec_selector_input_is_not_mutated() -> None:
    spec = {"matchLabels": {"b": "1", "a": "2"},
            "matchExpressions": [{"key": "t", "operator": "In", "values": ["z", "y"]}]}
    before = copy.deepcopy(spec)
    selector_to_string(spec)
    assert spec == before


# --- field selectors ------------------------------------------------------------------------

POD = {
    "metadata": {"name": "web-1", "namespace": "shop"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}]},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        (",", True),
        ("metadata.name=web-1", True),
        ("metadata.name==web-1", True),
        ("metadata.name!=web-1", False),
        ("metadata.name=web-2", False),
        ("metadata.namespace=shop,status.phase=Running", True),
        ("status.phase!=Running", False),
        ("status.phase!=Pending,spec.nodeName=node-a", True),
        ("spec.nodeName=", False),
        ("spec.schedulerName=", True),  # a missing field compares as ""
        ("spec.schedulerName!=", False),
        ("status.podIP=10.0.0.7", True),  # falls back to status.podIPs[0].ip
        ("spec.hostNetwork=false", True),  # Go bool zero value
        ("metadata.name=web-1,,", True),
    ],
)
def test_field_selector_matches(text: str, expected: bool) -> None:
    assert parse_field_selector(text).matches(POD) is expected


def test_field_selector_does_not_mutate_object() -> None:
    before = copy.deepcopy(POD)
    parse_field_selector("metadata.name=x,spec.hostNetwork=true,status.podIP=1").matches(POD)
    assert POD == before


def test_field_values_of_special_fields() -> None:
    event = {"source": {"component": "kubelet"}, "reportingComponent": "other",
             "involvedObject": {"kind": "Pod", "name": "web-1", "uid": "u1"}, "type": "Warning"}
    assert field_value(event, "source") == "kubelet"
    assert field_value({"reportingComponent": "ctrl"}, "source") == "ctrl"
    assert field_value({"source": {}}, "source") == ""
    assert parse_field_selector("involvedObject.kind=Pod,involvedObject.uid=u1,type=Warning"
                                ).matches(event)
    assert field_value({"spec": {"unschedulable": True}}, "spec.unschedulable") == "true"
    assert field_value({"spec": {}}, "spec.unschedulable") == "false"
    assert field_value({"status": {"replicas": 3}}, "status.replicas") == "3"
    assert field_value({}, "status.replicas") == "0"
    assert field_value({"status": {"podIP": "1.2.3.4", "podIPs": [{"ip": "9"}]}},
                       "status.podIP") == "1.2.3.4"
    assert field_value({"a": {"b": 2.0}}, "a.b") == "2"
    assert field_value({"a": {"b": [1]}}, "a.b") == ""
    assert field_value({"a": "scalar"}, "a.b") == ""


def test_field_selector_escapes() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b\=c\\d")
    assert sel.requirements[0].value == "a,b=c\\d"
    assert sel.matches({"metadata": {"name": "a,b=c\\d"}})
    assert str(sel) == r"metadata.name=a\,b\=c\\d"
    assert escape_field_value("x=y,z\\") == r"x\=y\,z\\"


def test_field_selector_shape() -> None:
    sel = parse_field_selector("status.phase!=Failed,metadata.name==x")
    assert sel.fields() == frozenset({"status.phase", "metadata.name"})
    assert str(sel) == "metadata.name=x,status.phase!=Failed"  # terms sorted, == shown as =
    assert parse_field_selector("").empty and not sel.empty
    assert FieldSelector().matches({})


def test_field_operator_is_the_first_one_found() -> None:
    # apimachinery splits at the first operator: "a!=b" is not "a!" = "b"; "a==b" is not "a"="=b".
    assert parse_field_selector("a!=b").requirements[0].field == "a"
    assert parse_field_selector("a==b").requirements[0].value == "b"
    assert parse_field_selector("a=!b").requirements[0].value == "!b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=1,b", "invalid selector: 'a=1,b'; can't understand 'b'"),
        (" ", "invalid selector: ' '; can't understand ' '"),
        ("a=b=c", "invalid field selector: unescaped character in value: ="),
        ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("plural", "field", "ok"),
    [
        ("pods", "spec.nodeName", True),
        ("pods", "status.phase", True),
        ("pods", "status.podIP", True),
        ("pods", "spec.serviceAccountName", True),
        ("pods", "status.nominatedNodeName", True),
        ("pods", "metadata.labels", False),
        ("events", "involvedObject.uid", True),
        ("events", "reason", True),
        ("events", "source", True),
        ("events", "reportingComponent", True),
        ("events", "metadata.namespace", True),
        ("events", "spec.nodeName", False),
        ("nodes", "spec.unschedulable", True),
        ("nodes", "metadata.name", True),
        ("nodes", "metadata.namespace", False),
        ("namespaces", "status.phase", True),
        ("deployments", "metadata.name", True),
        ("deployments", "metadata.namespace", True),
        ("deployments", "spec.replicas", False),
        ("applications", "status.sync.status", False),
        ("replicasets", "status.replicas", True),
    ],
)
def test_check_fields(plural: str, field: str, ok: bool) -> None:
    sel = parse_field_selector(f"{field}=x")
    if ok:
        check_fields(plural, sel)
    else:
        with pytest.raises(SelectorError) as info:
            check_fields(plural, sel)
        assert str(info.value) == f"field label not supported: {field}"


def test_field_names_are_not_trimmed() -> None:
    with pytest.raises(SelectorError, match="field label not supported: metadata.name $"):
        check_fields("pods", parse_field_selector("metadata.name =x"))


def test_supported_fields_table() -> None:
    assert SUPPORTED_FIELDS["*"] == {"metadata.name", "metadata.namespace"}
    for fields in SUPPORTED_FIELDS.values():
        assert "metadata.name" in fields


# --- property-style checks (seeded; hypothesis is not a dependency) -------------------------

_KEYS = ["app", "tier", "in", "notin", "example.com/team", "a.b_c-d"]
_VALUES = ["", "web", "api", "x1", "3", "10"]


def _random_requirement(rng: random.Random) -> str:
    key = rng.choice(_KEYS)
    kind = rng.randrange(7)
    if kind == 0:
        return key
    if kind == 1:
        return f"!{key}"
    if kind == 2:
        return f"{key}{rng.choice(['=', '==', '!='])}{rng.choice(_VALUES)}"
    if kind == 3:
        values = ",".join(rng.sample(_VALUES, rng.randrange(1, 4)))
        return f"{key} {rng.choice(['in', 'notin'])} ({values})"
    if kind == 4:
        return f"{key}{rng.choice(['>', '<'])}{rng.randrange(-5, 20)}"
    return f"{key}={rng.choice(_VALUES)}"


def test_random_label_selectors_round_trip_and_match_consistently() -> None:
    rng = random.Random(20240613)
    for _ in range(500):
        text = ", ".join(_random_requirement(rng) for _ in range(rng.randrange(0, 5)))
        try:
            sel = parse_label_selector(text)
        except SelectorError:
            # Only gt/lt with a negative number is invalid here ("-5" is not a label value).
            assert re.search(r"[<>]-", text)
            continue
        again = parse_label_selector(str(sel))
        assert again == sel and str(again) == str(sel)
        labels = {k: rng.choice(_VALUES) for k in rng.sample(_KEYS, rng.randrange(0, 4))}
        # The AND of the parts equals the whole.
        parts = [parse_label_selector(p) for p in text.split(", ") if p]
        assert sel.matches(labels) == all(p.matches(labels) for p in parts)


def test_random_field_values_survive_escaping() -> None:
    rng = random.Random(7)
    alphabet = "ab,=\\ -"
    for _ in range(300):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 8)))
        sel = parse_field_selector(f"metadata.name={escape_field_value(value)},type!=x")
        assert sel.matches({"metadata": {"name": value}})
        assert parse_field_selector(str(sel)) == sel


def test_label_selector_is_hashable_and_immutable() -> None:
    sel = parse_label_selector("a=b")
    assert {sel: 1}[parse_label_selector("a = b")] == 1
    with pytest.raises(AttributeError):
        sel.requirements = ()  # type: ignore[misc]
    assert LabelSelector() == parse_label_selector("")


# --- hypothesis properties (run when hypothesis is installed; it is not a declared dependency)

try:
    from hypothesis import given
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - the seeded checks above still run
    st = None

if st is not None:
    _name = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?", fullmatch=True)
    _prefix = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?(\.[a-z0-9]{1,5})?",
                            fullmatch=True)
    _key = st.one_of(_name, st.builds(lambda p, n: f"{p}/{n}", _prefix, _name))
    _value = st.one_of(st.just(""), _name)
    _labels = st.dictionaries(_key, _value, max_size=4)

    @st.composite
    def _requirement_text(draw: st.DrawFn) -> str:
        key = draw(_key)
        op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "", "!", ">", "<"]))
        if op in ("in", "notin"):
            # Non-empty: apimachinery itself rejects some empty runs such as "(,,)".
            values = draw(st.lists(_name, min_size=1, max_size=3))
            return f"{key} {op} ({','.join(values)})"
        if op == "!":
            return f"!{key}"
        if op in (">", "<"):
            return f"{key}{op}{draw(st.integers(0, 10**6))}"
        return key if op == "" else f"{key}{op}{draw(_value)}"

    @given(st.lists(_requirement_text(), max_size=4), _labels)
    def test_hypothesis_label_round_trip(parts: list[str], labels: dict[str, str]) -> None:
        sel = parse_label_selector(" , ".join(parts))
        assert parse_label_selector(str(sel)) == sel
        assert sel.matches(labels) == all(parse_label_selector(p).matches(labels) for p in parts)

    @given(_key, _value, _labels)
    def test_hypothesis_equality_operators(key: str, value: str, labels: dict[str, str]) -> None:
        assert parse_label_selector(f"{key}={value}").matches(labels) == (labels.get(key) == value)
        assert parse_label_selector(f"{key}!={value}").matches(labels) == (
            labels.get(key) != value)
        assert parse_label_selector(f"{key} notin ({value})").matches(labels) == (
            labels.get(key) != value)
        assert parse_label_selector(key).matches(labels) == (key in labels)
        assert parse_label_selector(f"!{key}").matches(labels) == (key not in labels)

    @given(st.text(max_size=30))
    def test_hypothesis_label_parser_only_raises_selector_errors(text: str) -> None:
        try:
            parse_label_selector(text)
        except SelectorError:
            pass

    @given(st.text(max_size=20), st.sampled_from(["=", "!="]))
    def test_hypothesis_field_values_round_trip(value: str, op: str) -> None:
        sel = parse_field_selector(f"metadata.name{op}{escape_field_value(value)}")
        assert sel.requirements[0].value == value
        assert sel.matches({"metadata": {"name": value}}) == (op == "=")
        assert parse_field_selector(str(sel)) == sel

    @given(st.text(max_size=30))
    def test_hypothesis_field_parser_only_raises_selector_errors(text: str) -> None:
        try:
            parse_field_selector(text).matches({})
        except SelectorError:
            pass



_VERSION = {"Deployment": "apps/v1", "ReplicationController": "v1"}


@pytest.mark.parametrize(("kind", "selector", "labels", "field"), [
    ("Deployment", {"matchLabels": {"app": "a"}}, {"app": "b"}, "spec.template.metadata.labels"),
    ("Deployment", {}, {"app": "a"}, "spec.selector"),
    ("ReplicationController", {"app": "a"}, {"app": "b"}, "spec.template.metadata.labels"),
    ("ReplicationController", None, {"app": "a"}, "spec.selector"),
])
def test_a_selector_that_does_not_select_its_template_is_invalid(
        kind: str, selector: dict[str, object] | None, labels: dict[str, str],
        field: str) -> None:
    """Deployments (a LabelSelector) and v1 RCs (a plain label map) share one check: a
    missing selector, or one that does not select the template's pods, is 422 naming the
    field, as the real server says it; a selector that selects them is valid."""
    from drill.errors import ApiError
    from drill.resources import by_kind
    from drill.validation import validate

    rt = by_kind(_VERSION[kind], kind)

    def workload(sel: dict[str, object] | None, pod_labels: dict[str, str]) -> dict[str, object]:
        spec: dict[str, object] = {"replicas": 1, "template": {
            "metadata": {"labels": pod_labels},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}
        if sel is not None:
            spec["selector"] = sel
        return {"apiVersion": rt.api_version, "kind": kind, "metadata": {"name": "x"},
                "spec": spec}

    with pytest.raises(ApiError) as caught:
        validate(rt, workload(selector, labels), None)
    assert caught.value.code == 422
    assert field in str(caught.value.causes), caught.value.causes
    valid = {"matchLabels": {"app": "a"}} if kind == "Deployment" else {"app": "a"}
    validate(rt, workload(valid, {"app": "a"}), None)
