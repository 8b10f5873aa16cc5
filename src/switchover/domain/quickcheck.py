"""The per-tenant quick path: a tenant whose every field is plainly valid, checked without pydantic.

Nearly every tenant is: it is checked with a few lookups and type tests and built directly;
pydantic's validation costs a hundred times more. Anything unusual (a problem, both spellings
of one field, a mapping that is no dict...) takes the exact path (``planfile``), which words
every problem. The quick path accepts a tenant only when the exact path would, and builds the
same configs from it. (A plan whose tenants are all plain, in upstream's spelling, is checked
faster still, all at once: ``bulkcheck``.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.documents import deeper_than
from switchover.domain.planrules import (
    CONTAINERS,
    INT_MAX,
    INT_MIN,
    PLAN_ID_RE,
    TENANT_ID_RE,
    InexactYamlError,
    TooDeepError,
    camel,
    is_ipv4,
    parse_rules,
    yaml11_str,
)

_CONFIG_NAMES = (
    "tenant_id",
    "plan_id",
    "plan_version",
    "deploy_unit_id",
    "deploy_unit_version",
    "deploy_unit_name",
    "network_endpoints",
    "nacos_name_space",
    "called_number_rules",
    "trunk_group",
    "default_flag",
    "source_tenant_deploy_config",
)
_ENDPOINT_NAMES = ("key", "source_ip", "source_domain", "target_ip", "target_domain")


def _spellings(names: Sequence[str], *extra: tuple[str, str]) -> dict[str, str]:
    """Every accepted key of ``names`` mapped to its camelCase spelling."""
    spellings = {name: camel(name) for name in names}
    spellings.update({camel(name): camel(name) for name in names})
    spellings.update(extra)
    return spellings


_CONFIG_SPELLINGS = _spellings(_CONFIG_NAMES, ("nacos_namespace", camel("nacos_name_space")))
_ENDPOINT_SPELLINGS = _spellings(_ENDPOINT_NAMES)
_CONFIG_KEYS = frozenset(camel(name) for name in _CONFIG_NAMES)
_ENDPOINT_KEYS = frozenset(camel(name) for name in _ENDPOINT_NAMES)
_TENANT_ID_MATCH = TENANT_ID_RE.fullmatch
_PLAN_ID_MATCH = PLAN_ID_RE.fullmatch

# (tenant_id, plan_id, plan_version, deploy_unit_id, deploy_unit_version, deploy_unit_name,
#  network_endpoints, nacos_namespace, called_number_rules, trunk_group, default_flag)
QuickConfig = tuple[
    str | None,
    str | None,
    int | None,
    int | None,
    int | None,
    str | None,
    tuple[NetworkEndpoint, ...],
    str | None,
    tuple[str, ...],
    str | None,
    bool | None,
]


@dataclass(slots=True)
class QuickTenant:
    """A tenant the quick path accepted: its config, previous config, the user's key for its
    tenantId, and planId/planVersion as ``_lookup`` finds them (the user's key, the raw value,
    the checked value)."""

    config: QuickConfig
    previous: QuickConfig | None
    tenant_key: str
    plan_id: tuple[str, object, str] | None
    plan_version: tuple[str, object, int] | None


def quick_record(fields: QuickConfig, tenant_id: str, plan_id: str, version: int) -> TenantConfig:
    """The TenantConfig of a config the quick path accepted, with the plan-wide identity."""
    return TenantConfig(
        tenant_id,
        plan_id,
        version,
        fields[3],
        fields[4],
        fields[5],
        fields[6],
        fields[7],
        fields[8],
        fields[9],
        fields[10],
    )


_BAD = object()  # a field value the quick path does not accept


def _quick_ip(value: object) -> object:
    """OptionalIPv4: None, blank (None) or a dotted IPv4 address; else _BAD."""
    if value is None or (type(value) is str and is_ipv4(value)):
        return value
    if type(value) is str and not value.strip():
        return None
    return _BAD


def _quick_text(value: object) -> object:
    """OptionalText: None, blank (None) or printable text; else _BAD (the full path tells
    which other characters are allowed)."""
    if value is None:
        return None
    if type(value) is not str:
        return _BAD
    if value.isprintable():
        return value if value.strip() else None
    return _BAD if value.strip() else None


def _camel_dict(
    raw: dict[Any, Any], spellings: Mapping[str, str], room: int | None
) -> dict[str, Any] | None:
    """``raw``'s known fields under their camelCase keys; None when a field is spelled twice.

    The values of other keys are ignored, as the models ignore them, but for their depth.
    """
    known: dict[str, Any] = {}
    for key, value in raw.items():
        spelling = spellings.get(key)
        if spelling is None:
            if room is not None and type(value) in CONTAINERS and deeper_than(value, room):
                raise TooDeepError
        elif spelling in known:
            return None
        else:
            known[spelling] = value
    return known


def _quick_endpoint(raw: object, yaml11: bool, room: int | None) -> NetworkEndpoint | None:
    if type(raw) is not dict:
        return None
    known = raw if _ENDPOINT_KEYS.issuperset(raw) else _camel_dict(raw, _ENDPOINT_SPELLINGS, room)
    if known is None:
        return None
    get = known.get
    key = get("key")
    if type(key) is not str or not key.strip() or not key.isprintable():
        return None
    source_ip, source_domain = _quick_ip(get("sourceIp")), _quick_text(get("sourceDomain"))
    target_ip, target_domain = _quick_ip(get("targetIp")), _quick_text(get("targetDomain"))
    if (
        source_ip is _BAD
        or target_ip is _BAD
        or source_domain is _BAD
        or target_domain is _BAD
        or (source_ip is None and source_domain is None)
        or (target_ip is None and target_domain is None)
    ):
        return None
    if yaml11 and not (
        yaml11_str(key)
        and (source_domain is None or yaml11_str(source_domain))  # type: ignore[arg-type]
        and (target_domain is None or yaml11_str(target_domain))  # type: ignore[arg-type]
    ):
        raise InexactYamlError
    return NetworkEndpoint(key, source_ip, source_domain, target_ip, target_domain)  # type: ignore[arg-type]


def _quick_config(
    known: dict[str, Any], source: bool, yaml11: bool, room: int | None
) -> QuickConfig | None:
    """The checked fields of one config (``source``: a previous config), or None."""
    get = known.get
    tenant_id = get("tenantId")
    if tenant_id is None:
        if not source:
            return None
    elif type(tenant_id) is not str or _TENANT_ID_MATCH(tenant_id) is None:
        return None
    plan_id = raw_plan_id = get("planId")
    if plan_id is not None:
        if type(plan_id) is int:
            if plan_id.bit_length() > 256:
                return None
            plan_id = str(plan_id)
        elif type(plan_id) is not str:
            return None
        if _PLAN_ID_MATCH(plan_id) is None:
            return None
    version = get("planVersion")
    if version is None:
        if source:
            return None
    elif type(version) is not int or not 0 <= version <= INT_MAX:
        return None
    unit_id, unit_version = get("deployUnitId"), get("deployUnitVersion")
    if unit_id is not None and (type(unit_id) is not int or not INT_MIN <= unit_id <= INT_MAX):
        return None
    if unit_version is not None and (
        type(unit_version) is not int or not INT_MIN <= unit_version <= INT_MAX
    ):
        return None
    unit_name, namespace = get("deployUnitName"), get("nacosNameSpace")
    if unit_name is not None and (
        type(unit_name) is not str or not unit_name.strip() or not unit_name.isprintable()
    ):
        return None
    if namespace is not None and (type(namespace) is not str or not namespace.isprintable()):
        return None
    rules: tuple[str, ...] = ()
    raw_rules, trunk = get("calledNumberRules"), _quick_text(get("trunkGroup"))
    if raw_rules is not None:
        if type(raw_rules) is not str:
            return None
        if raw_rules.strip():
            if not raw_rules.isprintable():
                return None  # breaks and tabs between rules: the full path checks each rule
            rules = parse_rules(raw_rules)
            if not rules:
                return None
    if trunk is _BAD or bool(rules) != (trunk is not None):
        return None
    flag = get("defaultFlag")
    if flag is not None and type(flag) is not bool:
        return None
    endpoints: tuple[NetworkEndpoint, ...] = ()
    raw_endpoints = get("networkEndpoints")
    if raw_endpoints is not None:
        if type(raw_endpoints) is not list:
            return None
        inner = None if room is None else room - 2
        built = [_quick_endpoint(item, yaml11, inner) for item in raw_endpoints]
        if None in built:
            return None
        endpoints = tuple(built)  # type: ignore[arg-type]  # no None left
    if source and room is not None:
        nested = get("sourceTenantDeployConfig")  # one level of history: ignored
        if type(nested) in CONTAINERS and deeper_than(nested, room):
            raise TooDeepError
    if yaml11:
        texts = (tenant_id, raw_plan_id, unit_name, namespace, rules and raw_rules, trunk)
        if not all(yaml11_str(text) for text in texts if type(text) is str):
            raise InexactYamlError
    return (
        tenant_id,
        plan_id,
        version,
        unit_id,
        unit_version,
        unit_name,
        endpoints,
        namespace,
        rules,
        trunk,  # type: ignore[return-value]  # a str or None: checked above
        flag,
    )


def quick_tenant(raw: object, yaml11: bool, room: int | None) -> QuickTenant | None:
    """The quick path's verdict on one tenant entry: accepted and checked, or None."""
    if type(raw) is not dict:
        return None
    known = raw if _CONFIG_KEYS.issuperset(raw) else _camel_dict(raw, _CONFIG_SPELLINGS, room)
    if known is None:
        return None
    config = _quick_config(known, False, yaml11, room)
    if config is None:
        return None
    previous = None
    raw_source = known.get("sourceTenantDeployConfig")
    if raw_source is not None:
        if type(raw_source) is not dict:
            return None
        inner = None if room is None else room - 1
        source = (
            raw_source
            if _CONFIG_KEYS.issuperset(raw_source)
            else _camel_dict(raw_source, _CONFIG_SPELLINGS, inner)
        )
        if source is None:
            return None
        previous = _quick_config(source, True, yaml11, inner)
        if previous is None or (previous[0] is not None and previous[0] != config[0]):
            return None
    plan_id = version = None
    if config[1] is not None:
        key = "planId" if known is raw or "planId" in raw else "plan_id"
        plan_id = (key, raw[key], config[1])
    if config[2] is not None:
        key = "planVersion" if known is raw or "planVersion" in raw else "plan_version"
        version = (key, raw[key], config[2])
    tenant_key = "tenantId" if known is raw or "tenantId" in raw else "tenant_id"
    return QuickTenant(config, previous, tenant_key, plan_id, version)
