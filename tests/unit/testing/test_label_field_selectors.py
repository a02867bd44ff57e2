import pytest

from mcm.testing.selectors import (
    FieldSelector,
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    field_value,
)

LABELS = {"app": "web", "tier": "front", "replicas": "3", "example.com/role": "edge"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        pytest.param("", True, id="empty-matches-everything"),
        pytest.param("app=web", True, id="equals"),
        pytest.param("app==web", True, id="double-equals"),
        pytest.param("app=db", False, id="equals-other-value"),
        pytest.param("app!=db", True, id="not-equals"),
        pytest.param("app!=web", False, id="not-equals-same-value"),
        pytest.param("missing!=x", True, id="not-equals-matches-a-missing-key"),
        pytest.param("missing=x", False, id="equals-needs-the-key"),
        pytest.param("app in (web, db)", True, id="in"),
        pytest.param("app in (db)", False, id="in-other-values"),
        pytest.param("app notin (db,cache)", True, id="notin"),
        pytest.param("missing notin (x)", True, id="notin-matches-a-missing-key"),
        pytest.param("app notin (web)", False, id="notin-same-value"),
        pytest.param("tier", True, id="exists"),
        pytest.param("missing", False, id="exists-missing"),
        pytest.param("!missing", True, id="does-not-exist"),
        pytest.param("!tier", False, id="does-not-exist-present"),
        pytest.param("replicas>2", True, id="greater-than"),
        pytest.param("replicas<3", False, id="less-than"),
        pytest.param("example.com/role=edge", True, id="prefixed-key"),
        pytest.param("app=web, tier in (front,back), !missing", True, id="all-requirements-hold"),
        pytest.param("app=web,tier=back", False, id="one-requirement-fails"),
    ],
)
def test_label_selectors_match_as_the_api_server_does(selector: str, matches: bool) -> None:
    parsed = LabelSelector.parse(selector)

    assert parsed.matches(LABELS) is matches


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param("app=", id="empty-value-is-allowed"),
        pytest.param("app = web", id="spaces-around-the-operator"),
    ],
)
def test_label_selectors_accept_lenient_spellings(selector: str) -> None:
    LabelSelector.parse(selector)


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param("app=web,", id="trailing-comma"),
        pytest.param("app in ()", id="empty-set"),
        pytest.param("app in (a", id="unclosed-set"),
        pytest.param("app in a", id="set-without-parentheses"),
        pytest.param("=web", id="no-key"),
        pytest.param("-bad=web", id="invalid-key"),
        pytest.param("app=-bad-", id="invalid-value"),
        pytest.param("replicas>x", id="non-numeric-bound"),
        pytest.param("app web", id="two-words"),
    ],
)
def test_malformed_label_selectors_raise_selector_error(selector: str) -> None:
    with pytest.raises(SelectorError):
        LabelSelector.parse(selector)


def test_a_label_selector_prints_back_to_an_equivalent_string() -> None:
    selector = LabelSelector.parse("app=web,tier in (a,b),!gone,there")

    reparsed = LabelSelector.parse(str(selector))

    assert reparsed == selector


def test_from_dict_reads_match_labels_and_match_expressions() -> None:
    selector = LabelSelector.from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        }
    )

    assert selector.requirements == (
        Requirement("app", Operator.EQUALS, ("web",)),
        Requirement("tier", Operator.IN, ("front", "back")),
        Requirement("canary", Operator.DOES_NOT_EXIST),
    )
    assert selector.matches({"app": "web", "tier": "back"})
    assert not selector.matches({"app": "web", "tier": "back", "canary": "yes"})


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Near"}]}, id="unknown-operator"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In"}]}, id="in-without-values"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            id="exists-with-values",
        ),
    ],
)
def test_from_dict_rejects_invalid_expressions(raw: dict[str, object]) -> None:
    with pytest.raises(SelectorError):
        LabelSelector.from_dict(raw)


def test_an_empty_label_selector_dict_is_empty() -> None:
    assert LabelSelector.from_dict({}).empty


POD = {
    "metadata": {"name": "p1", "namespace": "ns"},
    "spec": {"nodeName": "node-1", "hostNetwork": True, "priority": 7},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        pytest.param("", True, id="empty-matches-everything"),
        pytest.param("metadata.name=p1", True, id="name"),
        pytest.param("metadata.namespace==ns", True, id="namespace-double-equals"),
        pytest.param("spec.nodeName=node-1", True, id="node-name"),
        pytest.param("spec.nodeName!=node-1", False, id="node-name-not-equals"),
        pytest.param("status.phase!=Succeeded,status.phase!=Failed", True, id="two-requirements"),
        pytest.param("spec.nodeName=", False, id="empty-value-needs-an-empty-field"),
        pytest.param("spec.missing=", True, id="missing-field-reads-empty"),
        pytest.param("spec.hostNetwork=true", True, id="booleans-read-lowercase"),
        pytest.param("spec.priority=7", True, id="numbers-read-as-text"),
    ],
)
def test_field_selectors_match_dotted_paths(selector: str, matches: bool) -> None:
    parsed = FieldSelector.parse(selector)

    assert parsed.matches(POD) is matches


def test_field_selector_values_may_escape_commas_and_equals() -> None:
    obj = {"metadata": {"name": "a,b=c\\d"}}

    selector = FieldSelector.parse(r"metadata.name=a\,b\=c\\d")

    assert selector.matches(obj)
    assert FieldSelector.parse(str(selector)) == selector


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param("metadata.name", id="no-operator"),
        pytest.param("=x", id="no-field"),
        pytest.param("a=b,", id="trailing-comma"),
        pytest.param(r"a=b\x", id="bad-escape"),
    ],
)
def test_malformed_field_selectors_raise_selector_error(selector: str) -> None:
    with pytest.raises(SelectorError):
        FieldSelector.parse(selector)


def test_field_value_of_an_object_or_list_reads_empty() -> None:
    assert field_value(POD, "spec") == ""
    assert field_value(POD, "metadata.name.deeper") == ""
