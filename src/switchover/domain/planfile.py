"""Plan-file input: parse YAML/JSON, validate every tenant, and build a PlanSpec (no I/O)."""

from __future__ import annotations

import codecs
import enum
import functools
import gc
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import ErrorDetails, PydanticCustomError

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.documents import (
    MAX_DEPTH,
    MAX_PLAN_SIZE,
    decode_utf8,
    deeper_than,
    load_json,
    load_yaml,
    load_yaml_fast,
    yaml11_reads_as_str,
    yaml_error_message,
)
from switchover.domain.documents import (
    HugeInt as _HugeInt,
)
from switchover.domain.documents import (
    file_issue as _file_issue,
)
from switchover.domain.documents import (
    too_large as _too_large,
)
from switchover.domain.records import PlanSpec, TenantSpec
from switchover.domain.rollout import Budget, Policy, Wave, resolve_waves
from switchover.errors import PlanValidationError, ValidationIssue

# Integers that every store and wire format holds (a signed 64-bit integer, a Java long).
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1

_TENANT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PLAN_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Field names are few and fixed; the conversion is a regex, run for every tenant.
_camel = functools.cache(to_camel)
_SHAPES = "a list of tenant configs, or a document with 'plan' and 'tenants'"
_STARTS_LIKE_JSON = re.compile(r"\s*[\[{]")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")

# ---------------------------------------------------------------------------------------------
# Text and values in messages.

# C0 and C1 control characters, Unicode line separators, and lone surrogates (which no UTF-8
# encoder, hence no store and no wire format, accepts). Multi-line text may hold tabs and breaks.
_BAD_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_BAD_MULTILINE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SHOW_LIMIT = 40
_SHOW_DEPTH = 4


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be stored and sent as text, or None when it can.

    Args:
        value: the text.
        multiline: allow tabs and line breaks.

    Returns:
        A message naming the first offending character and its offset (never the text itself:
        it may be a secret), or None.
    """
    if value.isprintable():  # one C-level scan settles nearly every value
        return None
    found = (_BAD_MULTILINE_TEXT if multiline else _BAD_TEXT).search(value)
    if found is None:
        return None
    code = ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"is not valid Unicode text (lone surrogate U+{code:04X} at offset {found.start()})"
    return f"must not contain control characters (found U+{code:04X} at offset {found.start()})"


def _show(value: object) -> str:
    """A short repr of ``value`` for messages, cheap however large, deep or shared it is."""
    pieces: list[str] = []
    length = 0
    for piece in _repr_pieces(value, 0):
        pieces.append(piece)
        length += len(piece)
        if length > _SHOW_LIMIT:
            break
    text = "".join(pieces)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 3] + "..."


def _repr_pieces(value: object, depth: int) -> Iterator[str]:
    # A generator, so that the caller stops the walk once it has enough text: YAML aliases can
    # make a small value's full repr astronomically long.
    if isinstance(value, str | bytes):
        yield repr(value[: _SHOW_LIMIT + 1])
    elif isinstance(value, bool) or not isinstance(value, int | list | tuple | set | dict):
        yield repr(value) if isinstance(value, float | bool | type(None)) else _other(value)
    elif isinstance(value, int):
        # repr() refuses integers of more than sys.get_int_max_str_digits() digits.
        yield repr(value) if value.bit_length() <= 128 else f"<integer of ~{_digits(value)} digits>"
    elif depth >= _SHOW_DEPTH:
        yield "..."
    elif isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield ", " if index else ""
            yield from _repr_pieces(key, depth + 1)
            yield ": "
            yield from _repr_pieces(item, depth + 1)
        yield "}"
    else:
        brackets = "[]" if isinstance(value, list) else "()" if isinstance(value, tuple) else "{}"
        yield brackets[0]
        for index, item in enumerate(value):
            yield ", " if index else ""
            yield from _repr_pieces(item, depth + 1)
        yield brackets[1]


def _other(value: object) -> str:
    if isinstance(value, _HugeInt):
        return f"<integer of {value.digits} digits>"
    text = repr(value)  # dates and times, the only other values a safe load makes
    return text if len(text) <= 2 * _SHOW_LIMIT else f"<{type(value).__name__}>"


def _digits(value: int) -> int:
    return int(abs(value).bit_length() * 0.30103) + 1


def _path_part(part: object) -> str:
    """A mapping key as it appears in an issue's field path: plain when it is a short name."""
    if isinstance(part, str) and part.isprintable() and 0 < len(part) <= 64:
        return part
    return _show(part)


# ---------------------------------------------------------------------------------------------
# Field rules.


def _is_tenant_id(value: object) -> bool:
    return isinstance(value, str) and _TENANT_ID_RE.fullmatch(value) is not None


def _tenant_id(value: str) -> str:
    if not _is_tenant_id(value):
        raise PydanticCustomError(
            "tenant_id",
            "must be 1-64 letters, digits, '_' or '-' (got {got})",
            {"got": _show(value)},
        )
    return value


def _plan_id(value: object) -> str:
    # Upstream sends planId as a number; plan files often write it as a string.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError(
            "plan_id_type", "must be a string or an integer (got {got})", {"got": _show(value)}
        )
    # An integer of more than 64 digits fails the pattern anyway; str() may refuse it.
    text = str(value) if not isinstance(value, int) or value.bit_length() <= 256 else ""
    if not _PLAN_ID_RE.fullmatch(text):
        raise PydanticCustomError(
            "plan_id",
            "must be 1-64 letters, digits, '_', '.' or '-' (got {got})",
            {"got": _show(text or value)},
        )
    return text


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _checked_text(value: str, *, multiline: bool = False) -> str:
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        raise PydanticCustomError("text", "{message}", {"message": problem})
    return value


def _optional_text(value: object) -> object:
    if isinstance(value, str):
        if not value.strip():
            return None
        _checked_text(value)
    return value


def _text_or_none(value: str | None) -> str | None:
    return value if value is None else _checked_text(value)


def _multiline_text_or_none(value: str | None) -> str | None:
    return value if value is None else _checked_text(value, multiline=True)


def _non_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return _checked_text(value)


def _rules_text(value: object) -> object:
    # Rules are trimmed, so breaks and tabs between them are layout; inside a rule they are not.
    if not isinstance(value, str) or not value.strip():
        return _blank_to_none(value)
    if not value.isprintable():
        _checked_text(value, multiline=True)
        for number, rule in enumerate(_parse_rules(value), start=1):
            problem = text_problem(rule)
            if problem is not None:
                raise PydanticCustomError(
                    "text", "{message}", {"message": f"rule {number} {problem}"}
                )
    return value


def _ipv4(value: str | None) -> str | None:
    # What ipaddress.IPv4Address accepts (no leading zeros, ASCII digits), at regex speed.
    if value is not None and _IPV4_RE.fullmatch(value) is None:
        raise PydanticCustomError(
            "ipv4", "must be a dotted IPv4 address (got {got})", {"got": _show(value)}
        )
    return value


TenantIdText = Annotated[StrictStr, AfterValidator(_tenant_id)]
PlanIdText = Annotated[str, PlainValidator(_plan_id)]
PlanVersion = Annotated[StrictInt, Field(ge=0, le=_INT_MAX)]
StoredInt = Annotated[StrictInt, Field(ge=_INT_MIN, le=_INT_MAX)]
NonBlankText = Annotated[StrictStr, AfterValidator(_non_blank)]
OptionalText = Annotated[StrictStr | None, BeforeValidator(_optional_text)]
OptionalIPv4 = Annotated[StrictStr | None, BeforeValidator(_blank_to_none), AfterValidator(_ipv4)]
RulesText = Annotated[StrictStr | None, BeforeValidator(_rules_text)]


class _InputModel(BaseModel):
    # Upstream sends camelCase; hand-written files may use snake_case. Upstream also sends
    # fields we do not use, so unknown keys are ignored.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class NetworkEndpointInput(_InputModel):
    """One route rule as written in a plan file."""

    key: NonBlankText
    source_ip: OptionalIPv4 = None
    source_domain: OptionalText = None
    target_ip: OptionalIPv4 = None
    target_domain: OptionalText = None


class _DeployConfigFields(_InputModel):
    tenant_id: TenantIdText | None = None
    plan_id: PlanIdText | None = None
    plan_version: PlanVersion | None = None
    deploy_unit_id: StoredInt | None = None
    deploy_unit_version: StoredInt | None = None
    deploy_unit_name: NonBlankText | None = None
    network_endpoints: list[NetworkEndpointInput] | None = None
    nacos_name_space: Annotated[StrictStr | None, AfterValidator(_text_or_none)] = Field(
        default=None,
        validation_alias=AliasChoices("nacosNameSpace", "nacos_name_space", "nacos_namespace"),
    )
    called_number_rules: RulesText = None
    trunk_group: OptionalText = None
    default_flag: StrictBool | None = None


class SourceTenantDeployConfigInput(_DeployConfigFields):
    """A tenant's previous config; its planVersion is required because rollback writes it."""

    plan_version: PlanVersion


class TenantDeployConfigInput(_DeployConfigFields):
    """One upstream ``TenantDeployConfig``: the tenant's new config and its previous one."""

    tenant_id: TenantIdText
    source_tenant_deploy_config: SourceTenantDeployConfigInput | None = None


class BudgetInput(BaseModel):
    """``failure_budget``: how many failed tasks halt the plan."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    max_failed: Annotated[StrictInt, Field(ge=0, le=_INT_MAX)] | None = None
    max_failed_ratio: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None


class WaveInput(BaseModel):
    """A wave written as an object: its size (a count or a cumulative percentage) and
    whether it waits for an operator's ``promote``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: StrictInt | StrictStr
    approval: StrictBool = False
    failure_budget: BudgetInput | None = None


_Deadline = Annotated[float, Field(gt=0, le=30 * 86400, allow_inf_nan=False)]


class DeadlinesInput(BaseModel):
    """``deadlines``: this plan's overrides of ``engine.stage_deadline`` / ``task_deadline``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: _Deadline | None = None
    task: _Deadline | None = None


class PlanSectionInput(BaseModel):
    """The ``plan:`` section of the document shape; unknown keys are mistakes here."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    id: PlanIdText | None = None
    version: PlanVersion | None = None
    max_concurrency: Annotated[StrictInt, Field(ge=1, le=_INT_MAX)] | None = None
    name: Annotated[StrictStr | None, AfterValidator(_text_or_none)] = None
    description: Annotated[StrictStr | None, AfterValidator(_multiline_text_or_none)] = None
    waves: Annotated[list[StrictInt | StrictStr | WaveInput], Field(min_length=1)] | None = None
    bake: Annotated[float, Field(ge=0, le=30 * 86400, allow_inf_nan=False)] | None = None
    failure_budget: BudgetInput | None = None
    auto_rollback: StrictBool | None = None
    deadlines: DeadlinesInput | None = None


# ---------------------------------------------------------------------------------------------
# Error reporting: pydantic errors and our own cross-field checks, in the user's own spelling.

_TYPE_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "model_type": "must be an object (key: value mapping)",
    "model_attributes_type": "must be an object (key: value mapping)",
    "dict_type": "must be an object (key: value mapping)",
    "extra_forbidden": "unknown key",
    "invalid_key": "unknown key (keys must be strings)",
}


def _friendly(error: ErrorDetails) -> str:
    kind = error["type"]
    value = error["input"]
    if isinstance(value, _HugeInt) and kind in ("int_type", "plan_id_type"):
        return f"is too large (an integer of {value.digits} digits)"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = (error.get("ctx") or {}).get("ge" if kind == "greater_than_equal" else "le")
        least_or_most = "least" if kind == "greater_than_equal" else "most"
        return f"must be at {least_or_most} {bound} (got {_show(value)})"
    if kind in _TYPE_MESSAGES:
        message = _TYPE_MESSAGES[kind]
        if kind not in ("missing", "extra_forbidden", "invalid_key"):
            message += f" (got {_show(value)})"
        return message
    return error["msg"].removeprefix("Value error, ")


def _prefers_snake(container: object) -> bool:
    if not isinstance(container, Mapping):
        return False
    keys = [k for k in container if isinstance(k, str)]
    return any("_" in k for k in keys) and not any(k != k.lower() for k in keys)


def _join(path: Sequence[object]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool) and part.bit_length() < 64:
            text += f"[{part}]"
        else:
            name = _path_part(part)
            text += f".{name}" if text else name
    return text


def _pydantic_issues(
    exc: ValidationError, raw: object, prefix: Sequence[str | int] = ()
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        loc: list[object] = list(error["loc"])
        if error["type"] == "missing" and loc and isinstance(loc[-1], str):
            container = raw
            for part in loc[:-1]:
                container = _step_into(container, part)
            if _prefers_snake(container):
                loc[-1] = to_snake(loc[-1])
        elif error["type"] == "invalid_key" and loc:
            loc[-1] = _show(loc[-1])  # a key such as 1 or null, not a list index
        found.append((_join([*prefix, *loc]), _friendly(error)))
    return found


def _step_into(container: object, part: object) -> object:
    if isinstance(part, int) and isinstance(container, list) and 0 <= part < len(container):
        return container[part]
    if isinstance(container, Mapping):
        return container.get(part)
    return None


def _lookup(raw: Mapping[Any, Any], name: str) -> tuple[str, Any] | None:
    """The user's key for field ``name`` (snake_case) and its value, if present and not null."""
    for key in (_camel(name), name):
        if raw.get(key) is not None:
            return key, raw[key]
    return None


def _spelled(raw: Mapping[Any, Any], name: str) -> str:
    """How the user spells field ``name``: their key if present, else their file's style."""
    hit = _lookup(raw, name)
    if hit is not None:
        return hit[0]
    return name if _prefers_snake(raw) else _camel(name)


def _given(raw: Mapping[Any, Any], name: str) -> bool:
    hit = _lookup(raw, name)
    return hit is not None and _blank_to_none(hit[1]) is not None


@functools.lru_cache(maxsize=64)  # a previous config often repeats its tenant's rules
def _parse_rules(text: str) -> tuple[str, ...]:
    return tuple(filter(None, map(str.strip, text.split(","))))


def _cross_field_issues(raw: Mapping[Any, Any], prefix: str) -> list[tuple[str, str]]:
    """Rules spanning several fields; they run even when pydantic rejected some field."""
    found: list[tuple[str, str]] = []
    has_rules, has_trunk = _given(raw, "called_number_rules"), _given(raw, "trunk_group")
    if has_rules != has_trunk:
        present, missing = "called_number_rules", "trunk_group"
        if has_trunk:
            present, missing = missing, present
        message = f"is required when {_spelled(raw, present)} is given"
        found.append((prefix + _spelled(raw, missing), message))
    rules = _lookup(raw, "called_number_rules")
    if has_rules and rules is not None and isinstance(rules[1], str) and not _parse_rules(rules[1]):
        message = "contains no rules (expected comma-separated numbers)"
        found.append((prefix + rules[0], message))
    endpoints = _lookup(raw, "network_endpoints")
    if endpoints is not None and isinstance(endpoints[1], list):
        for index, endpoint in enumerate(endpoints[1]):
            if not isinstance(endpoint, Mapping):
                continue
            for side in ("source", "target"):
                if not (_given(endpoint, f"{side}_ip") or _given(endpoint, f"{side}_domain")):
                    ip_key = _spelled(endpoint, f"{side}_ip")
                    domain_key = _spelled(endpoint, f"{side}_domain")
                    message = f"{side} side needs {ip_key} or {domain_key}"
                    found.append((f"{prefix}{endpoints[0]}[{index}]", message))
    return found


# ---------------------------------------------------------------------------------------------
# The quick path. A tenant whose every field is plainly valid, as nearly all are, is checked with
# a few lookups and type tests and built directly; pydantic's validation costs a hundred times
# more. Anything unusual (a problem, both spellings of one field, a mapping that is no dict...)
# takes the full path below, which words every problem. The quick path accepts a tenant only
# when the full path would, and builds the same configs from it.


class _InexactYamlError(Exception):
    """Data from the fast YAML loader holds a string YAML 1.1 reads otherwise, or a problem:
    the document is read again with PyYAML, whose data and messages are the reference."""


class _TooDeepError(Exception):
    """A value nests deeper than MAX_DEPTH (checked here for loaders that leave it to us)."""


_CONTAINERS = (dict, list)
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
    spellings = {name: _camel(name) for name in names}
    spellings.update({_camel(name): _camel(name) for name in names})
    spellings.update(extra)
    return spellings


_CONFIG_SPELLINGS = _spellings(_CONFIG_NAMES, ("nacos_namespace", _camel("nacos_name_space")))
_ENDPOINT_SPELLINGS = _spellings(_ENDPOINT_NAMES)
_CONFIG_KEYS = frozenset(_camel(name) for name in _CONFIG_NAMES)
_ENDPOINT_KEYS = frozenset(_camel(name) for name in _ENDPOINT_NAMES)
_TENANT_ID_MATCH = _TENANT_ID_RE.fullmatch
_PLAN_ID_MATCH = _PLAN_ID_RE.fullmatch


@functools.lru_cache(maxsize=4096)
def _is_ipv4(value: str) -> bool:
    # Addresses repeat across a plan's routes (their gateways): most checks are cache hits.
    return _IPV4_RE.fullmatch(value) is not None


# (tenant_id, plan_id, plan_version, deploy_unit_id, deploy_unit_version, deploy_unit_name,
#  network_endpoints, nacos_namespace, called_number_rules, trunk_group, default_flag)
_QuickConfig = tuple[
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
class _QuickTenant:
    """A tenant the quick path accepted: its config, previous config, the user's key for its
    tenantId, and planId/planVersion as ``_lookup`` finds them (the user's key, the raw value,
    the checked value)."""

    config: _QuickConfig
    previous: _QuickConfig | None
    tenant_key: str
    plan_id: tuple[str, object, str] | None
    plan_version: tuple[str, object, int] | None


# Building. A frozen dataclass's __init__ sets each field through object.__setattr__; for the
# hundreds of thousands of configs of a big plan, setting the slots directly builds the same
# objects (a test compares them) in half the time.
_new = object.__new__
_SLOTS = {cls: vars(cls) for cls in (NetworkEndpoint, TenantConfig, TenantSpec)}
_set_key = _SLOTS[NetworkEndpoint]["key"].__set__
_set_source_ip = _SLOTS[NetworkEndpoint]["source_ip"].__set__
_set_source_domain = _SLOTS[NetworkEndpoint]["source_domain"].__set__
_set_target_ip = _SLOTS[NetworkEndpoint]["target_ip"].__set__
_set_target_domain = _SLOTS[NetworkEndpoint]["target_domain"].__set__
_set_tenant_id = _SLOTS[TenantConfig]["tenant_id"].__set__
_set_plan_id = _SLOTS[TenantConfig]["plan_id"].__set__
_set_plan_version = _SLOTS[TenantConfig]["plan_version"].__set__
_set_deploy_unit_id = _SLOTS[TenantConfig]["deploy_unit_id"].__set__
_set_deploy_unit_version = _SLOTS[TenantConfig]["deploy_unit_version"].__set__
_set_deploy_unit_name = _SLOTS[TenantConfig]["deploy_unit_name"].__set__
_set_network_endpoints = _SLOTS[TenantConfig]["network_endpoints"].__set__
_set_nacos_namespace = _SLOTS[TenantConfig]["nacos_namespace"].__set__
_set_called_number_rules = _SLOTS[TenantConfig]["called_number_rules"].__set__
_set_trunk_group = _SLOTS[TenantConfig]["trunk_group"].__set__
_set_default_flag = _SLOTS[TenantConfig]["default_flag"].__set__
_set_config = _SLOTS[TenantSpec]["config"].__set__
_set_previous = _SLOTS[TenantSpec]["previous"].__set__


def _endpoint(
    key: str,
    source_ip: str | None,
    source_domain: str | None,
    target_ip: str | None,
    target_domain: str | None,
) -> NetworkEndpoint:
    endpoint: NetworkEndpoint = _new(NetworkEndpoint)
    _set_key(endpoint, key)
    _set_source_ip(endpoint, source_ip)
    _set_source_domain(endpoint, source_domain)
    _set_target_ip(endpoint, target_ip)
    _set_target_domain(endpoint, target_domain)
    return endpoint


def _config(fields: _QuickConfig, tenant_id: str, plan_id: str, version: int) -> TenantConfig:
    config: TenantConfig = _new(TenantConfig)
    _set_tenant_id(config, tenant_id)
    _set_plan_id(config, plan_id)
    _set_plan_version(config, version)
    _set_deploy_unit_id(config, fields[3])
    _set_deploy_unit_version(config, fields[4])
    _set_deploy_unit_name(config, fields[5])
    _set_network_endpoints(config, fields[6])
    _set_nacos_namespace(config, fields[7])
    _set_called_number_rules(config, fields[8])
    _set_trunk_group(config, fields[9])
    _set_default_flag(config, fields[10])
    return config


def _spec(config: TenantConfig, previous: TenantConfig | None) -> TenantSpec:
    spec: TenantSpec = _new(TenantSpec)
    _set_config(spec, config)
    _set_previous(spec, previous)
    return spec


def _yaml11_str(value: str) -> bool:
    # Most strings are longer than any YAML 1.1 word and start with a letter: settled at once.
    return (len(value) > 5 and value[0].isalpha()) or yaml11_reads_as_str(value)


_BAD = object()  # a field value the quick path does not accept


def _quick_ip(value: object) -> object:
    """OptionalIPv4: None, blank (None) or a dotted IPv4 address; else _BAD."""
    if value is None or (type(value) is str and _is_ipv4(value)):
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
        camel = spellings.get(key)
        if camel is None:
            if room is not None and type(value) in _CONTAINERS and deeper_than(value, room):
                raise _TooDeepError
        elif camel in known:
            return None
        else:
            known[camel] = value
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
        _yaml11_str(key)
        and (source_domain is None or _yaml11_str(source_domain))  # type: ignore[arg-type]
        and (target_domain is None or _yaml11_str(target_domain))  # type: ignore[arg-type]
    ):
        raise _InexactYamlError
    return _endpoint(key, source_ip, source_domain, target_ip, target_domain)  # type: ignore[arg-type]


def _quick_config(
    known: dict[str, Any], source: bool, yaml11: bool, room: int | None
) -> _QuickConfig | None:
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
    elif type(version) is not int or not 0 <= version <= _INT_MAX:
        return None
    unit_id, unit_version = get("deployUnitId"), get("deployUnitVersion")
    if unit_id is not None and (type(unit_id) is not int or not _INT_MIN <= unit_id <= _INT_MAX):
        return None
    if unit_version is not None and (
        type(unit_version) is not int or not _INT_MIN <= unit_version <= _INT_MAX
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
            rules = _parse_rules(raw_rules)
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
        if type(nested) in _CONTAINERS and deeper_than(nested, room):
            raise _TooDeepError
    if yaml11:
        texts = (tenant_id, raw_plan_id, unit_name, namespace, rules and raw_rules, trunk)
        if not all(_yaml11_str(text) for text in texts if type(text) is str):
            raise _InexactYamlError
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


def _quick_tenant(raw: object, yaml11: bool, room: int | None) -> _QuickTenant | None:
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
    return _QuickTenant(config, previous, tenant_key, plan_id, version)


def _yaml11_model_strings(model: _DeployConfigFields) -> bool:
    """Whether every string a validated config uses reads the same in YAML 1.1 (full path)."""
    strings = [
        model.tenant_id,
        model.plan_id,
        model.deploy_unit_name,
        model.nacos_name_space,
        model.called_number_rules,
        model.trunk_group,
    ]
    for endpoint in model.network_endpoints or ():
        strings += (endpoint.key, endpoint.source_domain, endpoint.target_domain)
    source = (
        model.source_tenant_deploy_config if isinstance(model, TenantDeployConfigInput) else None
    )
    if source is not None and not _yaml11_model_strings(source):
        return False
    return all(_yaml11_str(text) for text in strings if isinstance(text, str))


def _yaml11_section_strings(raw_section: Mapping[Any, Any]) -> bool:
    """Whether the plan section's strings (id, name, description, wave sizes) read the same."""
    strings = [raw_section.get(key) for key in ("id", "name", "description")]
    for wave in raw_section.get("waves") or ():
        strings.append(wave.get("size") if isinstance(wave, Mapping) else wave)
    return all(_yaml11_str(text) for text in strings if isinstance(text, str))


# ---------------------------------------------------------------------------------------------
# Parsing.


@dataclass(slots=True)
class _Entry:
    """One tenant entry being checked: its label, raw data, model or quick verdict, issues."""

    index: int
    raw: object
    label: str
    model: TenantDeployConfigInput | None = None
    quick: _QuickTenant | None = None
    issues: list[tuple[str, str]] = field(default_factory=list)


def parse_plan_bytes(data: bytes, *, default_max_concurrency: int = 10) -> PlanSpec:
    """Parse and validate a plan file's content as read from disk (UTF-8 YAML or JSON).

    Args:
        data: the file's bytes; a UTF-8 byte-order mark is allowed.
        default_max_concurrency: used when the plan does not set ``max_concurrency``.

    Returns:
        The validated plan.

    Raises:
        PlanValidationError: the file is too large, not UTF-8, not YAML/JSON, or the plan has
            problems; ``issues`` lists every one of them.
    """
    if len(data) > MAX_PLAN_SIZE:
        raise _too_large(len(data), "bytes")
    encoded = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    # The text is not kept here, so that parsing may drop it once loaded (tens of megabytes).
    return _parse_text(_decoded(data), encoded, default_max_concurrency)


def _decoded(data: bytes) -> str:
    try:
        return decode_utf8(data)
    except ValueError as exc:
        raise _file_issue(str(exc)) from exc


def parse_plan_text(text: str, *, default_max_concurrency: int = 10) -> PlanSpec:
    """Parse and validate a plan file's text (YAML or JSON).

    Args:
        text: the file's content.
        default_max_concurrency: used when the plan does not set ``max_concurrency``.

    Returns:
        The validated plan.

    Raises:
        PlanValidationError: the text is too large or not YAML/JSON, or the plan has problems;
            ``issues`` lists every one of them.
    """
    return _parse_text(text, None, default_max_concurrency)


def _parse_text(text: str, encoded: bytes | None, default_max_concurrency: int) -> PlanSpec:
    """Load and check a plan document; ``encoded`` is ``text`` as UTF-8 when the caller has it
    (then the text itself is dropped once loaded, and decoded again if needed)."""
    if len(text) > MAX_PLAN_SIZE:
        raise _too_large(len(text), "characters")
    if text.startswith("\ufeff"):
        text = text[1:]
        encoded = None
    # Loading and checking make millions of objects and free none: the cyclic collector would
    # walk them again and again for nothing (a third of the time of a big JSON plan).
    collecting = gc.isenabled()
    gc.disable()
    try:
        data, kind = _load_plan(text, encoded)
        if encoded is not None:
            text = ""
        try:
            return _parse(
                data,
                default_max_concurrency,
                yaml11=kind is _Loaded.FAST_YAML,
                bounded=kind is not _Loaded.YAML,
                consume=True,
            )
        except _InexactYamlError:
            del data
        # The fast loader's data holds a string YAML 1.1 reads otherwise, or a problem: the
        # reference loader's data decides, and words the problems.
        if encoded is not None:
            text = decode_utf8(encoded)
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            raise _file_issue(yaml_error_message(exc)) from exc
        return _parse(data, default_max_concurrency, yaml11=False, bounded=False, consume=True)
    finally:
        if collecting:
            gc.enable()


class _Loaded(enum.Enum):
    """How a plan document was loaded, hence what its data may still hold."""

    JSON = "json"  # not yet checked for depth
    YAML = "yaml"  # PyYAML: the reference, depth checked
    FAST_YAML = "fast-yaml"  # yaml_rs: see documents.load_yaml_fast; depth not checked


def _load_plan(text: str, encoded: bytes | None) -> tuple[object, _Loaded]:
    if _STARTS_LIKE_JSON.match(text):
        try:
            return load_json(text, bounded=False), _Loaded.JSON
        except json.JSONDecodeError as json_exc:
            # YAML flow style also starts with a bracket; when neither parses, the JSON
            # message is the one that fits what the author meant.
            try:
                return _load_yaml(text, encoded)
            except yaml.YAMLError:
                where = f"line {json_exc.lineno}, column {json_exc.colno}"
                raise _file_issue(f"not valid JSON: {json_exc.msg} ({where})") from json_exc
    try:
        return _load_yaml(text, encoded)
    except yaml.YAMLError as exc:
        raise _file_issue(yaml_error_message(exc)) from exc


def _load_yaml(text: str, encoded: bytes | None) -> tuple[object, _Loaded]:
    data, exact = load_yaml_fast(text, encoded)
    return data, _Loaded.YAML if exact else _Loaded.FAST_YAML


def parse_plan_data(data: object, *, default_max_concurrency: int = 10) -> PlanSpec:
    """Validate already-loaded plan data (either accepted shape) and build a PlanSpec.

    Args:
        data: a list of tenant configs, or a mapping with ``plan`` and ``tenants``.
        default_max_concurrency: used when the plan does not set ``max_concurrency``.

    Returns:
        The validated plan, tenants in input order.

    Raises:
        PlanValidationError: the plan has problems; ``issues`` lists every one of them.
        ValueError: ``default_max_concurrency`` is below 1.
    """
    return _parse(data, default_max_concurrency, yaml11=False, bounded=False)


def _parse(
    data: object,
    default_max_concurrency: int,
    *,
    yaml11: bool,
    bounded: bool,
    consume: bool = False,
) -> PlanSpec:
    """parse_plan_data, for data from any loader.

    Args:
        data: the loaded document.
        default_max_concurrency: as parse_plan_data.
        yaml11: the data is from the fast YAML loader: strings it uses are checked against
            YAML 1.1, and any problem raises _InexactYamlError (PyYAML's data words the problems).
        bounded: the loader left the depth bound to this function.
        consume: the data is this call's alone: its tenant list may be emptied as it goes.
    """
    if default_max_concurrency < 1:
        raise ValueError("default_max_concurrency must be at least 1")
    try:
        return _checked_plan(data, default_max_concurrency, yaml11, bounded, consume)
    except _TooDeepError:
        if yaml11:
            raise _InexactYamlError from None
        raise _file_issue(f"nested deeper than {MAX_DEPTH} levels") from None


def _checked_plan(
    data: object, default_max_concurrency: int, yaml11: bool, bounded: bool, consume: bool
) -> PlanSpec:
    plan_issues: list[ValidationIssue] = []
    section, raw_section, tenants = _split_shape(data, plan_issues)
    if bounded:
        if tenants is None:
            if type(data) in _CONTAINERS and deeper_than(data, MAX_DEPTH):
                raise _TooDeepError
        elif type(data) is dict and any(
            value is not tenants and deeper_than(value, MAX_DEPTH - 1) for value in data.values()
        ):
            raise _TooDeepError
    if tenants is None:
        if yaml11:
            raise _InexactYamlError
        raise PlanValidationError(plan_issues)
    if not tenants:
        plan_issues.append(ValidationIssue(None, "tenants", "at least one tenant is required"))
    if yaml11 and raw_section is not None and not _yaml11_section_strings(raw_section):
        raise _InexactYamlError
    above = 1 if tenants is data else 2  # containers around each tenant entry
    room = MAX_DEPTH - above - 1 if bounded else None  # for the values of a tenant's fields
    entries = []
    for index, raw in enumerate(tenants, start=1):
        entries.append(_entry(index, raw, yaml11, room))
        if consume:
            tenants[index - 1] = None  # a big plan's data is freed as its configs are built

    plan_id = _agree(entries, raw_section, plan_issues, "plan_id", "id", _checked_plan_id)
    version = _agree(entries, raw_section, plan_issues, "plan_version", "version", _checked_version)
    seen: dict[str, int] = {}
    for entry in entries:
        if not entry.label.startswith("#"):
            first = seen.setdefault(entry.label, entry.index)
            if first != entry.index:
                if entry.quick is not None:
                    key = entry.quick.tenant_key
                else:
                    key = _spelled(entry.raw, "tenant_id") if isinstance(entry.raw, Mapping) else ""
                entry.issues.append((key, f"duplicates the tenantId of entry #{first}"))

    policy = _policy(section, raw_section, len(entries), plan_issues)
    issues = plan_issues + [
        ValidationIssue(entry.label, field_path, message)
        for entry in entries
        for field_path, message in entry.issues
    ]
    if issues:
        if yaml11:
            raise _InexactYamlError
        raise PlanValidationError(issues)
    # No issues means both were resolved.
    assert isinstance(plan_id, str)
    assert isinstance(version, int)
    max_concurrency = default_max_concurrency
    if section is not None and section.max_concurrency is not None:
        max_concurrency = section.max_concurrency
    return PlanSpec(
        plan_id=plan_id,
        version=version,
        max_concurrency=max_concurrency,
        tenants=tuple([_tenant_spec(entry, plan_id, version) for entry in entries]),
        policy=policy,
    )


def _entry(index: int, raw: object, yaml11: bool, room: int | None) -> _Entry:
    """One tenant entry, checked the quick way if it can be, else the full way."""
    quick = _quick_tenant(raw, yaml11, room)
    if quick is not None:
        label = quick.config[0]
        assert label is not None  # the quick path requires a valid tenantId
        return _Entry(index, None, label, quick=quick)  # its data is no longer needed
    if room is not None and type(raw) in _CONTAINERS and deeper_than(raw, room + 1):
        raise _TooDeepError
    entry = _check_entry(index, raw)
    if yaml11 and entry.model is not None and not _yaml11_model_strings(entry.model):
        raise _InexactYamlError
    return entry


def _policy(
    section: PlanSectionInput | None,
    raw_section: Mapping[Any, Any] | None,
    total: int,
    issues: list[ValidationIssue],
) -> Policy | None:
    """The plan's rollout policy (waves, bake, budget, auto rollback), if it states one."""
    if section is None:
        return None
    waves: tuple[Wave, ...] = ()
    if section.waves is not None:
        sizes = [w.model_dump() if isinstance(w, WaveInput) else w for w in section.waves]
        try:
            waves = resolve_waves(sizes, total)
        except ValueError as exc:
            issues.append(ValidationIssue(None, "plan.waves", str(exc)))
    budget = None
    if section.failure_budget is not None:
        given = section.failure_budget
        budget = Budget(given.max_failed, given.max_failed_ratio)
    deadlines = section.deadlines
    stage_deadline = deadlines.stage if deadlines is not None else None
    task_deadline = deadlines.task if deadlines is not None else None
    if (
        not waves
        and budget is None
        and not section.auto_rollback
        and not section.bake
        and stage_deadline is None
        and task_deadline is None
    ):
        return None
    if section.bake and section.waves is None:
        key = _spelled(raw_section, "bake") if raw_section is not None else "bake"
        issues.append(
            ValidationIssue(None, f"plan.{key}", "needs waves (it is the wait between two)")
        )
    return Policy(
        waves=waves,
        bake=section.bake or 0.0,
        budget=budget,
        auto_rollback=bool(section.auto_rollback),
        stage_deadline=stage_deadline,
        task_deadline=task_deadline,
    )


def _split_shape(
    data: object, issues: list[ValidationIssue]
) -> tuple[PlanSectionInput | None, Mapping[Any, Any] | None, list[Any] | None]:
    """The plan section (validated and raw, if any) and the raw tenant list.

    The tenant list is None when the data has neither accepted shape.
    """
    if isinstance(data, list):
        return None, None, data
    if not isinstance(data, Mapping):
        got = "nothing (empty file)" if data is None else type(data).__name__
        issues.append(ValidationIssue(None, "file", f"expected {_SHAPES}; got {got}"))
        return None, None, None
    if "tenants" not in data:
        issues.append(ValidationIssue(None, "file", f"expected {_SHAPES}; 'tenants' is missing"))
        return None, None, None
    for key in data:
        if key not in ("plan", "tenants"):
            message = "unknown key (expected plan, tenants)"
            issues.append(ValidationIssue(None, _path_part(key), message))
    section: PlanSectionInput | None = None
    raw_section = data.get("plan")
    if raw_section is not None:
        try:
            section = PlanSectionInput.model_validate(raw_section)
        except ValidationError as exc:
            issues.extend(
                ValidationIssue(None, path, message)
                for path, message in _pydantic_issues(exc, raw_section, ("plan",))
            )
    tenants = data["tenants"]
    if not isinstance(tenants, list):
        issues.append(ValidationIssue(None, "tenants", "must be a list of tenant configs"))
        tenants = None
    return section, raw_section if isinstance(raw_section, Mapping) else None, tenants


def _check_entry(index: int, raw: object) -> _Entry:
    if not isinstance(raw, Mapping):
        entry = _Entry(index, raw, f"#{index}")
        what = type(raw).__name__
        entry.issues.append(("config", f"must be an object of tenant config fields (got {what})"))
        return entry
    hit = _lookup(raw, "tenant_id")
    valid_id = hit is not None and _is_tenant_id(hit[1])
    entry = _Entry(index, raw, hit[1] if hit is not None and valid_id else f"#{index}")
    try:
        entry.model = TenantDeployConfigInput.model_validate(raw)
    except ValidationError as exc:
        entry.issues.extend(_pydantic_issues(exc, raw))
    entry.issues.extend(_cross_field_issues(raw, ""))
    source_hit = _lookup(raw, "source_tenant_deploy_config")
    if source_hit is not None and isinstance(source_hit[1], Mapping):
        source_key, source = source_hit
        entry.issues.extend(_cross_field_issues(source, f"{source_key}."))
        source_id = _lookup(source, "tenant_id")
        other = source_id[1] if source_id is not None and _is_tenant_id(source_id[1]) else None
        if valid_id and other is not None and other != entry.label:
            message = f"must equal the tenant's own tenantId {entry.label!r} (got {other!r})"
            entry.issues.append((f"{source_key}.{_spelled(source, 'tenant_id')}", message))
    return entry


def _agree(
    entries: Sequence[_Entry],
    raw_section: Mapping[Any, Any] | None,
    plan_issues: list[ValidationIssue],
    name: str,
    section_key: str,
    check: Callable[[object], Any],
) -> Any:
    """The plan-wide planId/planVersion; every tenant that gives one must agree with it.

    The plan section's value wins; without one, the first tenant that gives a valid value
    defines it. ``check`` returns the valid value or None. Returns None when unresolved.
    """
    label = _camel(name)
    section_value = raw_section.get(section_key) if raw_section is not None else None
    # (entry, the user's key, the raw value, the checked value or None)
    hits: list[tuple[_Entry, str, Any, Any]] = []
    for entry in entries:
        if entry.quick is not None:
            hit = entry.quick.plan_id if name == "plan_id" else entry.quick.plan_version
            if hit is not None:
                hits.append((entry, *hit))
        elif isinstance(entry.raw, Mapping) and (found := _lookup(entry.raw, name)) is not None:
            hits.append((entry, found[0], found[1], check(found[1])))
    if section_value is None and not hits:
        if raw_section is not None:
            message = f"is required (here, or as every tenant's {label})"
            plan_issues.append(ValidationIssue(None, f"plan.{section_key}", message))
        else:
            plan_issues.append(ValidationIssue(None, label, f"{label} is required"))
        return None
    valid = [(entry, key, checked) for entry, key, _, checked in hits if checked is not None]
    if section_value is not None:
        value, source = check(section_value), "the plan's"
    else:
        value, source = (valid[0][2] if valid else None), "the first tenant's"
    if value is None:
        return None  # only invalid values were given, and each has its own issue
    for entry, key, checked in valid:
        if checked != value:
            entry.issues.append((key, f"{checked!r} differs from {source} {value!r}"))
    return value


def _checked_plan_id(value: object) -> str | None:
    try:
        return _plan_id(value)
    except PydanticCustomError:
        return None


def _checked_version(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _INT_MAX:
        return None
    return value


def _tenant_spec(entry: _Entry, plan_id: str, version: int) -> TenantSpec:
    quick = entry.quick
    if quick is not None:
        previous = quick.previous
        config = _config(quick.config, entry.label, plan_id, version)
        if previous is None:
            return _spec(config, None)
        previous_version = previous[2]
        assert previous_version is not None  # required of a previous config
        return _spec(
            config, _config(previous, entry.label, previous[1] or plan_id, previous_version)
        )
    model = entry.model
    assert model is not None  # entries without a model always carry issues
    config = _tenant_config(model, model.tenant_id, plan_id, version)
    source = model.source_tenant_deploy_config
    previous_config = None
    if source is not None:
        previous_config = _tenant_config(
            source, model.tenant_id, source.plan_id or plan_id, source.plan_version
        )
    return TenantSpec(config=config, previous=previous_config)


def _tenant_config(
    model: _DeployConfigFields, tenant_id: str, plan_id: str, version: int
) -> TenantConfig:
    endpoints = tuple(
        NetworkEndpoint(
            key=e.key,
            source_ip=e.source_ip,
            source_domain=e.source_domain,
            target_ip=e.target_ip,
            target_domain=e.target_domain,
        )
        for e in model.network_endpoints or ()
    )
    rules = _parse_rules(model.called_number_rules) if model.called_number_rules else ()
    return TenantConfig(
        tenant_id=tenant_id,
        plan_id=plan_id,
        plan_version=version,
        deploy_unit_id=model.deploy_unit_id,
        deploy_unit_version=model.deploy_unit_version,
        deploy_unit_name=model.deploy_unit_name,
        network_endpoints=endpoints,
        nacos_namespace=model.nacos_name_space,
        called_number_rules=rules,
        trunk_group=model.trunk_group,
        default_flag=model.default_flag,
    )
