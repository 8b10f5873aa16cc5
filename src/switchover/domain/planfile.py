"""Plan-file input: parse YAML/JSON, validate every tenant, and build a PlanSpec (no I/O)."""

from __future__ import annotations

import functools
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
    MAX_PLAN_SIZE,
    decode_utf8,
    load_json,
    load_yaml,
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


def _parse_rules(text: str) -> tuple[str, ...]:
    return tuple(rule for rule in (part.strip() for part in text.split(",")) if rule)


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
# Parsing.


@dataclass(slots=True)
class _Entry:
    """One tenant entry being checked: its label, raw data, model (if valid) and issues."""

    index: int
    raw: object
    label: str
    model: TenantDeployConfigInput | None = None
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
    try:
        text = decode_utf8(data)
    except ValueError as exc:
        raise _file_issue(str(exc)) from exc
    return parse_plan_text(text, default_max_concurrency=default_max_concurrency)


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
    if len(text) > MAX_PLAN_SIZE:
        raise _too_large(len(text), "characters")
    if text.startswith("\ufeff"):
        text = text[1:]
    return parse_plan_data(_load_plan(text), default_max_concurrency=default_max_concurrency)


def _load_plan(text: str) -> object:
    if _STARTS_LIKE_JSON.match(text):
        try:
            return load_json(text)
        except json.JSONDecodeError as json_exc:
            # YAML flow style also starts with a bracket; when neither parses, the JSON
            # message is the one that fits what the author meant.
            try:
                return load_yaml(text)
            except yaml.YAMLError:
                where = f"line {json_exc.lineno}, column {json_exc.colno}"
                raise _file_issue(f"not valid JSON: {json_exc.msg} ({where})") from json_exc
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise _file_issue(yaml_error_message(exc)) from exc


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
    if default_max_concurrency < 1:
        raise ValueError("default_max_concurrency must be at least 1")
    plan_issues: list[ValidationIssue] = []
    section, raw_section, tenants = _split_shape(data, plan_issues)
    if tenants is None:
        raise PlanValidationError(plan_issues)
    if not tenants:
        plan_issues.append(ValidationIssue(None, "tenants", "at least one tenant is required"))
    entries = [_check_entry(index, raw) for index, raw in enumerate(tenants, start=1)]

    plan_id = _agree(entries, raw_section, plan_issues, "plan_id", "id", _checked_plan_id)
    version = _agree(entries, raw_section, plan_issues, "plan_version", "version", _checked_version)
    seen: dict[str, int] = {}
    for entry in entries:
        if not entry.label.startswith("#"):
            first = seen.setdefault(entry.label, entry.index)
            if first != entry.index:
                key = _spelled(entry.raw, "tenant_id") if isinstance(entry.raw, Mapping) else ""
                entry.issues.append((key, f"duplicates the tenantId of entry #{first}"))

    policy = _policy(section, raw_section, len(entries), plan_issues)
    issues = plan_issues + [
        ValidationIssue(entry.label, field_path, message)
        for entry in entries
        for field_path, message in entry.issues
    ]
    if issues:
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
        tenants=tuple(_tenant_spec(entry, plan_id, version) for entry in entries),
        policy=policy,
    )


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
    hits = [
        (entry, *hit)
        for entry in entries
        if isinstance(entry.raw, Mapping) and (hit := _lookup(entry.raw, name)) is not None
    ]
    if section_value is None and not hits:
        if raw_section is not None:
            message = f"is required (here, or as every tenant's {label})"
            plan_issues.append(ValidationIssue(None, f"plan.{section_key}", message))
        else:
            plan_issues.append(ValidationIssue(None, label, f"{label} is required"))
        return None
    valid = [(entry, key, check(value)) for entry, key, value in hits]
    valid = [(entry, key, value) for entry, key, value in valid if value is not None]
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
    model = entry.model
    assert model is not None  # entries without a model always carry issues
    config = _tenant_config(model, model.tenant_id, plan_id, version)
    source = model.source_tenant_deploy_config
    previous = None
    if source is not None:
        previous = _tenant_config(
            source, model.tenant_id, source.plan_id or plan_id, source.plan_version
        )
    return TenantSpec(config=config, previous=previous)


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
