"""Plan-file parsing and validation: both shapes, both spellings, every rule, every error."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from switchover.domain import planfile
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.documents import MAX_DEPTH
from switchover.domain.planfile import (
    parse_plan_bytes,
    parse_plan_data,
    parse_plan_text,
)
from switchover.domain.records import PlanSpec
from switchover.errors import PlanValidationError, ValidationIssue

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def tenant(tenant_id: object = "t1", **fields: Any) -> dict[str, Any]:
    """A minimal valid upstream (camelCase) tenant config, plus ``fields``."""
    return {"tenantId": tenant_id, "planId": "p1", "planVersion": 20, **fields}


def doc(*tenants: object, **plan: Any) -> dict[str, Any]:
    """A document-shape plan ``p1`` version 20 holding ``tenants``."""
    return {"plan": {"id": "p1", "version": 20, **plan}, "tenants": list(tenants)}


def issues_of(data: object) -> list[ValidationIssue]:
    """The issues ``parse_plan_data`` raises for ``data`` (fails if it accepts it)."""
    with pytest.raises(PlanValidationError) as info:
        parse_plan_data(data)
    return list(info.value.issues)


def where(data: object) -> set[tuple[str | None, str]]:
    """(tenant, field) of every issue raised for ``data``."""
    return {(issue.tenant, issue.field) for issue in issues_of(data)}


def only_issue(data: object) -> ValidationIssue:
    """The single issue raised for ``data``."""
    issues = issues_of(data)
    assert len(issues) == 1, issues
    return issues[0]


def one_config(data: object) -> TenantConfig:
    """The config of the only tenant of an accepted plan."""
    (spec,) = parse_plan_data(data).tenants
    return spec.config


# --- accepted shapes -------------------------------------------------------------------------

DOCUMENT_YAML = """
plan:
  id: demo
  version: 20
  max_concurrency: 3
  name: Demo
  description: a small plan
tenants:
  - tenantId: t1
    deployUnitId: 7
    deployUnitVersion: 3
    deployUnitName: green
    nacosNameSpace: ns-1
    defaultFlag: true
    calledNumberRules: " 1001, 1002 ,,1003 "
    trunkGroup: tg-green
    networkEndpoints:
      - key: route-1
        sourceIp: 192.0.2.1
        sourceDomain: gw.example.com
        targetIp: 198.51.100.7
    sourceTenantDeployConfig:
      planId: demo-19
      planVersion: 19
      deployUnitName: blue
      calledNumberRules: "1001"
      trunkGroup: tg-blue
  - tenantId: t2
    deployUnitName: green
"""


def test_document_shape_yaml_builds_the_plan_spec() -> None:
    """A YAML document yields plan id, version, concurrency and fully mapped tenant configs."""
    spec = parse_plan_text(DOCUMENT_YAML)
    assert (spec.plan_id, spec.version, spec.max_concurrency) == ("demo", 20, 3)
    first, second = spec.tenants
    assert first.config == TenantConfig(
        tenant_id="t1",
        plan_id="demo",
        plan_version=20,
        deploy_unit_id=7,
        deploy_unit_version=3,
        deploy_unit_name="green",
        network_endpoints=(
            NetworkEndpoint(
                key="route-1",
                source_ip="192.0.2.1",
                source_domain="gw.example.com",
                target_ip="198.51.100.7",
            ),
        ),
        nacos_namespace="ns-1",
        called_number_rules=("1001", "1002", "1003"),
        trunk_group="tg-green",
        default_flag=True,
    )
    assert first.previous == TenantConfig(
        tenant_id="t1",
        plan_id="demo-19",
        plan_version=19,
        deploy_unit_name="blue",
        called_number_rules=("1001",),
        trunk_group="tg-blue",
    )
    assert second.config == TenantConfig("t2", "demo", 20, deploy_unit_name="green")
    assert second.previous is None


def test_document_shape_accepts_camel_case_max_concurrency() -> None:
    """``plan.maxConcurrency`` is accepted as well as ``plan.max_concurrency``."""
    assert parse_plan_data(doc(tenant(), maxConcurrency=5)).max_concurrency == 5


def test_max_concurrency_defaults_to_the_callers_default() -> None:
    """Without max_concurrency the plan uses ``default_max_concurrency`` (10 unless given)."""
    assert parse_plan_data(doc(tenant())).max_concurrency == 10
    assert parse_plan_data([tenant()], default_max_concurrency=4).max_concurrency == 4


def test_default_max_concurrency_below_one_is_a_programming_error() -> None:
    """A caller's default below 1 raises ValueError, not a plan validation error."""
    with pytest.raises(ValueError, match="default_max_concurrency"):
        parse_plan_data([tenant()], default_max_concurrency=0)


def test_list_shape_json_upstream_configs() -> None:
    """A JSON list of upstream configs: integer planId becomes a string, order is kept."""
    text = json.dumps(
        [
            {"tenantId": "b", "planId": 1042, "planVersion": 7, "deployUnitName": "green"},
            {"tenantId": "a", "planId": 1042, "planVersion": 7, "deployUnitName": "green"},
        ]
    )
    spec = parse_plan_text(text)
    assert (spec.plan_id, spec.version, spec.max_concurrency) == ("1042", 7, 10)
    assert [t.config.tenant_id for t in spec.tenants] == ["b", "a"]
    assert all(t.config.plan_id == "1042" for t in spec.tenants)


def test_list_shape_yaml() -> None:
    """The list shape also works as YAML."""
    spec = parse_plan_text("- tenantId: t1\n  planId: p\n  planVersion: 3\n")
    assert (spec.plan_id, spec.version) == ("p", 3)


def test_document_shape_json() -> None:
    """The document shape also works as JSON (with leading whitespace)."""
    spec = parse_plan_text("\n  " + json.dumps(doc(tenant())))
    assert (spec.plan_id, spec.version) == ("p1", 20)


def test_yaml_flow_style_starting_with_a_bracket_is_accepted() -> None:
    """Text starting with '[' that is not JSON falls back to YAML."""
    spec = parse_plan_text("[{tenantId: t1, planId: p, planVersion: 1}]")
    assert spec.tenants[0].config.tenant_id == "t1"


def test_snake_case_tenant_keys_are_accepted() -> None:
    """Every tenant field may be written in snake_case, including the nested previous config."""
    data = {
        "plan": {"id": "p1", "version": 20},
        "tenants": [
            {
                "tenant_id": "t1",
                "plan_id": "p1",
                "plan_version": 20,
                "deploy_unit_id": 1,
                "deploy_unit_version": 2,
                "deploy_unit_name": "green",
                "nacos_name_space": "ns",
                "called_number_rules": "1,2",
                "trunk_group": "tg",
                "default_flag": False,
                "network_endpoints": [
                    {"key": "r", "source_domain": "a.example.com", "target_ip": "192.0.2.9"}
                ],
                "source_tenant_deploy_config": {"plan_version": 19, "deploy_unit_name": "blue"},
            }
        ],
    }
    (spec,) = parse_plan_data(data).tenants
    assert spec.config == TenantConfig(
        tenant_id="t1",
        plan_id="p1",
        plan_version=20,
        deploy_unit_id=1,
        deploy_unit_version=2,
        deploy_unit_name="green",
        network_endpoints=(
            NetworkEndpoint(key="r", source_domain="a.example.com", target_ip="192.0.2.9"),
        ),
        nacos_namespace="ns",
        called_number_rules=("1", "2"),
        trunk_group="tg",
        default_flag=False,
    )
    assert spec.previous == TenantConfig("t1", "p1", 19, deploy_unit_name="blue")


def test_nacos_namespace_is_also_accepted_as_written_in_the_domain() -> None:
    """``nacos_namespace`` (the domain's own spelling) is accepted too."""
    assert one_config(doc(tenant(nacos_namespace="ns-x"))).nacos_namespace == "ns-x"


def test_unknown_tenant_keys_are_ignored() -> None:
    """Upstream sends fields we do not use; they are ignored, not errors."""
    config = one_config(doc(tenant(gmtCreate="2024-01-01", operator={"name": "x"})))
    assert config.tenant_id == "t1"


def test_unknown_plan_section_key_is_an_error() -> None:
    """A typo in the plan section is reported with its path."""
    issue = only_issue(doc(tenant(), max_concurency=3))
    assert (issue.tenant, issue.field) == (None, "plan.max_concurency")
    assert "unknown" in issue.message


def test_unknown_top_level_key_is_an_error() -> None:
    """Only ``plan`` and ``tenants`` are allowed at the top of a document."""
    data = {**doc(tenant()), "tennants": []}
    assert where(data) == {(None, "tennants")}


@pytest.mark.parametrize("data", [None, 42, "text", {"plan": {"id": "p", "version": 1}}])
def test_top_level_of_neither_shape_is_an_error(data: object) -> None:
    """Anything but a list or a document with tenants is one 'file' issue naming both shapes."""
    issue = only_issue(data)
    assert (issue.tenant, issue.field) == (None, "file")
    assert "list of tenant configs" in issue.message


def test_tenants_must_be_a_list() -> None:
    """``tenants`` holding a mapping is reported on ``tenants``."""
    assert where({"plan": {"id": "p", "version": 1}, "tenants": {"tenantId": "t1"}}) == {
        (None, "tenants")
    }


@pytest.mark.parametrize("data", [[], {"plan": {"id": "p", "version": 1}, "tenants": []}])
def test_at_least_one_tenant_is_required(data: object) -> None:
    """An empty plan is rejected."""
    issues = issues_of(data)
    assert (None, "tenants") in {(i.tenant, i.field) for i in issues}
    assert any("at least one tenant" in i.message for i in issues)


def test_a_tenant_entry_that_is_not_a_mapping_is_an_error() -> None:
    """A scalar in the tenant list is reported against its 1-based position."""
    assert where(doc(tenant(), "t2")) == {("#2", "config")}


# --- syntax errors ---------------------------------------------------------------------------


def test_yaml_syntax_error_reports_line_and_column() -> None:
    """Broken YAML is one 'file' issue with a 1-based line and column."""
    with pytest.raises(PlanValidationError) as info:
        parse_plan_text("plan:\n  id: p\n  version: : 3\n")
    (issue,) = info.value.issues
    assert (issue.tenant, issue.field) == (None, "file")
    assert "YAML" in issue.message
    assert "line 3" in issue.message
    assert "column" in issue.message


def test_json_syntax_error_reports_line_and_column() -> None:
    """Broken JSON (not rescued by YAML) is one 'file' issue with line and column."""
    with pytest.raises(PlanValidationError) as info:
        parse_plan_text('{\n  "plan": {"id": "p",\n  "tenants": [\n')
    (issue,) = info.value.issues
    assert (issue.tenant, issue.field) == (None, "file")
    assert "JSON" in issue.message
    assert "line" in issue.message
    assert "column" in issue.message


def test_empty_text_is_an_error() -> None:
    """An empty file is neither shape."""
    with pytest.raises(PlanValidationError) as info:
        parse_plan_text("")
    assert info.value.issues[0].field == "file"


# --- tenantId --------------------------------------------------------------------------------


def test_tenant_id_is_required() -> None:
    """A tenant without tenantId is reported by position."""
    data = doc({"deployUnitName": "green"})
    assert where(data) == {("#1", "tenantId")}


@pytest.mark.parametrize("bad", ["", "a b", "t.1", "x" * 65, "tenänt", "t1\n"])
def test_tenant_id_must_match_the_pattern(bad: str) -> None:
    """tenantId is 1-64 of letters, digits, '_' and '-'; anything else is an issue."""
    issue = only_issue(doc(tenant(bad)))
    assert (issue.tenant, issue.field) == ("#1", "tenantId")


def test_tenant_id_must_be_a_string() -> None:
    """A numeric tenantId is a type issue."""
    issue = only_issue(doc(tenant(123)))
    assert (issue.tenant, issue.field) == ("#1", "tenantId")
    assert "string" in issue.message


@pytest.mark.parametrize("good", ["x" * 64, "A_b-9", "1"])
def test_tenant_id_edge_values_are_accepted(good: str) -> None:
    """64 characters, mixed case, '_' and '-' and a single digit are valid ids."""
    assert one_config(doc(tenant(good))).tenant_id == good


def test_duplicate_tenant_id_is_reported_on_the_later_tenant() -> None:
    """The second occurrence of a tenantId carries the issue, naming the first entry."""
    issues = issues_of(doc(tenant("a"), tenant("b"), tenant("a")))
    assert [(i.tenant, i.field) for i in issues] == [("a", "tenantId")]
    assert "#1" in issues[0].message


# --- planId / planVersion --------------------------------------------------------------------


def test_tenant_without_plan_id_and_version_takes_the_plans() -> None:
    """In the document shape, tenants may omit planId/planVersion."""
    config = one_config(doc({"tenantId": "t1"}))
    assert (config.plan_id, config.plan_version) == ("p1", 20)


def test_integer_plan_id_in_plan_section_becomes_a_string() -> None:
    """plan.id may be an integer; tenants giving the same number as text agree with it."""
    spec = parse_plan_data(
        {"plan": {"id": 77, "version": 1}, "tenants": [{"tenantId": "t", "planId": "77"}]}
    )
    assert spec.plan_id == "77"


@pytest.mark.parametrize("bad", ["a b", "", "x" * 65, "p/1"])
def test_plan_id_must_match_the_pattern(bad: str) -> None:
    """planId is 1-64 of letters, digits, '_', '.' and '-'."""
    issue = only_issue([tenant(planId=bad)])
    assert (issue.tenant, issue.field) == ("t1", "planId")


@pytest.mark.parametrize("bad", [True, 1.5, {"id": 1}, ["p"]])
def test_plan_id_must_be_a_string_or_an_integer(bad: object) -> None:
    """A bool, float or list planId is rejected (bool is not an integer)."""
    issue = only_issue([tenant(planId=bad)])
    assert (issue.tenant, issue.field) == ("t1", "planId")


def test_plan_id_with_dots_is_valid() -> None:
    """Dots are allowed in a planId."""
    assert parse_plan_data([tenant(planId="2024.06-a_b")]).plan_id == "2024.06-a_b"


def test_tenant_plan_id_differing_from_the_plan_is_an_issue() -> None:
    """In the document shape the plan's id wins; a different tenant planId is an issue."""
    issue = only_issue(doc(tenant("t1"), tenant("t2", planId="other")))
    assert (issue.tenant, issue.field) == ("t2", "planId")
    assert "other" in issue.message
    assert "p1" in issue.message


def test_list_shape_tenants_must_agree_on_plan_id() -> None:
    """In the list shape the first tenant defines planId; a disagreeing one is an issue."""
    assert where([tenant("t1"), tenant("t2", planId="p2"), tenant("t3")]) == {("t2", "planId")}


def test_list_shape_tenant_missing_plan_id_takes_the_first_tenants() -> None:
    """A tenant that omits planId in the list shape gets the one the others agree on."""
    spec = parse_plan_data([tenant("t1"), {"tenantId": "t2", "planVersion": 20}])
    assert spec.tenants[1].config.plan_id == "p1"


def test_list_shape_plan_id_missing_everywhere_is_a_plan_issue() -> None:
    """No planId anywhere in a list-shape plan is one plan-level issue."""
    issue = only_issue([{"tenantId": "t1", "planVersion": 1}])
    assert (issue.tenant, issue.field) == (None, "planId")
    assert issue.message == "planId is required"


def test_document_shape_plan_id_missing_everywhere_is_a_plan_issue() -> None:
    """No plan.id and no tenant planId is an issue on plan.id."""
    issue = only_issue({"plan": {"version": 1}, "tenants": [{"tenantId": "t1"}]})
    assert (issue.tenant, issue.field) == (None, "plan.id")


def test_document_without_plan_section_takes_ids_from_tenants() -> None:
    """A document without ``plan`` works like the list shape."""
    spec = parse_plan_data({"tenants": [tenant()]})
    assert (spec.plan_id, spec.version) == ("p1", 20)


def test_invalid_plan_section_id_is_reported_once() -> None:
    """A bad plan.id is one issue; it does not also count as missing."""
    issue = only_issue({"plan": {"id": "a b", "version": 1}, "tenants": [{"tenantId": "t"}]})
    assert (issue.tenant, issue.field) == (None, "plan.id")


@pytest.mark.parametrize("bad", [-1, True, "20", 20.0])
def test_plan_version_must_be_a_non_negative_integer(bad: object) -> None:
    """planVersion must be an int ≥ 0; bools, strings and floats are not ints."""
    issue = only_issue([tenant(planVersion=bad)])
    assert (issue.tenant, issue.field) == ("t1", "planVersion")


def test_plan_version_zero_is_valid() -> None:
    """Version 0 is a valid version."""
    assert parse_plan_data([tenant(planVersion=0)]).version == 0


def test_tenant_plan_version_differing_from_the_plan_is_an_issue() -> None:
    """plan.version wins; a tenant with another planVersion is an issue."""
    assert where(doc(tenant("t1", planVersion=21))) == {("t1", "planVersion")}


def test_list_shape_tenants_must_agree_on_plan_version() -> None:
    """In the list shape all tenants share planVersion; the first one defines it."""
    assert where([tenant("t1"), tenant("t2", planVersion=19)]) == {("t2", "planVersion")}


def test_list_shape_plan_version_missing_everywhere_is_a_plan_issue() -> None:
    """No planVersion anywhere is one plan-level issue."""
    issue = only_issue([{"tenantId": "t1", "planId": "p"}])
    assert (issue.tenant, issue.field, issue.message) == (
        None,
        "planVersion",
        "planVersion is required",
    )


@pytest.mark.parametrize("bad", [0, -3, True, "4"])
def test_max_concurrency_must_be_a_positive_integer(bad: object) -> None:
    """plan.max_concurrency is an int ≥ 1."""
    assert where(doc(tenant(), max_concurrency=bad)) == {(None, "plan.max_concurrency")}


# --- deploy unit, flags ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["deployUnitId", "deployUnitVersion"])
def test_deploy_unit_numbers_must_be_integers(name: str) -> None:
    """deployUnitId and deployUnitVersion are integers."""
    assert where(doc(tenant(**{name: "seven"}))) == {("t1", name)}


@pytest.mark.parametrize("bad", ["", "   "])
def test_deploy_unit_name_must_not_be_empty(bad: str) -> None:
    """A present deployUnitName must not be empty or blank."""
    issue = only_issue(doc(tenant(deployUnitName=bad)))
    assert (issue.tenant, issue.field) == ("t1", "deployUnitName")
    assert "empty" in issue.message


def test_default_flag_must_be_a_bool() -> None:
    """defaultFlag is true/false, not a string."""
    assert where(doc(tenant(defaultFlag="yes"))) == {("t1", "defaultFlag")}


def test_nacos_namespace_must_be_a_string() -> None:
    """nacosNameSpace is a string."""
    assert where(doc(tenant(nacosNameSpace=5))) == {("t1", "nacosNameSpace")}


# --- network endpoints -----------------------------------------------------------------------


def endpoint(**fields: Any) -> dict[str, Any]:
    """A valid endpoint (ip source, domain target) overridden by ``fields``."""
    return {"key": "r1", "sourceIp": "192.0.2.1", "targetDomain": "green.example.com", **fields}


def test_network_endpoints_are_parsed_in_order() -> None:
    """Endpoints keep their order and values."""
    config = one_config(doc(tenant(networkEndpoints=[endpoint(), endpoint(key="r2")])))
    assert [e.key for e in config.network_endpoints] == ["r1", "r2"]
    assert config.network_endpoints[0].source_ip == "192.0.2.1"


def test_endpoint_key_is_required() -> None:
    """An endpoint without key is an issue on its indexed path."""
    ep = endpoint()
    del ep["key"]
    assert where(doc(tenant(networkEndpoints=[endpoint(), ep]))) == {
        ("t1", "networkEndpoints[1].key")
    }


def test_endpoint_key_must_not_be_blank() -> None:
    """A blank key is as bad as none."""
    assert where(doc(tenant(networkEndpoints=[endpoint(key=" ")]))) == {
        ("t1", "networkEndpoints[0].key")
    }


@pytest.mark.parametrize("bad", ["999.1.1.1", "10.0.0", "2001:db8::1", "gw.example.com", 17])
def test_endpoint_ip_must_be_dotted_ipv4(bad: object) -> None:
    """sourceIp/targetIp must be dotted IPv4 addresses."""
    data = doc(tenant(networkEndpoints=[endpoint(targetIp=bad)]))
    assert where(data) == {("t1", "networkEndpoints[0].targetIp")}


@pytest.mark.parametrize("side", ["source", "target"])
def test_each_endpoint_side_needs_an_ip_or_a_domain(side: str) -> None:
    """A side with neither ip nor domain is an issue on the endpoint, naming both fields."""
    ep = {"key": "r", "sourceIp": "192.0.2.1", "targetIp": "192.0.2.2"}
    del ep[f"{side}Ip"]
    issue = only_issue(doc(tenant(networkEndpoints=[ep])))
    assert (issue.tenant, issue.field) == ("t1", "networkEndpoints[0]")
    assert f"{side}Ip" in issue.message
    assert f"{side}Domain" in issue.message


def test_blank_endpoint_values_count_as_absent() -> None:
    """Empty strings for ip/domain mean 'not given', as upstream sends them."""
    ep = {"key": "r", "sourceIp": "", "sourceDomain": "a.example.com", "targetIp": "192.0.2.2"}
    config = one_config(doc(tenant(networkEndpoints=[ep])))
    assert config.network_endpoints[0].source_ip is None
    ep_blank = {"key": "r", "sourceIp": " ", "sourceDomain": "", "targetIp": "192.0.2.2"}
    assert where(doc(tenant(networkEndpoints=[ep_blank]))) == {("t1", "networkEndpoints[0]")}


def test_network_endpoints_must_be_a_list_of_objects() -> None:
    """A non-list, or a list item that is not an object, is an issue."""
    assert where(doc(tenant(networkEndpoints="r1"))) == {("t1", "networkEndpoints")}
    assert where(doc(tenant(networkEndpoints=[endpoint(), "r2"]))) == {
        ("t1", "networkEndpoints[1]")
    }


def test_empty_network_endpoints_are_allowed() -> None:
    """An empty list simply means no blue-green routes."""
    assert one_config(doc(tenant(networkEndpoints=[]))).network_endpoints == ()


@pytest.mark.parametrize(
    ("ip", "domain", "expected"),
    [
        ("192.0.2.10", "a.io", "192.0.2.10"),  # the ip is longer
        ("192.0.2.1", "gateway.example.com", "gateway.example.com"),  # the domain is longer
        ("192.0.2.1", "abcdefghi", "abcdefghi"),  # a tie goes to the domain
        ("192.0.2.1", None, "192.0.2.1"),  # only an ip
        (None, "gw.example.com", "gw.example.com"),  # only a domain
    ],
)
def test_route_uri_is_the_longer_of_ip_and_domain(
    ip: str | None, domain: str | None, expected: str
) -> None:
    """source_uri/target_uri are the longer of ip/domain, a tie going to the domain."""
    ep: dict[str, Any] = {"key": "r"}
    if ip is not None:
        ep.update(sourceIp=ip, targetIp=ip)
    if domain is not None:
        ep.update(sourceDomain=domain, targetDomain=domain)
    (parsed,) = one_config(doc(tenant(networkEndpoints=[ep]))).network_endpoints
    assert parsed.source_uri == expected
    assert parsed.target_uri == expected


# --- calledNumberRules / trunkGroup ----------------------------------------------------------


def test_called_number_rules_are_split_trimmed_and_emptied() -> None:
    """Rules are comma-separated, trimmed, and empty entries dropped."""
    config = one_config(doc(tenant(calledNumberRules=" 100 ,, 200,300 ,", trunkGroup="tg")))
    assert config.called_number_rules == ("100", "200", "300")
    assert config.trunk_group == "tg"


def test_rules_without_trunk_group_is_an_issue_on_trunk_group() -> None:
    """calledNumberRules alone: trunkGroup is reported missing."""
    issue = only_issue(doc(tenant(calledNumberRules="100")))
    assert (issue.tenant, issue.field) == ("t1", "trunkGroup")


def test_trunk_group_without_rules_is_an_issue_on_rules() -> None:
    """trunkGroup alone: calledNumberRules is reported missing."""
    issue = only_issue(doc(tenant(trunkGroup="tg")))
    assert (issue.tenant, issue.field) == ("t1", "calledNumberRules")


def test_blank_rules_and_trunk_group_count_as_absent() -> None:
    """Empty or blank strings for both mean neither was given."""
    config = one_config(doc(tenant(calledNumberRules="", trunkGroup="  ")))
    assert config.called_number_rules == ()
    assert config.trunk_group is None


def test_blank_rules_with_a_trunk_group_is_an_issue() -> None:
    """A blank calledNumberRules does not count, so trunkGroup stands alone."""
    assert where(doc(tenant(calledNumberRules=" ", trunkGroup="tg"))) == {
        ("t1", "calledNumberRules")
    }


def test_rules_that_yield_no_rule_are_an_issue() -> None:
    """A present calledNumberRules made only of commas and spaces is rejected."""
    issue = only_issue(doc(tenant(calledNumberRules=" , ,", trunkGroup="tg")))
    assert (issue.tenant, issue.field) == ("t1", "calledNumberRules")
    assert "no rules" in issue.message


# --- sourceTenantDeployConfig ----------------------------------------------------------------


def test_previous_config_defaults_tenant_and_plan_id() -> None:
    """The previous config takes the tenant's id and plan id unless it gives its own."""
    data = doc(tenant(sourceTenantDeployConfig={"planVersion": 19, "deployUnitName": "blue"}))
    (spec,) = parse_plan_data(data).tenants
    assert spec.previous == TenantConfig("t1", "p1", 19, deploy_unit_name="blue")


def test_previous_config_may_name_another_plan() -> None:
    """The previous config's planId is the previous plan's and may differ."""
    data = doc(tenant(sourceTenantDeployConfig={"planId": 41, "planVersion": 19}))
    (spec,) = parse_plan_data(data).tenants
    assert spec.previous is not None
    assert spec.previous.plan_id == "41"


def test_previous_config_with_the_same_tenant_id_is_accepted() -> None:
    """An explicit, matching tenantId in the previous config is fine."""
    data = doc(tenant(sourceTenantDeployConfig={"tenantId": "t1", "planVersion": 19}))
    assert parse_plan_data(data).tenants[0].previous is not None


def test_previous_config_with_another_tenant_id_is_an_issue() -> None:
    """The previous config belongs to the same tenant."""
    data = doc(tenant(sourceTenantDeployConfig={"tenantId": "t9", "planVersion": 19}))
    issue = only_issue(data)
    assert (issue.tenant, issue.field) == ("t1", "sourceTenantDeployConfig.tenantId")
    assert "t9" in issue.message


def test_previous_config_plan_version_is_required() -> None:
    """Rollback writes the previous planVersion, so it must be given."""
    issue = only_issue(doc(tenant(sourceTenantDeployConfig={"deployUnitName": "blue"})))
    assert (issue.tenant, issue.field) == ("t1", "sourceTenantDeployConfig.planVersion")
    assert issue.message == "is required"


def test_previous_config_fields_follow_the_same_rules() -> None:
    """Every field rule applies inside the previous config, with a prefixed path."""
    data = doc(
        tenant(
            sourceTenantDeployConfig={
                "planVersion": 19,
                "deployUnitId": "x",
                "trunkGroup": "tg",
                "networkEndpoints": [{"key": "r", "sourceIp": "1.2.3"}],
            }
        )
    )
    assert where(data) == {
        ("t1", "sourceTenantDeployConfig.deployUnitId"),
        ("t1", "sourceTenantDeployConfig.calledNumberRules"),
        ("t1", "sourceTenantDeployConfig.networkEndpoints[0].sourceIp"),
        ("t1", "sourceTenantDeployConfig.networkEndpoints[0]"),
    }


def test_nested_previous_of_the_previous_config_is_ignored() -> None:
    """Only one level of history is kept; a deeper one is not even validated."""
    nested = {"planVersion": 19, "sourceTenantDeployConfig": {"tenantId": "bad id"}}
    (spec,) = parse_plan_data(doc(tenant(sourceTenantDeployConfig=nested))).tenants
    assert spec.previous == TenantConfig("t1", "p1", 19)


def test_null_previous_config_means_none() -> None:
    """``sourceTenantDeployConfig: null`` is the same as leaving it out."""
    assert parse_plan_data(doc(tenant(sourceTenantDeployConfig=None))).tenants[0].previous is None


def test_previous_config_must_be_an_object() -> None:
    """A scalar previous config is a type issue."""
    assert where(doc(tenant(sourceTenantDeployConfig=19))) == {("t1", "sourceTenantDeployConfig")}


# --- reporting -------------------------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    """A plan with several bad tenants yields every issue with its tenant and field."""
    data = doc(
        tenant("ok"),
        tenant("bad id", deployUnitName=""),
        tenant("t3", planVersion=-1, trunkGroup="tg"),
        tenant(
            "t4",
            networkEndpoints=[{"sourceIp": "300.0.0.1"}],
            sourceTenantDeployConfig={"tenantId": "t5"},
        ),
        tenant("t3"),
        tenant("t6", planId="p2", defaultFlag="no"),
        max_concurrency=0,
    )
    assert where(data) == {
        (None, "plan.max_concurrency"),
        ("#2", "tenantId"),
        ("#2", "deployUnitName"),
        ("t3", "planVersion"),
        ("t3", "calledNumberRules"),
        ("t4", "networkEndpoints[0].key"),
        ("t4", "networkEndpoints[0].sourceIp"),
        ("t4", "networkEndpoints[0]"),
        ("t4", "sourceTenantDeployConfig.planVersion"),
        ("t4", "sourceTenantDeployConfig.tenantId"),
        ("t3", "tenantId"),
        ("t6", "planId"),
        ("t6", "defaultFlag"),
    }


def test_issues_come_in_plan_then_tenant_order() -> None:
    """Plan-level issues come first, then each tenant's in input order."""
    data = doc(tenant("b", defaultFlag=1), tenant("a", deployUnitId="x"), max_concurrency=0)
    assert [i.tenant for i in issues_of(data)] == [None, "b", "a"]


def test_snake_case_input_gets_snake_case_field_paths() -> None:
    """Issue fields use the user's own spelling, also for missing fields."""
    data = {
        "plan": {"id": "p1", "version": 20},
        "tenants": [
            {
                "tenant_id": "t1",
                "deploy_unit_id": "x",
                "called_number_rules": "1",
                "network_endpoints": [{"source_ip": "1.1.1.1", "target_domain": "d"}],
                "source_tenant_deploy_config": {"deploy_unit_name": "blue"},
            }
        ],
    }
    assert where(data) == {
        ("t1", "deploy_unit_id"),
        ("t1", "trunk_group"),
        ("t1", "network_endpoints[0].key"),
        ("t1", "source_tenant_deploy_config.plan_version"),
    }


def test_messages_are_friendly() -> None:
    """Messages are short human text without pydantic's wording or links."""
    data = doc(
        tenant(
            deployUnitId="x",
            defaultFlag="y",
            networkEndpoints="z",
            sourceTenantDeployConfig=[1],
        ),
        tenant("t2", planVersion=-5),
        {"planVersion": 20},
        extra=1,
    )
    issues = issues_of(data)
    assert len(issues) == 7
    for issue in issues:
        assert "pydantic" not in issue.message
        assert "http" not in issue.message
        assert "Input should" not in issue.message
    messages = {i.field: i.message for i in issues}
    assert messages["deployUnitId"] == "must be an integer (got 'x')"
    assert messages["defaultFlag"].startswith("must be true or false")
    assert messages["plan.extra"] == "unknown key"


def test_plan_validation_error_is_a_value_error_listing_every_issue() -> None:
    """The raised error is a ValueError whose text lists each issue."""
    with pytest.raises(ValueError, match="2 problems") as info:
        parse_plan_data(doc(tenant(deployUnitId="x"), tenant("t2", defaultFlag="y")))
    assert "tenant t1: deployUnitId" in str(info.value)
    assert "tenant t2: defaultFlag" in str(info.value)


def test_valid_plan_is_a_plan_spec_of_tuples() -> None:
    """The result is an immutable PlanSpec whose tenants are a tuple."""
    spec = parse_plan_data([tenant()])
    assert isinstance(spec, PlanSpec)
    assert isinstance(spec.tenants, tuple)


# --- examples --------------------------------------------------------------------------------


def test_example_plan_yaml_is_valid() -> None:
    """examples/plan.yaml: demo-plan v20, every stage kind, previous configs at v19."""
    spec = parse_plan_text((EXAMPLES / "plan.yaml").read_text(encoding="utf-8"))
    assert (spec.plan_id, spec.version) == ("demo-plan", 20)
    configs = [t.config for t in spec.tenants]
    assert any(c.called_number_rules and c.trunk_group for c in configs)
    assert any(c.network_endpoints and c.deploy_unit_name == "green" for c in configs)
    previous = [t.previous for t in spec.tenants if t.previous is not None]
    assert len(previous) == len(spec.tenants) - 1
    assert {p.plan_version for p in previous} == {19}
    assert all(p.deploy_unit_name in (None, "blue") for p in previous)


def test_example_upstream_json_is_valid() -> None:
    """examples/upstream.json: three camelCase upstream configs in the list shape."""
    spec = parse_plan_text((EXAMPLES / "upstream.json").read_text(encoding="utf-8"))
    assert len(spec.tenants) == 3
    assert all(t.previous is not None for t in spec.tenants)


def test_example_invalid_yaml_reports_several_tenants() -> None:
    """examples/invalid.yaml: problems across several tenants, all reported."""
    with pytest.raises(PlanValidationError) as info:
        parse_plan_text((EXAMPLES / "invalid.yaml").read_text(encoding="utf-8"))
    issues = info.value.issues
    assert len(issues) >= 5
    assert len({i.tenant for i in issues if i.tenant is not None}) >= 3


# --- malformed input: a clear issue every time, never a traceback or a hang ------------------


def file_issue(data: bytes | str) -> ValidationIssue:
    """The single plan-level 'file' issue raised for ``data`` (bytes or text)."""
    with pytest.raises(PlanValidationError) as info:
        parse_any(data)
    (issue,) = info.value.issues
    assert (issue.tenant, issue.field) == (None, "file")
    return issue


def parse_any(data: bytes | str) -> PlanSpec:
    """``parse_plan_bytes`` for bytes, ``parse_plan_text`` for text."""
    return parse_plan_bytes(data) if isinstance(data, bytes) else parse_plan_text(data)


def issues_of_text(text: str) -> list[ValidationIssue]:
    """The issues ``parse_plan_text`` raises for ``text`` (fails if it accepts it)."""
    with pytest.raises(PlanValidationError) as info:
        parse_plan_text(text)
    return list(info.value.issues)


def nested(depth: int) -> Any:
    """A list ``depth`` levels deep (counting itself)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_plan_bytes_are_parsed_as_utf8_text() -> None:
    """parse_plan_bytes gives what parse_plan_text gives for the decoded text."""
    assert parse_plan_bytes(DOCUMENT_YAML.encode()) == parse_plan_text(DOCUMENT_YAML)


@pytest.mark.parametrize("text", [DOCUMENT_YAML, json.dumps(doc(tenant()))])
def test_a_utf8_byte_order_mark_is_allowed(text: str) -> None:
    """A leading UTF-8 BOM is dropped, for YAML and JSON alike (bytes and text)."""
    assert parse_plan_bytes(b"\xef\xbb\xbf" + text.encode()) == parse_plan_text(text)
    assert parse_plan_text("\ufeff" + text) == parse_plan_text(text)


def test_bytes_that_are_not_utf8_name_the_byte_and_its_offset() -> None:
    """Undecodable input is one 'file' issue giving the first bad byte and its offset."""
    issue = file_issue(b"tenants:\n  - tenantId: t\xff1\n")
    assert issue.message == "not UTF-8 text: invalid byte 0xff at offset 24"


def test_a_truncated_utf8_sequence_is_not_utf8() -> None:
    """A multi-byte character cut short at the end is reported at its first byte."""
    issue = file_issue(b"- tenantId: t1\n  deployUnitName: gr\xc3")
    assert issue.message == "not UTF-8 text: invalid byte 0xc3 at offset 35"


def test_utf16_input_gets_a_hint() -> None:
    """A UTF-16 file (with its byte-order mark) is refused with a hint to save it as UTF-8."""
    issue = file_issue("tenants: []".encode("utf-16"))
    assert "UTF-16" in issue.message


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,  # deeper than the JSON decoder recurses
        "[" * 100_000,
        json.dumps([tenant(extra=nested(MAX_DEPTH - 1))]),
        "- " * 100 + "x\n",
        "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 200)),
        "x: " + "[" * 3000,
        "x: &a [*a]\n",  # an alias of its own container: infinitely deep
    ],
)
def test_documents_nested_too_deeply_are_one_issue(text: str) -> None:
    """Nesting past MAX_DEPTH is one 'file' issue, however deep (JSON or YAML)."""
    assert "nested deeper than 64 levels" in file_issue(text).message


def test_nesting_up_to_the_limit_is_accepted() -> None:
    """A document exactly MAX_DEPTH levels deep is fine (here in an ignored upstream field)."""
    text = json.dumps([tenant(extra=nested(MAX_DEPTH - 2))])
    assert parse_plan_text(text).tenants[0].config.tenant_id == "t1"
    assert parse_plan_text(yaml_dump([tenant(extra=nested(MAX_DEPTH - 2))])).plan_id == "p1"


def yaml_dump(data: object) -> str:
    """``data`` as block-style YAML."""
    import yaml

    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    "text",
    [
        '[{"tenantId": "t1", "planId": "p", "planVersion": ' + "9" * 5000 + "}]",
        "- {tenantId: t1, planId: p, planVersion: " + "9" * 5000 + "}",
    ],
)
def test_an_integer_of_too_many_digits_is_a_field_issue(text: str) -> None:
    """An integer literal over Python's digit limit is reported on its field (JSON and YAML)."""
    (issue,) = issues_of_text(text)
    assert (issue.tenant, issue.field) == ("t1", "planVersion")
    assert issue.message == "is too large (an integer of 5000 digits)"


def test_a_huge_integer_in_a_plan_id_is_a_field_issue() -> None:
    """A planId of thousands of digits (decimal, or hex that converts) is an issue, not a crash."""
    (issue,) = issues_of_text(
        '[{"tenantId": "t1", "planId": ' + "7" * 4400 + ', "planVersion": 1}]'
    )
    assert (issue.tenant, issue.field) == ("t1", "planId")
    issues = issues_of_text("- {tenantId: t1, planId: 0x" + "f" * 4000 + ", planVersion: 1}")
    assert [(i.tenant, i.field) for i in issues] == [("t1", "planId")]


@pytest.mark.parametrize(
    ("name", "value"),
    [("planVersion", 2**63), ("deployUnitId", 2**63), ("deployUnitVersion", -(2**63) - 1)],
)
def test_integers_beyond_64_bits_cannot_be_stored(name: str, value: int) -> None:
    """Integer fields must fit a signed 64-bit integer, as the store and upstream hold them."""
    issue = only_issue([tenant(**{name: value})])
    assert (issue.tenant, issue.field) == ("t1", name)
    assert "must be at" in issue.message


def test_integers_of_64_bits_are_accepted() -> None:
    """The 64-bit extremes themselves are fine."""
    config = one_config([tenant(planVersion=2**63 - 1, deployUnitId=-(2**63))])
    assert (config.plan_version, config.deploy_unit_id) == (2**63 - 1, -(2**63))


def laughs(levels: int, fan_out: int) -> str:
    """A YAML alias fan-out ("billion laughs"): ``fan_out ** levels`` values in a few lines.

    The anchors sit in a field the plan ignores; the second tenant's deployUnitId expands them.
    """
    lines = ["- tenantId: t0", "  planId: p", "  planVersion: 1", "  anchors:"]
    lines.append("    l0: &l0 [" + ", ".join(["lol"] * fan_out) + "]")
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * fan_out)
        lines.append(f"    l{level}: &l{level} [{refs}]")
    lines.append(f"- {{tenantId: t1, deployUnitId: *l{levels}}}")
    return "\n".join(lines) + "\n"


def test_an_alias_fan_out_is_refused_quickly() -> None:
    """Billion laughs (9**9 values in a few hundred bytes) is one issue in well under a second."""
    text = laughs(levels=9, fan_out=9)
    assert len(text) < 700
    started = time.perf_counter()
    issue = file_issue(text)
    assert time.perf_counter() - started < 2.0
    assert "aliases expand the document" in issue.message


def test_merge_keys_cannot_fan_out_either() -> None:
    """Merge keys (``<<: [*a, *a]``) double a mapping per level; the same budget applies."""
    lines = ["m0: &m0 {k: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, 30)]
    text = "\n".join(["x:", *(f"  {line}" for line in lines), "tenants: []"]) + "\n"
    started = time.perf_counter()
    message = file_issue(text).message
    assert time.perf_counter() - started < 2.0
    assert "aliases" in message or "nested deeper" in message


def test_a_few_aliases_are_fine() -> None:
    """Sharing a previous config between tenants through an anchor is ordinary YAML."""
    text = """
plan: {id: p, version: 2}
tenants:
  - tenantId: t1
    sourceTenantDeployConfig: &blue {planVersion: 1, deployUnitName: blue}
  - tenantId: t2
    sourceTenantDeployConfig: *blue
"""
    spec = parse_plan_text(text)
    assert [t.previous.deploy_unit_name for t in spec.tenants if t.previous] == ["blue", "blue"]


def test_a_large_shared_value_is_shown_short_and_fast() -> None:
    """A wrong-typed value that expands to megabytes is quoted in 40 characters, at once."""
    text = laughs(levels=2, fan_out=30).replace("lol", "x" * 1000)
    started = time.perf_counter()
    (issue,) = issues_of_text(text)
    assert time.perf_counter() - started < 2.0
    assert issue.field == "deployUnitId"
    assert len(issue.message) < 80


def test_input_over_the_size_limit_is_refused_before_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bytes or text past MAX_PLAN_SIZE are one issue naming the size and the limit."""
    monkeypatch.setattr(planfile, "MAX_PLAN_SIZE", 1000)
    assert "too large: 1,001 bytes" in file_issue(b" " * 1001).message
    assert "too large: 1,001 characters" in file_issue(" " * 1001).message
    parse_plan_text(json.dumps([tenant()]).ljust(1000))


def test_the_size_limit_allows_large_plans() -> None:
    """The limit leaves room for plans of 100,000 tenants (about 60 MB)."""
    assert planfile.MAX_PLAN_SIZE >= 256 * 2**20


BAD_TEXT = ["\ud800", "a\x00b", "a\nb", "tab\there", "\x1b[31mred", "a\u2028b"]


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"deployUnitName": "{}"}, "deployUnitName"),
        ({"nacosNameSpace": "{}"}, "nacosNameSpace"),
        ({"trunkGroup": "{}", "calledNumberRules": "1"}, "trunkGroup"),
        ({"calledNumberRules": "1,{}", "trunkGroup": "tg"}, "calledNumberRules"),
        (
            {"networkEndpoints": [{"key": "{}", "sourceIp": "192.0.2.1", "targetIp": "192.0.2.2"}]},
            "networkEndpoints[0].key",
        ),
        (
            {"networkEndpoints": [{"key": "r", "sourceDomain": "{}", "targetIp": "192.0.2.2"}]},
            "networkEndpoints[0].sourceDomain",
        ),
        (
            {"networkEndpoints": [{"key": "r", "sourceIp": "192.0.2.1", "targetDomain": "{}"}]},
            "networkEndpoints[0].targetDomain",
        ),
        (
            {"sourceTenantDeployConfig": {"planVersion": 1, "deployUnitName": "{}"}},
            "sourceTenantDeployConfig.deployUnitName",
        ),
    ],
)
def test_text_that_cannot_be_stored_is_a_field_issue(
    fields: dict[str, Any], path: str, bad: str
) -> None:
    """Lone surrogates and control characters in any text field are issues on that field."""
    filled = json.loads(json.dumps(fields).replace("{}", json.dumps(bad)[1:-1]))
    issue = only_issue(doc(tenant(**filled)))
    assert (issue.tenant, issue.field) == ("t1", path)
    assert "surrogate" in issue.message or "control characters" in issue.message
    assert issue.message.isprintable()


def test_a_lone_surrogate_in_json_escapes_is_caught() -> None:
    """JSON may spell a lone surrogate as an escape; it is refused on its field."""
    text = '[{"tenantId": "t1", "planId": "p", "planVersion": 1, "deployUnitName": "\\udc00x"}]'
    (issue,) = issues_of_text(text)
    assert (issue.field, issue.message) == (
        "deployUnitName",
        "is not valid Unicode text (lone surrogate U+DC00 at offset 0)",
    )


def test_text_given_to_the_yaml_loader_with_a_surrogate_is_a_file_issue() -> None:
    """Text (not bytes) holding a raw lone surrogate cannot even be scanned as YAML."""
    assert "surrogate" in file_issue("tenants: ['\ud800']").message


@pytest.mark.parametrize("name", ["Grün", "绿色单元", "unit — green", "a b"])
def test_ordinary_unicode_text_is_accepted(name: str) -> None:
    """Letters of any script, dashes and spaces are fine."""
    assert one_config(doc(tenant(deployUnitName=name))).deploy_unit_name == name


def test_line_breaks_between_rules_are_layout() -> None:
    """calledNumberRules may be written over several lines; a break inside a rule is not."""
    config = one_config(doc(tenant(calledNumberRules="1001,\n  1002,\t1003\n", trunkGroup="t")))
    assert config.called_number_rules == ("1001", "1002", "1003")
    issue = only_issue(doc(tenant(calledNumberRules="1001, 10\n02", trunkGroup="t")))
    assert (issue.field, issue.message.split(" (")[0]) == (
        "calledNumberRules",
        "rule 2 must not contain control characters",
    )


def test_plan_name_and_description_are_checked_too() -> None:
    """The plan's name is one line; its description may span several, but holds no NUL."""
    parse_plan_data(doc(tenant(), name="Demo", description="line one\nline two\ttabbed"))
    assert where(doc(tenant(), name="a\nb")) == {(None, "plan.name")}
    assert where(doc(tenant(), description="a\x00b")) == {(None, "plan.description")}


def test_binary_values_are_not_text() -> None:
    """A YAML ``!!binary`` value is not accepted as a tenantId or any other text."""
    text = "- {tenantId: !!binary dDE=, planId: p, planVersion: 1, trunkGroup: !!binary AA==}"
    assert {(i.tenant, i.field) for i in issues_of_text(text)} == {
        ("#1", "tenantId"),
        ("#1", "trunkGroup"),
        ("#1", "calledNumberRules"),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- {tenantId: t1, x: 2024-13-45}", "not a valid date or time (line 1, column 21)"),
        ("- {tenantId: t1, x: !!timestamp yesterday}", "not a valid date or time"),
        ("- {tenantId: t1, x: !!bool maybe}", "not a valid boolean"),
        ("- {tenantId: t1, planVersion: !!int ''}", "not a valid integer"),
        ("- {tenantId: t1, planVersion: !!float x}", "not a valid number"),
        ('- tenantId: t1\n  x: "\\ud800"\n', "not valid YAML"),
        ("tenants: [\x00]", "unacceptable character U+0000"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("? [a, b]\n: 1\n", "not valid YAML: found unhashable key"),
    ],
)
def test_scalars_and_streams_yaml_cannot_load_are_file_issues(text: str, expected: str) -> None:
    """Bad timestamps, booleans, numbers, escapes and characters are one-line 'file' issues."""
    message = file_issue(text).message
    assert expected in message
    assert "\n" not in message


def test_odd_mapping_keys_are_named_safely() -> None:
    """Keys that are not strings (null, a date, a huge integer) are quoted, never converted."""
    text = (
        "~: 1\n2024-01-01: 2\n? 0x"
        + "f" * 4000
        + "\n: 3\ntenants: [{tenantId: t1, planId: p, planVersion: 1}]\n"
    )
    fields = [issue.field for issue in issues_of_text(text)]
    assert fields[:2] == ["None", "datetime.date(2024, 1, 1)"]
    assert fields[2].startswith("<integer of ~")


def test_a_non_string_key_in_the_plan_section_is_an_issue() -> None:
    """``plan: {1: 2}`` is an unknown key of the plan section, not a crash."""
    data = {"plan": {1: 2, "id": "p", "version": 1}, "tenants": [{"tenantId": "t1"}]}
    issue = only_issue(data)
    assert (issue.field, issue.message) == ("plan.1", "unknown key (keys must be strings)")
