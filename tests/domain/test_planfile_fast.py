"""The fast paths of plan parsing read every input as the full path does.

Two shortcuts make a plan of 100,000 tenants quick to check: tenants whose fields are plainly
valid skip pydantic (the quick path, and the whole-plan path that checks them all at once: see
test_planfile_bulk), and YAML is loaded with yaml_rs where the text allows it (the fast
loader). Each test here compares a shortcut with the reference it stands in for: the
full pydantic path, and PyYAML's YAML 1.1 reading. Outcomes are compared whole: the PlanSpec,
or every issue with its tenant, field and message.
"""

from __future__ import annotations

import copy
import gc
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import msgspec.structs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchover.domain import bulkcheck, documents, planfile, planrules, quickcheck
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.documents import MAX_DEPTH, load_yaml, load_yaml_fast, yaml11_reads_as_str
from switchover.domain.planfile import parse_plan_bytes, parse_plan_data, parse_plan_text
from switchover.domain.records import PlanSpec, TenantSpec
from switchover.errors import PlanValidationError, ValidationIssue

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHECKS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Outcome = PlanSpec | tuple[ValidationIssue, ...]


def outcome(parse: Any, data: object) -> Outcome:
    """The PlanSpec ``parse`` builds from ``data``, or the issues it raises."""
    try:
        return parse(data)  # type: ignore[no-any-return]
    except PlanValidationError as exc:
        return exc.issues


def reference(parse: Any, data: object) -> Outcome:
    """The outcome with every shortcut off: the whole-plan and the per-tenant quick paths, and
    the fast YAML loader."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulkcheck, "json_rows", lambda source: None)
        patch.setattr(planfile, "_fast_yaml_rows", lambda data, source: None)
        patch.setattr(planfile, "quick_tenant", lambda raw, yaml11, room: None)
        patch.setattr(documents, "_yaml_rs", None)
        return outcome(parse, data)


# --- strategies: tenants that are valid, nearly valid, or oddly spelled ---------------------

CAMEL_TO_SNAKE = {
    "tenantId": "tenant_id",
    "planId": "plan_id",
    "planVersion": "plan_version",
    "deployUnitId": "deploy_unit_id",
    "deployUnitVersion": "deploy_unit_version",
    "deployUnitName": "deploy_unit_name",
    "networkEndpoints": "network_endpoints",
    "nacosNameSpace": "nacos_name_space",
    "calledNumberRules": "called_number_rules",
    "trunkGroup": "trunk_group",
    "defaultFlag": "default_flag",
    "sourceTenantDeployConfig": "source_tenant_deploy_config",
    "sourceIp": "source_ip",
    "sourceDomain": "source_domain",
    "targetIp": "target_ip",
    "targetDomain": "target_domain",
}
texts = st.sampled_from(
    ["green", "blue", " padded ", "", "  ", "a\tb", "a\nb", "x\x00", "grün", "a\u00a0b", "yes"]
) | st.text(max_size=6)
ints = st.sampled_from([0, 1, 7, -1, 2**63 - 1, 2**63, -(2**63) - 1, True, 20.0]) | st.integers()
ips = st.sampled_from(["192.0.2.1", "10.0.0.10", "", " ", "256.1.1.1", "01.2.3.4", "a.b.c.d"])
rules = st.sampled_from(["100, 200", " 1 ,,2 ", ",", " ", "", "1\n,2", "1, 2\n", "4000*"])
values = st.one_of(st.none(), texts, ints, st.booleans(), st.just([]), st.just({}))


def spelled(key: str, snake: bool) -> str:
    return CAMEL_TO_SNAKE.get(key, key) if snake else key


@st.composite
def endpoints(draw: st.DrawFn) -> object:
    if draw(st.integers(0, 15)) == 0:
        return draw(values)
    snake = draw(st.booleans())
    endpoint: dict[str, Any] = {"key": draw(st.sampled_from(["r1", " ", "", "r\n", 5, None]))}
    for side in ("source", "target"):
        if draw(st.booleans()):
            endpoint[spelled(f"{side}Ip", snake)] = draw(ips | values)
        if draw(st.booleans()):
            endpoint[spelled(f"{side}Domain", snake)] = draw(texts | values)
    if draw(st.integers(0, 8)) == 0:
        endpoint[draw(st.sampled_from(["sourceIp", "source_ip", "extra", "key"]))] = draw(values)
    return endpoint


@st.composite
def configs(draw: st.DrawFn, *, source: bool) -> dict[str, Any]:
    """A tenant config (or previous config), mostly valid, sometimes not."""
    snake = draw(st.integers(0, 4)) == 0
    config: dict[str, Any] = {}
    if not source or draw(st.booleans()):
        config[spelled("tenantId", snake)] = draw(st.sampled_from(["t1", "t2", "t 1", ""]) | values)
    if draw(st.booleans()):
        config[spelled("planId", snake)] = draw(st.sampled_from(["p1", 7, "p2", "a b"]) | values)
    if not source or draw(st.integers(0, 5)) > 0:
        config[spelled("planVersion", snake)] = draw(st.sampled_from([20, 19, 0]) | ints)
    for key, strategy in (
        ("deployUnitId", ints),
        ("deployUnitVersion", ints),
        ("deployUnitName", texts),
        ("defaultFlag", st.booleans() | values),
    ):
        if draw(st.booleans()):
            config[spelled(key, snake)] = draw(strategy | values)
    if draw(st.booleans()):
        key = draw(st.sampled_from(["nacosNameSpace", "nacos_name_space", "nacos_namespace"]))
        config[key] = draw(texts | values)
    if draw(st.booleans()):
        config[spelled("calledNumberRules", snake)] = draw(rules | values)
    if draw(st.booleans()):
        config[spelled("trunkGroup", snake)] = draw(texts | values)
    if draw(st.booleans()):
        config[spelled("networkEndpoints", snake)] = draw(st.lists(endpoints(), max_size=3))
    if draw(st.integers(0, 6)) == 0:  # a second spelling of a field, or an unknown field
        key = draw(st.sampled_from([*CAMEL_TO_SNAKE.values(), "gmtCreate", "operator"]))
        config[key] = draw(values)
    if not source and draw(st.booleans()):
        config[spelled("sourceTenantDeployConfig", snake)] = draw(configs(source=True) | values)
    return config


@st.composite
def plans(draw: st.DrawFn) -> object:
    tenants = draw(st.lists(configs(source=False), min_size=1, max_size=4))
    if draw(st.booleans()):
        return tenants
    return {"plan": {"id": "p1", "version": 20}, "tenants": tenants}


# --- the quick path stands in for pydantic --------------------------------------------------


@CHECKS
@given(data=plans())
def test_the_quick_path_agrees_with_the_full_path(data: object) -> None:
    """Same PlanSpec, or the same issues, whichever path checks each tenant."""
    expected = reference(parse_plan_data, json.loads(json.dumps(data)))
    assert outcome(parse_plan_data, data) == expected


@CHECKS
@given(data=plans())
def test_json_files_agree_with_the_full_path(data: object) -> None:
    """The JSON path (quick tenants, depth checked where it matters) gives the same outcome."""
    text = json.dumps(data)
    assert outcome(parse_plan_text, text) == reference(parse_plan_text, text)


def valid_tenant(index: int, **fields: Any) -> dict[str, Any]:
    """A tenant with every field, as upstream sends it."""
    name = f"tenant-{index:04d}"
    config: dict[str, Any] = {
        "tenantId": name,
        "planVersion": 20,
        "deployUnitId": 2,
        "deployUnitVersion": 20,
        "deployUnitName": "green",
        "nacosNameSpace": "ns",
        "networkEndpoints": [
            {"key": f"{name}-r", "sourceIp": "10.0.0.1", "targetDomain": f"{name}.example"}
        ],
        "calledNumberRules": "400*, 800*",
        "trunkGroup": "tg",
        "defaultFlag": False,
    }
    previous = {**copy.deepcopy(config), "planVersion": 19, "deployUnitName": "blue"}
    return {**config, "sourceTenantDeployConfig": previous, **fields}


def test_valid_tenants_take_the_quick_path_and_build_the_same_configs() -> None:
    """A plan of fully specified tenants builds what pydantic builds, field for field."""
    data = {"plan": {"id": "p", "version": 20}, "tenants": [valid_tenant(i) for i in range(5)]}
    spec = parse_plan_data(data)
    assert spec == reference(parse_plan_data, data)
    assert spec.tenants[0].config.network_endpoints[0] == NetworkEndpoint(
        key="tenant-0000-r", source_ip="10.0.0.1", target_domain="tenant-0000.example"
    )


def test_parse_plan_data_leaves_its_input_as_it_was() -> None:
    """Only parsing from text empties its own data as it goes; a caller's data is untouched."""
    data = {"plan": {"id": "p", "version": 20}, "tenants": [valid_tenant(i) for i in range(3)]}
    before = json.loads(json.dumps(data))
    parse_plan_data(data)
    assert data == before


def test_duplicates_are_reported_in_the_users_spelling() -> None:
    """A duplicate among quick tenants names the key as written (snake_case here)."""
    tenant = {"tenant_id": "a", "plan_id": "p", "plan_version": 1}
    issues = outcome(parse_plan_data, [tenant, dict(tenant)])
    assert issues == reference(parse_plan_data, [tenant, dict(tenant)])
    assert [(i.tenant, i.field) for i in issues] == [("a", "tenant_id")]  # type: ignore[union-attr]


def test_the_quick_builder_makes_the_record_s_own_object() -> None:
    """The quick path's config builder gives the object the constructor gives, every field set."""
    endpoint = NetworkEndpoint("k", "192.0.2.1", None, None, "d.example")
    fields = (None, None, None, 1, 2, "green", (endpoint,), "ns", ("1",), "tg", True)
    config = quickcheck.quick_record(fields, "t", "p", 3)
    assert config == TenantConfig("t", "p", 3, 1, 2, "green", (endpoint,), "ns", ("1",), "tg", True)
    # A field added to a record must be set by its builder too.
    assert [f.name for f in msgspec.structs.fields(NetworkEndpoint)] == [
        "key",
        "source_ip",
        "source_domain",
        "target_ip",
        "target_domain",
    ]
    assert len(msgspec.structs.fields(TenantConfig)) == len(fields)
    assert [f.name for f in msgspec.structs.fields(TenantSpec)] == ["config", "previous"]


@pytest.mark.parametrize("collecting", [True, False])
def test_parsing_leaves_the_garbage_collector_as_it_found_it(collecting: bool) -> None:
    """The collector is paused while a plan is parsed, and restored after, even on failure."""
    was = gc.isenabled()
    try:
        if not collecting:
            gc.disable()
        parse_plan_text(json.dumps([valid_tenant(1, planId="p")]))
        with pytest.raises(PlanValidationError):
            parse_plan_text("[1]")
        assert gc.isenabled() is collecting
    finally:
        if was:
            gc.enable()


def test_a_big_parse_hands_its_objects_to_the_oldest_generation() -> None:
    """After a parse that made many objects, none waits in the young generations; objects the
    program froze itself stay frozen."""
    text = json.dumps([valid_tenant(i, planId="p") for i in range(3)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(planfile, "_PROMOTED", 0)
        parse_plan_text(text)
        assert gc.get_count()[0] < 50  # what this test made since
        gc.freeze()
        try:
            frozen = gc.get_freeze_count()
            parse_plan_text(text)
            assert gc.get_freeze_count() == frozen
        finally:
            gc.unfreeze()


# --- depth: JSON loads unbounded, and the parts the quick path does not walk are checked -----


def deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("where", "above"),
    [
        ("tenant", 3),  # containers around the value: document, tenant list, tenant
        ("previous", 4),  # ... and the previous config
        ("nested previous", 4),  # the previous config's own (ignored) previous config
        ("endpoint", 5),  # ... tenant, endpoint list, endpoint
        ("plan", 2),  # document, plan section
        ("top", 1),
    ],
)
@pytest.mark.parametrize("shape", ["json", "yaml"])
def test_nesting_is_bounded_wherever_it_is(where: str, above: int, shape: str) -> None:
    """Up to MAX_DEPTH levels are fine anywhere; one more is refused, as a 'file' issue."""

    def document(levels: int) -> str:
        tenant = valid_tenant(1, planId="p")
        value = deep(levels)
        if where == "tenant":
            tenant["extra"] = value
        elif where == "previous":
            tenant["sourceTenantDeployConfig"]["extra"] = value
        elif where == "nested previous":
            tenant["sourceTenantDeployConfig"]["sourceTenantDeployConfig"] = value
        elif where == "endpoint":
            tenant["networkEndpoints"][0]["extra"] = value
        data: dict[str, Any] = {"plan": {"id": "p", "version": 20}, "tenants": [tenant]}
        if where == "plan":
            data["plan"]["extra"] = value  # an unknown key: an issue, but depth comes first
        if where == "top":
            data["extra"] = value
        return json.dumps(data) if shape == "json" else yaml.safe_dump(data)

    limit = MAX_DEPTH - above
    fits = outcome(parse_plan_text, document(limit))
    assert fits == reference(parse_plan_text, document(limit))
    if where not in ("plan", "top"):
        assert isinstance(fits, PlanSpec)
    too_deep = outcome(parse_plan_text, document(limit + 1))
    assert too_deep == reference(parse_plan_text, document(limit + 1))
    assert [(i.field, i.message.split(" (")[0]) for i in too_deep] == [  # type: ignore[union-attr]
        ("file", f"nested deeper than {MAX_DEPTH} levels")
    ]


# --- the fast YAML loader stands in for PyYAML ----------------------------------------------


def same_data(fast: object, exact: object) -> bool:
    """Equal data, where a string of the fast loader may be PyYAML's boolean or number when
    YAML 1.1 reads it so, and a float of it PyYAML's string of the same number (1e3, +.5):
    the differences load_yaml_fast allows, in keys as in values."""
    if isinstance(fast, str) and not isinstance(exact, str):
        return not yaml11_reads_as_str(fast)
    if isinstance(fast, float) and isinstance(exact, str):  # 1e3, +.5: strings to YAML 1.1
        return float(exact) == fast
    if type(fast) is not type(exact):
        return False
    if isinstance(fast, float):
        return fast == exact or (math.isnan(fast) and math.isnan(exact))  # type: ignore[arg-type]
    if isinstance(fast, list):
        return len(fast) == len(exact) and all(map(same_data, fast, exact))  # type: ignore[arg-type]
    if isinstance(fast, dict):
        assert isinstance(exact, dict)
        if len(fast) == len(exact):  # both keep the document's order
            return all(
                same_data(fast_key, exact_key) and same_data(fast[fast_key], exact[exact_key])
                for fast_key, exact_key in zip(fast, exact, strict=True)
            )
        # Keys that are strings only to yaml_rs: PyYAML may merge some of them.
        return all(
            isinstance(k, str) and not yaml11_reads_as_str(k) for k in fast if k not in exact
        )
    return fast == exact


def check_loader(text: str) -> None:
    """load_yaml_fast reads ``text`` as PyYAML does, or leaves it to PyYAML."""
    try:
        exact: object = load_yaml(text)
    except yaml.YAMLError:
        exact = "refused"
    try:
        fast, was_exact = load_yaml_fast(text)
    except yaml.YAMLError:
        assert exact == "refused"
        return
    if was_exact:
        return
    assert exact != "refused", text
    if documents.deeper_than(fast, MAX_DEPTH):
        return  # refused by the caller's depth check, as PyYAML refused it
    assert same_data(fast, exact), (text, fast, exact)


SCALARS = [
    *map("".join, itertools.product("0123456789+-._:eExXoObB", repeat=2)),
    *map("".join, itertools.product("019+-._:eExob", repeat=3)),
    "yes",
    "No",
    "ON",
    "off",
    "true",
    "FALSE",
    "null",
    "~",
    "<<",
    "=",
    ".inf",
    "-.Inf",
    ".NaN",
    "0x1F",
    "0X1F",
    "0o17",
    "0b101",
    "0B1",
    "1_000",
    "_1",
    "+_1",
    "1e3",
    "1.5e3",
    "1.5e+3",
    "+.5",
    "190:20:30",
    "1:30.5",
    "2024-01-01",
    "2024-13-45",
    "2024-1-1",
    "2001-12-14t21:59:43.10-05:00",
    "2024-01-01 10:00:00",
    "010*",
    "10.0.0.10",
    "9" * 30,
    "0" * 30,
]


@pytest.mark.parametrize(
    "template",
    ["a: {}\n", "- {}\n", "[{}]", "{{a: {}}}", "{}: x\n", "a:\n  {}\n", '{{"a":{}}}', "a: [b, {}]"],
)
def test_every_plain_scalar_reads_as_in_yaml_1_1(template: str) -> None:
    """Numbers, booleans, dates and their look-alikes: PyYAML's value, or left to PyYAML."""
    for scalar in SCALARS:
        check_loader(template.format(scalar))


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: {<<: {b: 1}, c: 2}\n",
        "[a]: 1\n",
        "{a: 1}: 2\n",
        "? [a, b]\n: 1\n",
        "a: 1\n---\nb: 2\n",
        "--- \na: 1\n",
        "%YAML 1.1\n---\na: 1\n",
        "a: 1\n...\n",
        "a:\tb\n",
        "a: b\r\nc: d\r\n",
        "a: b\x00\n",
        "a: b\u2028c\n",
        "a: \ufeffb\n",
        'a: "\\ud800"\n',
        'a: "x\\ty"\n',
        "a: |\n  x\n  y\n",
        "a: >-\n  x\n\n  y\n",
        "a: 'it''s'\n",
        'a: "x\n  y"\n',
        "a: x\n  y\n",
        "a: 1\na: 2\n",
        "k" * 1100 + ": 1\n",
        "- " * 3000 + "x\n",
        "a: b # c\n",
        "a: b#c\n",
        "a: 'x\n\n  y'\n",
        "- a\n b: c\n",
        "a: [1, 2\n",
        "a: -\n",
        "a: [-]\n",
        "",
        "# only\n",
        "a: grün 绿\n",
        "a: '=' \nb: =\n",
        "- {tenantId: t1, planId: p, planVersion: 1}\n- {plan: {bake: 1e3}}\n",
    ],
)
def test_yaml_features_are_read_as_pyyaml_reads_them(text: str) -> None:
    """Anchors, tags, merges, flow keys, several documents, tabs, CRs, escapes, block scalars,
    duplicates, long keys, deep nesting...: read alike, or left to PyYAML."""
    check_loader(text)


def yaml_texts() -> st.SearchStrategy[str]:
    styles = st.sampled_from([False, True, None])
    return st.builds(
        lambda data, flow: yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True),
        plans(),
        styles,
    )


@CHECKS
@given(text=yaml_texts())
def test_yaml_plans_agree_with_pyyaml_and_the_full_path(text: str) -> None:
    """A YAML plan gives the outcome it gave before either shortcut."""
    check_loader(text)
    assert outcome(parse_plan_text, text) == reference(parse_plan_text, text)


NASTY = ["yes", "0123", "010", "0o17", "_1", "1_0", "1e3", "2024-01-01", "2024-13-45", "1:30"]
NASTY += ["on", "~", "null", "<<", "=", "*a", "&a x", "!!str 1", "'yes'", '"010"', ".inf"]
NASTY += ["+.5", "0e0", "1.5e3", "0X1F", "+_1"]


@CHECKS
@given(
    text=yaml_texts(),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(NASTY)), max_size=3),
)
def test_yaml_plans_with_yaml_1_1_values_agree(text: str, edits: list[tuple[int, str]]) -> None:
    """Values YAML 1.1 and 1.2 read differently, put in place of other values."""
    lines = text.splitlines()
    for at, value in edits:
        index = at % len(lines)
        head, sep, _ = lines[index].partition(": ")
        if sep:
            lines[index] = f"{head}: {value}"
    text = "\n".join(lines) + "\n"
    check_loader(text)
    assert outcome(parse_plan_text, text) == reference(parse_plan_text, text)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("deployUnitId: 010", 8),  # octal in YAML 1.1
        ("deployUnitId: 0x10", 16),
        ("deployUnitId: 1_000", 1000),
        ("deployUnitId: 1:30", 90),  # sexagesimal
        ("defaultFlag: yes", True),
        ("defaultFlag: off", False),
    ],
)
def test_yaml_1_1_numbers_and_booleans_keep_their_meaning(line: str, expected: object) -> None:
    """What 010, 1:30 or yes mean in a YAML plan did not change with the fast loader."""
    text = f"- tenantId: t1\n  planId: p\n  planVersion: 1\n  {line}\n"
    (tenant,) = parse_plan_text(text).tenants
    name = "deploy_unit_id" if line.startswith("deployUnitId") else "default_flag"
    assert getattr(tenant.config, name) == expected
    assert parse_plan_text(text) == reference(parse_plan_text, text)


@pytest.mark.parametrize(
    "line",
    [
        "deployUnitName: yes",
        "deployUnitName: 2024-01-01",
        "trunkGroup: on",
        "planVersion: 0o17",
        "planId: yes",
        "nacosNameSpace: null",
        "x: 2024-13-45",
        "deployUnitName: 010",
    ],
)
def test_yaml_1_1_values_in_text_fields_are_reported_as_before(line: str) -> None:
    """A boolean, date or number where text belongs: the same issue as PyYAML's data gives."""
    text = f"- tenantId: t1\n  planId: p\n  planVersion: 1\n  {line}\n"
    assert outcome(parse_plan_text, text) == reference(parse_plan_text, text)


@pytest.mark.parametrize("name", ["plan.yaml", "tour.yaml", "waves.yaml", "invalid.yaml"])
def test_examples_read_alike(name: str) -> None:
    """The example plans give the outcome they gave before."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    check_loader(text)
    assert outcome(parse_plan_text, text) == reference(parse_plan_text, text)


def test_a_big_generated_plan_reads_alike() -> None:
    """A plan shaped like the benchmark's (every field, previous configs) takes both fast paths
    and builds exactly the reference PlanSpec."""
    data = {"plan": {"id": "p", "version": 20}, "tenants": [valid_tenant(i) for i in range(300)]}
    text = yaml.safe_dump(data, sort_keys=False)
    loaded, exact = load_yaml_fast(text)
    assert not exact
    assert loaded == load_yaml(text)
    spec = parse_plan_bytes(text.encode())
    assert spec == reference(parse_plan_text, text)
    assert spec == parse_plan_bytes(json.dumps(data).encode())


# --- yaml11_reads_as_str is PyYAML's own resolution -----------------------------------------


def test_yaml11_reads_as_str_matches_pyyamls_resolver() -> None:
    """For strings of every character a YAML 1.1 type uses, it says what PyYAML says."""
    resolver = yaml.SafeLoader("")
    alphabet = "01:._-+eE xXTtZz~<=yYnNoOlLsSuUrRfFaA9,"
    candidates = ["".join(c) for n in range(1, 5) for c in itertools.product(alphabet, repeat=n)]
    candidates += ["yes", "True", "NULL", "Off", ".inf", "2024-01-01 10:00:00", "tenant-1", "a,1"]
    candidates += ["falsey", "FALSEY", "Nullable", "offline", "yes-no", "truest", "nulls"]
    for value in candidates:
        tag = resolver.resolve(yaml.ScalarNode, value, (True, False))
        is_str = tag == "tag:yaml.org,2002:str"
        assert yaml11_reads_as_str(value) == is_str, value
        assert planrules.yaml11_str(value) == is_str, value  # with its shortcut for words


def test_no_yaml11_type_holds_a_comma() -> None:
    """yaml11_reads_as_str takes a string with a comma for a string without a match: none of
    PyYAML's patterns can match a comma (no comma, no wildcard, no negated class)."""
    for resolvers in yaml.SafeLoader.yaml_implicit_resolvers.values():
        for _, pattern in resolvers:
            assert "," not in pattern.pattern
            assert "[^" not in pattern.pattern
            assert re.search(r"(?<!\\)\.", pattern.pattern) is None
