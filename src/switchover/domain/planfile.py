"""Plan-file input: parse YAML/JSON, validate every tenant, and build a PlanSpec (no I/O).

Three paths, fastest first, each leaving to the next whatever it cannot vouch for: the
whole-plan path (``bulkcheck``: every tenant at once, column by column), the per-tenant quick
path (``quickcheck``: a tenant whose fields are plainly valid, without pydantic), and the exact
path here (pydantic models, ``planmodels``), which words every problem with its tenant and
field (``planissues``). Their rules are shared (``planrules``); a plan gets the same records, or
the same issues, whichever path checks it. The file's shape and its ``plan`` section, with the
rollout policy, are read by ``plansection``.
"""

from __future__ import annotations

import codecs
import enum
import gc
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from switchover.domain.documents import (
    MAX_DEPTH,
    MAX_PLAN_SIZE,
    decode_utf8,
    deeper_than,
    load_json,
    load_yaml,
    load_yaml_fast,
    yaml_error_message,
)
from switchover.domain.documents import (
    file_issue as _file_issue,
)
from switchover.domain.documents import (
    too_large as _too_large,
)
from switchover.domain.planissues import cross_field_issues, lookup, pydantic_issues, spelled
from switchover.domain.planmodels import (
    PlanSectionInput,
    TenantDeployConfigInput,
    is_tenant_id,
    plan_id_text,
    tenant_config_of,
    yaml11_model_strings,
)
from switchover.domain.planrules import (
    CONTAINERS,
    INT_MAX,
    InexactYamlError,
    TooDeepError,
    camel,
)
from switchover.domain.plansection import plan_policy, split_shape, yaml11_section_strings
from switchover.domain.quickcheck import QuickTenant, quick_record, quick_tenant
from switchover.domain.records import PlanSpec, TenantSpec
from switchover.errors import PlanValidationError, ValidationIssue

if TYPE_CHECKING:
    from switchover.domain import bulkcheck

_STARTS_LIKE_JSON = re.compile(r"\s*[\[{]")
_STARTS_LIKE_JSON_BYTES = re.compile(rb"\s*[\[{]")


# ---------------------------------------------------------------------------------------------
# Parsing.


@dataclass(slots=True)
class _Entry:
    """One tenant entry being checked: its label, raw data, model or quick verdict, issues."""

    index: int
    raw: object
    label: str
    model: TenantDeployConfigInput | None = None
    quick: QuickTenant | None = None
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
    if encoded.isascii():
        # ASCII is UTF-8 as it is: the text is made only if a loader needs it (a JSON plan
        # read whole needs none).
        return _parse_text(None, encoded, default_max_concurrency)
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


def _parse_text(text: str | None, encoded: bytes | None, default_max_concurrency: int) -> PlanSpec:
    """Load and check a plan document; ``encoded`` is ``text`` as UTF-8 when the caller has it
    (then the text itself is dropped once loaded, and decoded again if needed). ``text`` is
    None when ``encoded`` is ASCII: it is decoded when a loader needs it."""
    if text is not None:
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
        source = encoded if encoded is not None else text
        assert source is not None  # one of the two is given
        if (
            _STARTS_LIKE_JSON.match(source)
            if isinstance(source, str)
            else _STARTS_LIKE_JSON_BYTES.match(source)
        ):
            spec = _whole_json(source, default_max_concurrency)
            if spec is not None:
                return spec
        data, kind = _load_plan(text, encoded)
        if encoded is not None:
            text = ""
        source = encoded if encoded is not None else text
        assert source is not None
        if kind is _Loaded.FAST_YAML and (rows := _fast_yaml_rows(data, source)) is not None:
            spec = _whole_plan(rows, default_max_concurrency, yaml11=True)
            if spec is not None:
                return spec
            del rows
        try:
            return _parse(
                data,
                default_max_concurrency,
                yaml11=kind is _Loaded.FAST_YAML,
                bounded=kind is not _Loaded.YAML,
                consume=True,
            )
        except InexactYamlError:
            del data
        # The fast loader's data holds a string YAML 1.1 reads otherwise, or a problem: the
        # reference loader's data decides, and words the problems.
        if encoded is not None:
            text = decode_utf8(encoded)
        assert text is not None
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            raise _file_issue(yaml_error_message(exc)) from exc
        return _parse(data, default_max_concurrency, yaml11=False, bounded=False, consume=True)
    finally:
        if collecting:
            _promote_young_objects()
            gc.enable()


# A parse that made more objects than this hands them to the oldest generation.
_PROMOTED = 100_000


def _promote_young_objects() -> None:
    """Move the objects made since the last collection into the oldest generation, at once.

    A big plan's records are a million objects that live on: the next young collections
    would each walk them all, for nothing. Freezing then unfreezing puts every tracked object
    in the oldest generation without walking any (left alone when the program freezes objects
    of its own).
    """
    if gc.get_count()[0] > _PROMOTED and gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


class _Loaded(enum.Enum):
    """How a plan document was loaded, hence what its data may still hold."""

    JSON = "json"  # not yet checked for depth
    YAML = "yaml"  # PyYAML: the reference, depth checked
    FAST_YAML = "fast-yaml"  # yaml_rs: see documents.load_yaml_fast; depth not checked


def _load_plan(text: str | None, encoded: bytes | None) -> tuple[object, _Loaded]:
    """The loaded document (``text`` None: ``encoded`` is ASCII, decoded only if needed)."""
    if text is None:
        assert encoded is not None
        if _STARTS_LIKE_JSON_BYTES.match(encoded):
            text = encoded.decode("ascii")  # JSON's messages count characters of the text
    if text is not None and _STARTS_LIKE_JSON.match(text):
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


def _load_yaml(text: str | None, encoded: bytes | None) -> tuple[object, _Loaded]:
    data, exact = load_yaml_fast(text, encoded)
    return data, _Loaded.YAML if exact else _Loaded.FAST_YAML


# ---------------------------------------------------------------------------------------------
# The whole-plan path (bulkcheck): a plan whose tenants are all plainly valid, checked column by
# column. It reports nothing: on any doubt it returns None, and the per-tenant path decides.


def _whole_json(source: str | bytes, default_max_concurrency: int) -> PlanSpec | None:
    """A JSON plan document, read straight into typed rows and checked whole, or None."""
    from switchover.domain import bulkcheck  # msgspec and the row types: for plans only

    rows = bulkcheck.json_rows(source)
    if rows is None:
        return None
    return _whole_plan(rows, default_max_concurrency, yaml11=False)


def _fast_yaml_rows(data: object, source: str | bytes) -> bulkcheck.Rows | None:
    """The rows of the fast YAML loader's data (either shape) from ``source``, or None when
    they are none. The data's tenant list is emptied with the rows once the plan is accepted
    (this parse's data is its own); until then the per-tenant path may still need it."""
    section: object = None
    if type(data) is list:
        tenants = data
    elif type(data) is dict and "tenants" in data and data.keys() <= {"plan", "tenants"}:
        section, tenants = data.get("plan"), data["tenants"]
    else:
        return None
    if type(tenants) is not list:
        return None
    from switchover.domain import bulkcheck

    rows = bulkcheck.data_rows(tenants)
    if rows is None:
        return None
    printable, blank_free = bulkcheck.yaml_strings(source)
    return bulkcheck.Rows(section, rows, printable, blank_free, loaded=tenants)


def _whole_plan(
    rows: bulkcheck.Rows, default_max_concurrency: int, *, yaml11: bool
) -> PlanSpec | None:
    """The plan of these rows, or None: the per-tenant path must check it (it has problems,
    or something this path leaves to that one). Once the plan is accepted, the rows' tenant
    list (and the loaded one they were read from) is emptied: the records need only the
    checked columns."""
    from switchover.domain import bulkcheck

    tenants, raw_section = rows.tenants, rows.section
    if not tenants:
        return None
    section = None
    if raw_section is not None:
        if type(raw_section) is not dict or deeper_than(raw_section, MAX_DEPTH - 1):
            return None
        if yaml11 and not yaml11_section_strings(raw_section):
            return None
        try:
            section = PlanSectionInput.model_validate(raw_section)
        except ValidationError:
            return None
    checked = bulkcheck.check(
        tenants, yaml11=yaml11, printable=rows.printable, blank_free=rows.blank_free
    )
    if checked is None:
        return None
    plan_id = _plan_wide(raw_section, "id", checked.plan_ids, _checked_plan_id)
    version = _plan_wide(raw_section, "version", checked.versions, _checked_version)
    if plan_id is None or version is None:
        return None
    issues: list[ValidationIssue] = []
    policy = plan_policy(section, raw_section, len(tenants), issues)
    if issues:
        return None
    max_concurrency = default_max_concurrency
    if section is not None and section.max_concurrency is not None:
        max_concurrency = section.max_concurrency
    # The rows (and the data they were read from) go before the records come.
    tenants.clear()
    if rows.loaded is not None:
        rows.loaded.clear()
    return PlanSpec(
        plan_id=plan_id,
        version=version,
        max_concurrency=max_concurrency,
        tenants=checked.specs(plan_id, version),
        policy=policy,
    )


def _plan_wide(
    raw_section: dict[str, Any] | None,
    key: str,
    given: set[Any],
    check: Callable[[object], Any],
) -> Any:
    """The plan-wide planId or planVersion as ``_agree`` settles it when no tenant gives an
    invalid one: the plan section's, which every value tenants give (``given``) must equal; or,
    without it, the one value they all give. None when that does not settle it."""
    section_value = raw_section.get(key) if raw_section is not None else None
    if section_value is not None:
        value = check(section_value)
        return value if value is not None and given <= {value} else None
    return next(iter(given)) if len(given) == 1 else None


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
            YAML 1.1, and any problem raises InexactYamlError (PyYAML's data words the problems).
        bounded: the loader left the depth bound to this function.
        consume: the data is this call's alone: its tenant list may be emptied as it goes.
    """
    if default_max_concurrency < 1:
        raise ValueError("default_max_concurrency must be at least 1")
    try:
        return _checked_plan(data, default_max_concurrency, yaml11, bounded, consume)
    except TooDeepError:
        if yaml11:
            raise InexactYamlError from None
        raise _file_issue(f"nested deeper than {MAX_DEPTH} levels") from None


def _checked_plan(
    data: object, default_max_concurrency: int, yaml11: bool, bounded: bool, consume: bool
) -> PlanSpec:
    plan_issues: list[ValidationIssue] = []
    section, raw_section, tenants = split_shape(data, plan_issues)
    if bounded:
        if tenants is None:
            if type(data) in CONTAINERS and deeper_than(data, MAX_DEPTH):
                raise TooDeepError
        elif type(data) is dict and any(
            value is not tenants and deeper_than(value, MAX_DEPTH - 1) for value in data.values()
        ):
            raise TooDeepError
    if tenants is None:
        if yaml11:
            raise InexactYamlError
        raise PlanValidationError(plan_issues)
    if not tenants:
        plan_issues.append(ValidationIssue(None, "tenants", "at least one tenant is required"))
    if yaml11 and raw_section is not None and not yaml11_section_strings(raw_section):
        raise InexactYamlError
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
                    key = spelled(entry.raw, "tenant_id") if isinstance(entry.raw, Mapping) else ""
                entry.issues.append((key, f"duplicates the tenantId of entry #{first}"))

    policy = plan_policy(section, raw_section, len(entries), plan_issues)
    issues = plan_issues + [
        ValidationIssue(entry.label, field_path, message)
        for entry in entries
        for field_path, message in entry.issues
    ]
    if issues:
        if yaml11:
            raise InexactYamlError
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
    quick = quick_tenant(raw, yaml11, room)
    if quick is not None:
        label = quick.config[0]
        assert label is not None  # the quick path requires a valid tenantId
        return _Entry(index, None, label, quick=quick)  # its data is no longer needed
    if room is not None and type(raw) in CONTAINERS and deeper_than(raw, room + 1):
        raise TooDeepError
    entry = _check_entry(index, raw)
    if yaml11 and entry.model is not None and not yaml11_model_strings(entry.model):
        raise InexactYamlError
    return entry


def _check_entry(index: int, raw: object) -> _Entry:
    if not isinstance(raw, Mapping):
        entry = _Entry(index, raw, f"#{index}")
        what = type(raw).__name__
        entry.issues.append(("config", f"must be an object of tenant config fields (got {what})"))
        return entry
    hit = lookup(raw, "tenant_id")
    valid_id = hit is not None and is_tenant_id(hit[1])
    entry = _Entry(index, raw, hit[1] if hit is not None and valid_id else f"#{index}")
    try:
        entry.model = TenantDeployConfigInput.model_validate(raw)
    except ValidationError as exc:
        entry.issues.extend(pydantic_issues(exc, raw))
    entry.issues.extend(cross_field_issues(raw, ""))
    source_hit = lookup(raw, "source_tenant_deploy_config")
    if source_hit is not None and isinstance(source_hit[1], Mapping):
        source_key, source = source_hit
        entry.issues.extend(cross_field_issues(source, f"{source_key}."))
        source_id = lookup(source, "tenant_id")
        other = source_id[1] if source_id is not None and is_tenant_id(source_id[1]) else None
        if valid_id and other is not None and other != entry.label:
            message = f"must equal the tenant's own tenantId {entry.label!r} (got {other!r})"
            entry.issues.append((f"{source_key}.{spelled(source, 'tenant_id')}", message))
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
    label = camel(name)
    section_value = raw_section.get(section_key) if raw_section is not None else None
    # (entry, the user's key, the raw value, the checked value or None)
    hits: list[tuple[_Entry, str, Any, Any]] = []
    for entry in entries:
        if entry.quick is not None:
            hit = entry.quick.plan_id if name == "plan_id" else entry.quick.plan_version
            if hit is not None:
                hits.append((entry, *hit))
        elif isinstance(entry.raw, Mapping) and (found := lookup(entry.raw, name)) is not None:
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
        return plan_id_text(value)
    except PydanticCustomError:
        return None


def _checked_version(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
        return None
    return value


def _tenant_spec(entry: _Entry, plan_id: str, version: int) -> TenantSpec:
    quick = entry.quick
    if quick is not None:
        previous = quick.previous
        config = quick_record(quick.config, entry.label, plan_id, version)
        if previous is None:
            return TenantSpec(config, None)
        previous_version = previous[2]
        assert previous_version is not None  # required of a previous config
        return TenantSpec(
            config, quick_record(previous, entry.label, previous[1] or plan_id, previous_version)
        )
    model = entry.model
    assert model is not None  # entries without a model always carry issues
    config = tenant_config_of(model, model.tenant_id, plan_id, version)
    source = model.source_tenant_deploy_config
    previous_config = None
    if source is not None:
        previous_config = tenant_config_of(
            source, model.tenant_id, source.plan_id or plan_id, source.plan_version
        )
    return TenantSpec(config=config, previous=previous_config)
