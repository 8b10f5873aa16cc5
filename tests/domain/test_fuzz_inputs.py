"""Fuzzing of plan-file input: whatever the bytes, a PlanSpec or a PlanValidationError, quickly.

The documents are structured but wrong: real field names with values of every type, text with
control characters and lone surrogates, deep nesting, alias fan-outs, integers too long to
convert, then serialised as JSON or YAML and mutated, or plain random bytes.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchover.domain.planfile import parse_plan_bytes, parse_plan_text
from switchover.domain.records import PlanSpec
from switchover.errors import PlanValidationError

FUZZ = settings(
    max_examples=60,
    deadline=2000,  # ms per example: a slow input is a failure too
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TENANT_FIELDS = [
    "tenantId",
    "planId",
    "planVersion",
    "deployUnitId",
    "deployUnitVersion",
    "deployUnitName",
    "networkEndpoints",
    "nacosNameSpace",
    "calledNumberRules",
    "trunkGroup",
    "defaultFlag",
    "sourceTenantDeployConfig",
    "tenant_id",
    "plan_version",
    "deploy_unit_name",
    "network_endpoints",
    "nacos_namespace",
    "called_number_rules",
    "trunk_group",
    "source_tenant_deploy_config",
]
ENDPOINT_FIELDS = ["key", "sourceIp", "sourceDomain", "targetIp", "targetDomain", "source_ip"]
PLAN_FIELDS = ["id", "version", "max_concurrency", "maxConcurrency", "name", "description"]
NASTY = [
    "\x00",
    "\ud800",
    "\udfff",
    "\n",
    "\t",
    "\r",
    "\x1b",
    "\u2028",
    "\ufeff",
    "\x85",
    "&a ",
    "*a",
    "<<: ",
    "!!binary ",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!timestamp 2024-99-99",
    "!!set ",
    "!!python/object:os.system ",
    "? ",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    '"',
    "\\u",
    "\\",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "#",
    "|\n",
    ">-\n",
    "9" * 4400,
    "0x" + "f" * 4000,
    "1:2:3:4:5",
    "2024-13-45",
    ".nan",
    "-.inf",
    "~",
    "yes",
]

characters = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
    st.characters(max_codepoint=0x9F),  # ASCII and every C0/C1 control
    st.sampled_from(list(",:-[]{}&*!|>'\"#%@`\\")),
)
texts = st.one_of(
    st.text(characters, max_size=12),
    st.sampled_from(["t1", "p1", "green", "192.0.2.1", "1001, 1002", "", " ", "a b", "x" * 65]),
    st.sampled_from(NASTY),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**63 - 1, 2**63, -(2**63) - 1]),
    st.floats(),
    texts,
)
keys = st.one_of(st.sampled_from(TENANT_FIELDS + ENDPOINT_FIELDS + PLAN_FIELDS), texts)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)
endpoints = st.dictionaries(st.sampled_from(ENDPOINT_FIELDS), trees, max_size=5)
field_values = st.one_of(trees, st.lists(endpoints, max_size=3))


@st.composite
def tenants(draw: st.DrawFn) -> Any:
    """A tenant config: usually a valid one with some fields replaced, sometimes anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(trees)
    tenant: dict[Any, Any] = {"tenantId": "t1", "planId": "p1", "planVersion": 3}
    tenant.update(draw(st.dictionaries(st.sampled_from(TENANT_FIELDS), field_values, max_size=5)))
    tenant.update(draw(st.dictionaries(keys, trees, max_size=2)))
    return tenant


documents = st.one_of(
    st.lists(tenants(), max_size=4),
    st.fixed_dictionaries(
        {"tenants": st.one_of(st.lists(tenants(), max_size=4), trees)},
        optional={
            "plan": st.one_of(st.dictionaries(st.sampled_from(PLAN_FIELDS) | keys, trees), trees),
            "extra": trees,
        },
    ),
    trees,
)


def serialise(data: object, style: str) -> str:
    """``data`` as JSON or YAML text; JSON when YAML cannot represent it."""
    if style.startswith("yaml"):
        try:
            return yaml.safe_dump(data, default_flow_style=style == "yaml-flow", allow_unicode=True)
        except (yaml.YAMLError, UnicodeError):
            pass
    return json.dumps(data, ensure_ascii=style == "json-ascii", allow_nan=True)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few nasty fragments inserted, slices deleted or repeated."""
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "repeat"]))
        if kind == "insert":
            text = text[:at] + draw(st.sampled_from(NASTY) | texts) + text[at:]
        else:
            end = min(len(text), at + draw(st.integers(1, 20)))
            text = text[:at] + (text[at:end] * 2 if kind == "repeat" else "") + text[end:]
    return text


@st.composite
def plan_texts(draw: st.DrawFn) -> str:
    """Text of a structured-but-wrong plan file, maybe mutated."""
    text = serialise(
        draw(documents), draw(st.sampled_from(["json", "json-ascii", "yaml", "yaml-flow"]))
    )
    return draw(mutated(text)) if draw(st.booleans()) else text


@st.composite
def deep_texts(draw: st.DrawFn) -> str:
    """Nesting of some depth up to far past any limit, in one of several spellings."""
    depth = draw(st.integers(1, 20_000))
    opener = draw(st.sampled_from(["[", '{"a": ', "{a: ", "- ", "a:\n", "[&x ", "- - "]))
    closer = {"[": "]", '{"a": ': "}", "{a: ": "}", "[&x ": "]"}.get(opener, "")
    closed = draw(st.booleans())
    return "tenants: " * draw(st.booleans()) + opener * depth + "1" + (closer * depth) * closed


@st.composite
def alias_texts(draw: st.DrawFn) -> str:
    """Alias fan-outs of sequences or merge keys, small and huge, used somewhere in a plan."""
    fan_out, levels = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    merge = draw(st.booleans())
    lines = ["- tenantId: t1", "  planId: p", "  planVersion: 1", "  x:", "    a0: &a0 {k: v}"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * fan_out)
        body = f"{{<<: [{refs}], k{level}: v}}" if merge else f"[{refs}]"
        lines.append(f"    a{level}: &a{level} {body}")
    field = draw(st.sampled_from(["deployUnitId", "deployUnitName", "networkEndpoints", "ignored"]))
    lines.append(f"  {field}: *a{levels}")
    return "\n".join(lines) + "\n"


def to_bytes(text: str, how: str) -> bytes:
    """``text`` encoded; surrogates become the invalid UTF-8 a broken writer produces."""
    data = text.encode("utf-8", "surrogatepass")
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "utf16":
        return text.encode("utf-16", "surrogatepass")
    return data


def check_outcome(result: PlanSpec | None, error: PlanValidationError | None) -> None:
    """A PlanSpec, or issues that are one printable line each."""
    if error is None:
        assert isinstance(result, PlanSpec)
        return
    assert error.issues
    for issue in error.issues:
        line = str(issue)
        assert "\n" not in line
        assert line.isprintable(), line
        line.encode("utf-8")  # no lone surrogate survives into a message


def outcome_of_bytes(data: bytes) -> None:
    """Parse ``data``; anything but a PlanSpec or a PlanValidationError fails the test."""
    try:
        result = parse_plan_bytes(data)
    except PlanValidationError as exc:
        check_outcome(None, exc)
    else:
        check_outcome(result, None)


def outcome_of_text(text: str) -> None:
    """As outcome_of_bytes, for text (which may hold lone surrogates)."""
    try:
        result = parse_plan_text(text)
    except PlanValidationError as exc:
        check_outcome(None, exc)
    else:
        check_outcome(result, None)


@FUZZ
@given(text=plan_texts(), how=st.sampled_from(["plain", "plain", "bom", "utf16"]))
def test_structured_but_wrong_plan_files(text: str, how: str) -> None:
    """JSON/YAML plans with wrong types, odd text and mutations: a plan or issues."""
    outcome_of_bytes(to_bytes(text, how))
    outcome_of_text(text)


@FUZZ
@given(text=st.one_of(deep_texts(), alias_texts()))
def test_deep_and_aliased_plan_files(text: str) -> None:
    """Nesting past every limit and alias fan-outs: refused or accepted, in bounded time."""
    outcome_of_bytes(text.encode())


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    """Any bytes at all."""
    outcome_of_bytes(data)


@FUZZ
@given(text=st.text(characters, max_size=200))
def test_random_text(text: str) -> None:
    """Any text at all, lone surrogates included."""
    outcome_of_text(text)
