"""The whole-plan path reads every plan as the per-tenant paths do.

A big plan is checked field by field over all its tenants (``bulkcheck``): msgspec reads the
rows, straight from JSON or from the fast YAML loader's data, and each rule of the quick path
runs over a column. Each test here takes plans that are uniform, as big plans are, with a few
subtle edits (a blank, a control character, a snake_case key, a duplicate, a YAML 1.1 word...),
and compares the outcome, PlanSpec or every issue, with the same parse without the whole-plan
path, and with the reference (no shortcut at all).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchover.domain import bulkcheck, documents, planfile, planmodels
from switchover.domain.planfile import parse_plan_bytes, parse_plan_text
from switchover.domain.records import PlanSpec
from tests.domain.test_planfile_fast import (
    CAMEL_TO_SNAKE,
    Outcome,
    ints,
    ips,
    outcome,
    reference,
    rules,
    texts,
    valid_tenant,
    values,
)

CHECKS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def per_tenant(parse: Any, source: object) -> Outcome:
    """The outcome without the whole-plan path (the per-tenant quick path still on)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulkcheck, "json_rows", lambda source: None)
        patch.setattr(planfile, "_fast_yaml_rows", lambda data, source: None)
        return outcome(parse, source)


def taken(parse: Any, source: object) -> bool:
    """Whether the whole-plan path accepted the plan."""
    accepted = []
    check = bulkcheck.check

    def spy(*args: Any, **kwargs: Any) -> bulkcheck.Checked | None:
        result = check(*args, **kwargs)
        accepted.append(result is not None)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulkcheck, "check", spy)
        outcome(parse, source)
    return accepted == [True]


# --- uniform plans, subtly edited ------------------------------------------------------------

ODD_TEXTS = ["", " ", "\t", "a\tb", "a\nb", "x\x00", "a\x7f", "a\u00a0b", "a\u200bb", "\ud800"]
ODD_TEXTS += ["grün", "绿", "yes", "on", "No", "null", "~", "1:30", "010", "1e3", "2024-01-01"]
odd = st.sampled_from(ODD_TEXTS) | texts | values
CONFIG_EDITS = {
    "tenantId": st.sampled_from(["tenant-0001", "t 1", "", "x" * 65]) | odd,
    "planId": st.sampled_from(["p", "q", 7, -7, 2**70, "a b", "p.1"]) | odd,
    "planVersion": st.sampled_from([20, 19, 21, 0, -1, 2**63]) | ints | odd,
    "deployUnitId": ints | odd,
    "deployUnitVersion": ints | odd,
    "deployUnitName": odd,
    "nacosNameSpace": odd,
    "calledNumberRules": rules | odd,
    "trunkGroup": odd,
    "defaultFlag": st.booleans() | odd,
    # Fresh copies: a shared {} edited into itself would make the plan circular.
    "networkEndpoints": st.sampled_from([[], None, [1], "r"]).map(copy.deepcopy) | odd,
    "sourceTenantDeployConfig": st.sampled_from([{}, None, [], "x"]).map(copy.deepcopy),
}
ENDPOINT_EDITS = {
    "key": st.sampled_from(["tenant-0000-r", "r2"]) | odd,
    "sourceIp": ips | odd,
    "sourceDomain": odd,
    "targetIp": ips | odd,
    "targetDomain": odd,
}


@st.composite
def edits(draw: st.DrawFn, tenants: list[dict[str, Any]]) -> None:
    """One edit, in place: a field set, removed or spelled otherwise, a key added, a route
    added, a tenant repeated."""
    tenant = draw(st.sampled_from(tenants))
    target = tenant
    if draw(st.booleans()) and isinstance(tenant.get("sourceTenantDeployConfig"), dict):
        target = tenant["sourceTenantDeployConfig"]
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        key = draw(st.sampled_from(sorted(CONFIG_EDITS)))
        target[key] = draw(CONFIG_EDITS[key])
    elif kind == 5:
        key = draw(st.sampled_from(sorted(target)))
        del target[key]
    elif kind == 6:
        key = draw(st.sampled_from(sorted(k for k in target if k in CAMEL_TO_SNAKE)))
        target[CAMEL_TO_SNAKE[key]] = target.pop(key)
    elif kind == 7:
        target[draw(st.sampled_from(["gmtCreate", "nacos_namespace", "extra"]))] = draw(values)
    else:
        routes = target.get("networkEndpoints")
        if not isinstance(routes, list) or not routes or not isinstance(routes[0], dict):
            tenants.append(copy.deepcopy(tenant))  # a duplicate tenantId
            return
        if kind == 8:
            routes.append(copy.deepcopy(routes[0]))
        key = draw(st.sampled_from(sorted(ENDPOINT_EDITS)))
        if draw(st.integers(0, 4)) == 0:
            routes[-1].pop(key, None)
        else:
            routes[-1][key] = draw(ENDPOINT_EDITS[key])


@st.composite
def uniform_plans(draw: st.DrawFn) -> object:
    """A plan of tenants like the benchmark's, a few of them edited."""
    count = draw(st.integers(1, 5))
    tenants = [valid_tenant(index) for index in range(count)]
    if draw(st.booleans()):
        for tenant in tenants:
            tenant["planId"] = draw(st.sampled_from(["p", 7]))
    if draw(st.integers(0, 3)) == 0:
        for tenant in tenants:
            del tenant["sourceTenantDeployConfig"]
    for _ in range(draw(st.integers(0, 3))):
        draw(edits(tenants))
    if draw(st.integers(0, 4)) == 0:
        return tenants
    section: dict[str, Any] = {"id": "p", "version": 20}
    if draw(st.booleans()):
        section = draw(
            st.sampled_from(
                [
                    {"version": 20},
                    {"id": "p"},
                    {},
                    {"id": "q", "version": 21, "max_concurrency": 3},
                    {"id": "p", "version": 20, "waves": [1, "100%"], "bake": 5},
                    {"id": "p", "version": 20, "bake": 5},
                    {"id": "p", "version": 20, "unknown": 1},
                    {"id": "yes", "version": 20},
                ]
            )
        )
    return {"plan": section, "tenants": tenants}


def as_text(data: object, style: str) -> str:
    if style == "json":
        return json.dumps(data)
    if style == "json-ascii":
        return json.dumps(data, ensure_ascii=True, indent=1)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=style == "yaml-unicode")


STYLES = st.sampled_from(["json", "json-ascii", "yaml", "yaml-unicode"])


@CHECKS
@given(data=uniform_plans(), style=STYLES)
def test_uniform_plans_read_as_without_the_whole_plan_path(data: object, style: str) -> None:
    """Same PlanSpec or the same issues, from text and from bytes, as the per-tenant path and
    the reference give."""
    text = as_text(data, style)
    found = outcome(parse_plan_text, text)
    assert found == per_tenant(parse_plan_text, text)
    assert found == reference(parse_plan_text, text)
    assert outcome(parse_plan_bytes, text.encode()) == found


@CHECKS
@given(data=uniform_plans())
def test_uniform_yaml_1_1_words_read_as_pyyaml_reads_them(data: object) -> None:
    """Values put in as plain YAML scalars that YAML 1.1 reads otherwise (yes, on, 1:30, ~)."""
    text = yaml.safe_dump(data, sort_keys=False)
    for word in ("yes", "on", "Off", "1:30", "~", "=", "0x1F", "NO"):
        edited = text.replace("blue\n", f"{word}\n", 1).replace(": ns\n", f": {word}\n", 1)
        found = outcome(parse_plan_text, edited)
        assert found == per_tenant(parse_plan_text, edited)
        assert found == reference(parse_plan_text, edited)


def benchmark_plan(count: int) -> dict[str, Any]:
    return {"plan": {"id": "p", "version": 20}, "tenants": [valid_tenant(i) for i in range(count)]}


@pytest.mark.parametrize("style", ["json", "json-ascii", "yaml", "yaml-unicode"])
def test_a_uniform_plan_takes_the_whole_plan_path(style: str) -> None:
    """A plan shaped like the benchmark's is read whole, and builds the reference PlanSpec."""
    text = as_text(benchmark_plan(50), style)
    assert taken(parse_plan_bytes, text.encode())
    spec = parse_plan_bytes(text.encode())
    assert isinstance(spec, PlanSpec)
    assert spec == reference(parse_plan_text, text)
    assert spec == per_tenant(parse_plan_text, text)


@pytest.mark.parametrize(
    ("edit", "whole"),
    [
        (lambda t: t, True),
        (lambda t: t.update(planId=7), True),  # integers as plan ids
        (lambda t: t.update(trunkGroup=" ", calledNumberRules=""), True),  # blanks are none
        (lambda t: t["networkEndpoints"][0].update(sourceIp="", sourceDomain="d"), True),
        (lambda t: t.update(nacosNameSpace="grün"), True),  # printable, not ASCII
        (lambda t: t.pop("sourceTenantDeployConfig"), True),
        (lambda t: t.update(networkEndpoints=[]), True),
        (lambda t: t.update(tenant_id=t.pop("tenantId")), False),  # snake_case: translated
        (lambda t: t.update(gmtCreate="2024"), False),  # unknown: ignored, depth bounded
        (lambda t: t.update(deployUnitName=" "), False),  # a problem
        (lambda t: t.update(nacosNameSpace="a\u00a0b"), False),  # the exact path decides
    ],
)
def test_which_plans_are_read_whole(edit: Any, whole: bool) -> None:
    """What the whole-plan path takes, and what it leaves to the per-tenant path."""
    data = benchmark_plan(3)
    edit(data["tenants"][1])
    text = json.dumps(data, ensure_ascii=False)
    assert taken(parse_plan_bytes, text.encode()) is whole
    assert outcome(parse_plan_bytes, text.encode()) == reference(parse_plan_text, text)


def test_the_rows_know_every_field_of_the_models() -> None:
    """The rows hold exactly the fields the exact path's models read, in upstream's spelling:
    a field added to the models and not here would only send plans the per-tenant way, but
    one here and not there would be read where the models ignore it."""

    def aliases(model: type[Any]) -> set[str]:
        return {field.alias or name for name, field in model.model_fields.items()}

    tenant = bulkcheck._Tenant.__struct_encode_fields__
    previous = bulkcheck._Previous.__struct_encode_fields__
    assert set(tenant) == aliases(planmodels.TenantDeployConfigInput)
    assert set(previous) == aliases(planmodels.SourceTenantDeployConfigInput) - {
        "sourceTenantDeployConfig"
    }
    assert set(bulkcheck._Endpoint.__struct_encode_fields__) == aliases(
        planmodels.NetworkEndpointInput
    )


@pytest.mark.parametrize(
    ("text", "printable"),
    [
        ('{"a": "plain text"}', True),
        ('{"a": "tab\\tescaped"}', False),
        ('{"a": "\\u00e9"}', False),
        ('{"a": "é"}', False),
        ('{"a": "del\x7f"}', False),
    ],
)
def test_json_text_vouches_for_its_strings_only_when_it_can(text: str, printable: bool) -> None:
    """No escape, no DEL, only ASCII: then every string is printable."""
    rows = bulkcheck.json_rows(('{"tenants": [], "plan": ' + text + "}").encode())
    assert rows is not None
    assert rows.printable is printable


@pytest.mark.parametrize(
    ("text", "printable", "blank_free"),
    [
        ("a: x\nb: y\n", True, True),
        ("a: 'x'\nb: y\n", True, False),  # quoted: it may be blank
        ('a: " "\n', True, False),
        ("a: 'x\n\n  y'\n", False, False),  # a blank line in a scalar is a line break
        ("a: 'x\n  \n  y'\n", False, False),
        ("a: grün\n", False, False),
        ("a: x \nb: y\n", False, False),
    ],
)
def test_yaml_text_vouches_for_its_strings_only_when_it_can(
    text: str, printable: bool, blank_free: bool
) -> None:
    assert bulkcheck.yaml_strings(text) == (printable, blank_free)
    assert bulkcheck.yaml_strings(text.encode()) == (printable, blank_free)
    loaded, exact = documents.load_yaml_fast(text)
    assert not exact
    strings = list(loaded.values())  # type: ignore[attr-defined]
    if printable:
        assert all(value.isprintable() for value in strings)
    if blank_free:
        assert all(value.strip() for value in strings)


def test_a_rejected_yaml_plan_is_read_again_by_pyyaml() -> None:
    """A YAML plan with a problem that the whole-plan path turns down is worded from PyYAML's
    data, as the per-tenant path has it."""
    data = benchmark_plan(3)
    data["tenants"][2]["deployUnitName"] = "  "
    text = yaml.safe_dump(data, sort_keys=False)
    found = outcome(parse_plan_bytes, text.encode())
    assert not isinstance(found, PlanSpec)
    assert found == per_tenant(parse_plan_text, text) == reference(parse_plan_text, text)


@pytest.mark.parametrize(
    "text",
    [
        "- tenantId: t1\n  planId: p\n  planVersion: 1\n",  # read by yaml_rs, from the bytes
        "- &a {tenantId: t1, planId: p, planVersion: 1}\n",  # left to PyYAML
        "- tenantId: t1\n  planId: p\n  planVersion: 1\n  deployUnitName: 2024-01-01\n",
        "- tenantId: t1\n  planId: p\n  planVersion: 1\n  deployUnitName: grün\n",
        "[{tenantId: t1, planId: p, planVersion: 1}]\n",  # flow style: JSON refuses it
        '[{"tenantId": "t1", "planId": "p", "planVersion": 1}]',
        "- tenantId: t1\n  planId: p\n  planVersion: yes\n",
        "",
    ],
)
def test_bytes_read_as_text_does(text: str) -> None:
    """ASCII bytes are read without being decoded first, wherever that is possible: the same
    outcome as from the text, and as the reference."""
    found = outcome(parse_plan_bytes, text.encode())
    assert found == outcome(parse_plan_text, text)
    assert found == reference(parse_plan_text, text)
