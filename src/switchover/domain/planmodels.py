"""Plan-file input models: the pydantic models of a plan's tenants and its ``plan`` section,
the field rules they apply, and how a value is shown in a message (never in full: it may be a
secret, or astronomically long)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

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
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.documents import HugeInt as _HugeInt
from switchover.domain.planrules import (
    INT_MAX,
    INT_MIN,
    IPV4_RE,
    PLAN_ID_RE,
    TENANT_ID_RE,
    parse_rules,
    yaml11_str,
)
from switchover.domain.text import text_problem

# ---------------------------------------------------------------------------------------------
# Text and values in messages.

_SHOW_LIMIT = 40
_SHOW_DEPTH = 4


def show(value: object) -> str:
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


def path_part(part: object) -> str:
    """A mapping key as it appears in an issue's field path: plain when it is a short name."""
    if isinstance(part, str) and part.isprintable() and 0 < len(part) <= 64:
        return part
    return show(part)


# ---------------------------------------------------------------------------------------------
# Field rules.


def is_tenant_id(value: object) -> bool:
    return isinstance(value, str) and TENANT_ID_RE.fullmatch(value) is not None


def _tenant_id(value: str) -> str:
    if not is_tenant_id(value):
        raise PydanticCustomError(
            "tenant_id",
            "must be 1-64 letters, digits, '_' or '-' (got {got})",
            {"got": show(value)},
        )
    return value


def plan_id_text(value: object) -> str:
    # Upstream sends planId as a number; plan files often write it as a string.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError(
            "plan_id_type", "must be a string or an integer (got {got})", {"got": show(value)}
        )
    # An integer of more than 64 digits fails the pattern anyway; str() may refuse it.
    text = str(value) if not isinstance(value, int) or value.bit_length() <= 256 else ""
    if not PLAN_ID_RE.fullmatch(text):
        raise PydanticCustomError(
            "plan_id",
            "must be 1-64 letters, digits, '_', '.' or '-' (got {got})",
            {"got": show(text or value)},
        )
    return text


def blank_to_none(value: object) -> object:
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
        return blank_to_none(value)
    if not value.isprintable():
        _checked_text(value, multiline=True)
        for number, rule in enumerate(parse_rules(value), start=1):
            problem = text_problem(rule)
            if problem is not None:
                raise PydanticCustomError(
                    "text", "{message}", {"message": f"rule {number} {problem}"}
                )
    return value


def _ipv4(value: str | None) -> str | None:
    # What ipaddress.IPv4Address accepts (no leading zeros, ASCII digits), at regex speed.
    if value is not None and IPV4_RE.fullmatch(value) is None:
        raise PydanticCustomError(
            "ipv4", "must be a dotted IPv4 address (got {got})", {"got": show(value)}
        )
    return value


TenantIdText = Annotated[StrictStr, AfterValidator(_tenant_id)]
PlanIdText = Annotated[str, PlainValidator(plan_id_text)]
PlanVersion = Annotated[StrictInt, Field(ge=0, le=INT_MAX)]
StoredInt = Annotated[StrictInt, Field(ge=INT_MIN, le=INT_MAX)]
NonBlankText = Annotated[StrictStr, AfterValidator(_non_blank)]
OptionalText = Annotated[StrictStr | None, BeforeValidator(_optional_text)]
OptionalIPv4 = Annotated[StrictStr | None, BeforeValidator(blank_to_none), AfterValidator(_ipv4)]
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


class DeployConfigFields(_InputModel):
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


class SourceTenantDeployConfigInput(DeployConfigFields):
    """A tenant's previous config; its planVersion is required because rollback writes it."""

    plan_version: PlanVersion


class TenantDeployConfigInput(DeployConfigFields):
    """One upstream ``TenantDeployConfig``: the tenant's new config and its previous one."""

    tenant_id: TenantIdText
    source_tenant_deploy_config: SourceTenantDeployConfigInput | None = None


class BudgetInput(BaseModel):
    """``failure_budget``: how many failed tasks halt the plan."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    max_failed: Annotated[StrictInt, Field(ge=0, le=INT_MAX)] | None = None
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
    max_concurrency: Annotated[StrictInt, Field(ge=1, le=INT_MAX)] | None = None
    name: Annotated[StrictStr | None, AfterValidator(_text_or_none)] = None
    description: Annotated[StrictStr | None, AfterValidator(_multiline_text_or_none)] = None
    waves: Annotated[list[StrictInt | StrictStr | WaveInput], Field(min_length=1)] | None = None
    bake: Annotated[float, Field(ge=0, le=30 * 86400, allow_inf_nan=False)] | None = None
    failure_budget: BudgetInput | None = None
    auto_rollback: StrictBool | None = None
    deadlines: DeadlinesInput | None = None


def yaml11_model_strings(model: DeployConfigFields) -> bool:
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
    if source is not None and not yaml11_model_strings(source):
        return False
    return all(yaml11_str(text) for text in strings if isinstance(text, str))


def tenant_config_of(
    model: DeployConfigFields, tenant_id: str, plan_id: str, version: int
) -> TenantConfig:
    """The record a validated config stands for, as tenant ``tenant_id`` of that plan."""
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
    rules = parse_rules(model.called_number_rules) if model.called_number_rules else ()
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
