"""Dry run: what a plan would change in each tenant's Redis record, found by reading only.

For every tenant, ``diff_plan`` lists the stages that would run and compares, field by field,
what its config hash holds now with what the plan's config pushes would write (``wire``'s
values for its config and previous config): the JSON fields are decoded and compared key by
key, routes by route id. A key named ``timestamp`` is left out of the comparison and of the
output: the plan writes a new one every time, so it is never a change by itself. A missing
hash means every field is added.

A tenant *drifted* when its record's ``metadata.version`` is neither its previous config's
planVersion nor the plan's new one: something else wrote it since the plan was made.

Reads are HGETALLs pipelined 500 keys per round trip (``RedisClient.hgetall_many``); nothing
is written, published or called.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from switchover import wire
from switchover.domain.config import TenantConfig
from switchover.domain.records import PlanSpec, TenantSpec
from switchover.domain.status import ExecutionMode
from switchover.settings import Settings
from switchover.stages.base import StageBuilder, StageRequest
from switchover.stages.catalogue import BLUE_GREEN_GATEWAY, OB_SERVICE
from switchover.steps.redis_client import RedisClient

STAGE_FIELDS: Mapping[str, str] = {
    BLUE_GREEN_GATEWAY: wire.BG_GATEWAY_FIELD,
    OB_SERVICE: wire.OB_FIELD,
}
"""The hash field each catalogue stage's config push writes (with ``metadata``)."""

VOLATILE_KEYS = frozenset({"timestamp"})
"""Keys of a field's JSON value that change on every write and are not compared."""

UNIT_KEYS = frozenset({"sourceUnit", "targetUnit", "sourceUnitName", "targetUnitName"})
"""Keys whose change counts as "units changed"."""

READ_BATCH = 500
"""Hashes read per pipelined round trip."""


class ChangeKind(StrEnum):
    """How a tenant's record would change. A tenant may be of several of the first four."""

    UNITS = "units"
    """A source or target unit (name) would change."""
    ROUTES = "routes"
    """A route would be added, removed or changed, or the routes reordered."""
    VERSION = "version"
    """``metadata.version`` would change."""
    OTHER = "other"
    """Any other key (a field added to an existing record brings its ``tenantId``), or a
    current value that is not a JSON object."""
    NO_CHANGE = "no_change"
    """The record holds what the plan would write (timestamps aside)."""
    NO_RECORD = "no_record"
    """There is no record: everything would be added."""
    NO_REDIS_WRITE = "no_redis_write"
    """The tenant's stages write nothing to Redis (e.g. only ``asbc-gateway``)."""


SUMMARY_LABELS: Mapping[ChangeKind, str] = {
    ChangeKind.UNITS: "units changed",
    ChangeKind.ROUTES: "routes changed",
    ChangeKind.VERSION: "version changed",
    ChangeKind.OTHER: "other changes",
    ChangeKind.NO_CHANGE: "no change",
    ChangeKind.NO_RECORD: "no record",
    ChangeKind.NO_REDIS_WRITE: "no redis write",
}
"""The summary line's labels, in its order; ``drift`` follows them."""


class FieldStatus(StrEnum):
    """What would happen to one hash field."""

    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


class RouteChangeKind(StrEnum):
    """What would happen to one route."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class ValueChange:
    """One key of a field's JSON value: what it holds now (None: absent) and would hold."""

    key: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"key": self.key, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class RouteChange:
    """One route, by id: added (``old`` None), removed (``new`` None) or changed."""

    route_id: str
    change: RouteChangeKind
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.route_id,
            "change": self.change.value,
            "old": None if self.old is None else dict(self.old),
            "new": None if self.new is None else dict(self.new),
        }


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One hash field the plan would write: its changes key by key, and route by route.

    ``note`` says why the current value could not be compared key by key (not a JSON object).
    """

    field: str
    status: FieldStatus
    changes: tuple[ValueChange, ...] = ()
    routes: tuple[RouteChange, ...] = ()
    note: str | None = None

    def kinds(self) -> set[ChangeKind]:
        """The change kinds this field contributes."""
        kinds: set[ChangeKind] = set()
        if self.routes:
            kinds.add(ChangeKind.ROUTES)
        if self.note is not None:
            kinds.add(ChangeKind.OTHER)
        for change in self.changes:
            if change.key in UNIT_KEYS:
                kinds.add(ChangeKind.UNITS)
            elif change.key == "routes" or change.key.startswith("routes "):
                kinds.add(ChangeKind.ROUTES)
            elif self.field == wire.METADATA_FIELD and change.key == "version":
                kinds.add(ChangeKind.VERSION)
            else:
                kinds.add(ChangeKind.OTHER)
        return kinds

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "field": self.field,
            "status": self.status.value,
            "changes": [c.to_dict() for c in self.changes],
            "routes": [r.to_dict() for r in self.routes],
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class TenantDiff:
    """What the plan would do to one tenant's record.

    ``version_now`` is the record's ``metadata.version`` as stored (None: no record, or no
    version in it); ``version_new`` the version the plan writes (None: it writes nothing to
    Redis). ``untouched`` lists the record's fields the plan does not write (HSET keeps them).
    ``drift`` says why the record's version is unexpected, or is None.
    """

    tenant_id: str
    key: str
    stages: tuple[str, ...]
    record: bool
    version_now: Any
    version_new: int | None
    previous_version: int | None
    fields: tuple[FieldDiff, ...]
    untouched: tuple[str, ...]
    drift: str | None
    kinds: frozenset[ChangeKind]
    """How the record would change (drift aside, see ``drift``): ``tenant_kinds``."""

    @property
    def changed(self) -> bool:
        """Whether the plan would change anything in the record (or create it)."""
        return not self.kinds & {ChangeKind.NO_CHANGE, ChangeKind.NO_REDIS_WRITE}

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the ``tenants`` items of ``switchover diff --json``)."""
        kinds = self.kinds
        return {
            "tenant_id": self.tenant_id,
            "key": self.key,
            "stages": list(self.stages),
            "record": self.record,
            "version_now": self.version_now,
            "version_new": self.version_new,
            "previous_version": self.previous_version,
            "kinds": [kind.value for kind in ChangeKind if kind in kinds],
            "drift": self.drift,
            "fields": [f.to_dict() for f in self.fields],
            "untouched": list(self.untouched),
        }


@dataclass(frozen=True, slots=True)
class PlanDiff:
    """The diff of every tenant of a plan (or of the tenants asked for), in plan order."""

    plan_id: str
    version: int
    tenants: tuple[TenantDiff, ...]

    def counts(self) -> dict[ChangeKind, int]:
        """``kind -> tenants`` of that kind, for every kind (a tenant counts once per kind)."""
        counts = dict.fromkeys(ChangeKind, 0)
        for tenant in self.tenants:
            for kind in tenant.kinds:
                counts[kind] += 1
        return counts

    @property
    def drifted(self) -> int:
        """How many tenants drifted."""
        return sum(1 for tenant in self.tenants if tenant.drift is not None)

    def summary(self) -> dict[str, int]:
        """``label -> tenants``: every label of ``SUMMARY_LABELS`` in order, then ``drift``."""
        counts = self.counts()
        return {
            **{label: counts[kind] for kind, label in SUMMARY_LABELS.items()},
            "drift": self.drifted,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form of ``switchover diff --json`` (documented in ``cli.plan_cmd``)."""
        return {
            "plan_id": self.plan_id,
            "version": self.version,
            "tenant_count": len(self.tenants),
            "summary": {
                **{kind.value: n for kind, n in self.counts().items()},
                "drift": self.drifted,
            },
            "tenants": [t.to_dict() for t in self.tenants],
        }


async def diff_plan(
    spec: PlanSpec,
    settings: Settings,
    redis: RedisClient,
    builder: StageBuilder,
    *,
    batch: int = READ_BATCH,
) -> PlanDiff:
    """Compare what the plan would write with what Redis holds now; read-only.

    Args:
        spec: the validated plan (possibly narrowed to some of its tenants).
        settings: ``redis.key_prefix`` names the records.
        redis: the client to read with (HGETALL only).
        builder: the stage builder the run would use (for each tenant's stage names).
        batch: hashes per pipelined round trip.

    Returns:
        One ``TenantDiff`` per tenant, in plan order.

    Raises:
        TransientError: Redis unreachable, loading, or timed out.
        StepFailedError: any other Redis error (e.g. a record that is not a hash).
    """
    prefix = settings.redis.key_prefix
    planned = [_planned(tenant, builder) for tenant in spec.tenants]
    keys = [wire.tenant_config_key(prefix, tenant.config.tenant_id) for tenant in spec.tenants]
    wanted = [index for index, (_, writes) in enumerate(planned) if writes]
    stored = await redis.hgetall_many([keys[i] for i in wanted], batch=batch)
    current: dict[int, dict[str, str]] = dict(zip(wanted, stored, strict=True))
    tenants = tuple(
        _tenant_diff(tenant, keys[i], stages, writes, current.get(i))
        for i, (tenant, (stages, writes)) in enumerate(zip(spec.tenants, planned, strict=True))
    )
    return PlanDiff(spec.plan_id, spec.version, tenants)


def planned_fields(
    config: TenantConfig, previous: TenantConfig | None, stages: tuple[str, ...]
) -> dict[str, str]:
    """The hash fields the config pushes of ``stages`` would write, as ``ConfigPushStep`` does.

    The ``ob-campaign`` timestamp is 0: timestamps are never compared.
    """
    fields: dict[str, str] = {}
    for stage in stages:
        field = STAGE_FIELDS.get(stage)
        if field == wire.BG_GATEWAY_FIELD:
            fields[field] = wire.bg_gateway_value(config, previous)
        elif field == wire.OB_FIELD:
            fields[field] = wire.ob_value(config, previous, 0)
    if fields:
        fields[wire.METADATA_FIELD] = wire.metadata_value(config.plan_version)
    return fields


def _planned(tenant: TenantSpec, builder: StageBuilder) -> tuple[tuple[str, ...], dict[str, str]]:
    config = tenant.config
    stages = builder.names(StageRequest(config.tenant_id, config, ExecutionMode.NORMAL))
    return stages, planned_fields(config, tenant.previous, stages)


def _tenant_diff(
    tenant: TenantSpec,
    key: str,
    stages: tuple[str, ...],
    writes: Mapping[str, str],
    stored: Mapping[str, str] | None,
) -> TenantDiff:
    config, previous = tenant.config, tenant.previous
    previous_version = previous.plan_version if previous is not None else None
    stored = stored or {}
    record = bool(stored)
    # Each stored field is decoded once: metadata serves the diff and the drift check.
    decoded = {name: wire.parse_json_object(stored.get(name)) for name in writes}
    fields = tuple(
        _field_diff(name, stored.get(name), decoded[name], value) for name, value in writes.items()
    )
    metadata = decoded.get(wire.METADATA_FIELD)
    if metadata is None and record and wire.METADATA_FIELD not in writes:
        metadata = wire.parse_json_object(stored.get(wire.METADATA_FIELD))
    version_now = metadata.get("version") if metadata is not None else None
    version_new = config.plan_version if writes else None
    drift = None
    if writes and record:
        drift = _drift(version_now, metadata is not None, version_new, previous_version)
    return TenantDiff(
        kinds=tenant_kinds(fields, record=record, writes=bool(writes)),
        tenant_id=config.tenant_id,
        key=key,
        stages=stages,
        record=record,
        version_now=version_now,
        version_new=version_new,
        previous_version=previous_version,
        fields=fields,
        untouched=tuple(sorted(set(stored) - set(writes))),
        drift=drift,
    )


def tenant_kinds(
    fields: tuple[FieldDiff, ...], *, record: bool, writes: bool
) -> frozenset[ChangeKind]:
    """A tenant's change kinds: NO_REDIS_WRITE, NO_RECORD, NO_CHANGE, or those of its fields."""
    if not writes:
        return frozenset({ChangeKind.NO_REDIS_WRITE})
    if not record:
        return frozenset({ChangeKind.NO_RECORD})
    kinds: set[ChangeKind] = set()
    for field in fields:
        kinds |= field.kinds()
    return frozenset(kinds or {ChangeKind.NO_CHANGE})


def _drift(now: Any, has_metadata: bool, new: int | None, previous: int | None) -> str | None:
    """Why the stored version is neither the previous config's nor the new one, or None."""
    expected = [v for v in (previous, new) if v is not None]
    if not has_metadata:
        return "the record has no readable metadata field"
    if now is None:
        return "the record's metadata has no version"
    if any(wire.version_matches(now, version) for version in expected):
        return None
    shown = json.dumps(now, ensure_ascii=False)
    if previous is None:
        return f"metadata.version {shown} is not {new} (this plan) and there is no previous config"
    return f"metadata.version {shown} is neither {previous} (previous config) nor {new} (this plan)"


_ABSENT: Any = object()


def _field_diff(
    field: str, current_raw: str | None, current: Mapping[str, Any] | None, new_raw: str
) -> FieldDiff:
    """One field: ``current_raw`` as stored (None: absent), ``current`` decoded from it (None:
    absent or not a JSON object), ``new_raw`` what the plan writes."""
    if current_raw == new_raw:  # byte-identical: nothing to decode
        return FieldDiff(field, FieldStatus.UNCHANGED)
    new = json.loads(new_raw)
    if current_raw is None:
        changes, routes = _compare({}, new)
        return FieldDiff(field, FieldStatus.ADDED, changes, routes)
    note = None
    if current is None:
        note = "the current value is not a JSON object"
        current = {}
    changes, routes = _compare(current, new)
    changed = bool(changes or routes or note)
    return FieldDiff(
        field, FieldStatus.CHANGED if changed else FieldStatus.UNCHANGED, changes, routes, note
    )


def _compare(
    current: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[tuple[ValueChange, ...], tuple[RouteChange, ...]]:
    """Key by key (new's keys first, then keys only the current value has), routes by id."""
    changes: list[ValueChange] = []
    routes: tuple[RouteChange, ...] = ()
    for key in [*new, *(k for k in current if k not in new)]:
        if key in VOLATILE_KEYS:
            continue
        old_value, new_value = current.get(key, _ABSENT), new.get(key, _ABSENT)
        if key == "routes" and _route_list(new_value) is not None:
            route_changes, order = _compare_routes(old_value, new_value)
            if route_changes is not None:
                routes = route_changes
                if order is not None:
                    changes.append(order)
                continue
        if not _same(old_value, new_value):
            changes.append(ValueChange(key, _shown(old_value), _shown(new_value)))
    return tuple(changes), routes


def _compare_routes(
    old_value: Any, new_value: Any
) -> tuple[tuple[RouteChange, ...] | None, ValueChange | None]:
    """Routes by id, and a ``routes order`` change when only their order differs.

    ``(None, None)`` when the current routes cannot be keyed by id (then the whole value is
    compared instead).
    """
    new_routes = _route_list(new_value)
    old_routes = {} if old_value is _ABSENT else _route_list(old_value)
    if new_routes is None or old_routes is None:
        return None, None
    changes: list[RouteChange] = []
    for route_id, route in new_routes.items():
        before = old_routes.get(route_id)
        if before is None:
            changes.append(RouteChange(route_id, RouteChangeKind.ADDED, None, route))
        elif not _same(before, route):
            changes.append(RouteChange(route_id, RouteChangeKind.CHANGED, before, route))
    for route_id, route in old_routes.items():
        if route_id not in new_routes:
            changes.append(RouteChange(route_id, RouteChangeKind.REMOVED, route, None))
    order = None
    if not changes and list(old_routes) != list(new_routes):
        order = ValueChange("routes order", list(old_routes), list(new_routes))
    return tuple(changes), order


def _route_list(value: Any) -> dict[str, Mapping[str, Any]] | None:
    """``id -> route`` of a routes list, or None when it is not a list of objects with unique
    string ids."""
    if not isinstance(value, list):
        return None
    routes: dict[str, Mapping[str, Any]] = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            return None
        if item["id"] in routes:
            return None
        routes[item["id"]] = item
    return routes


def _same(a: Any, b: Any) -> bool:
    """JSON equality that tells ``1`` from ``true`` and ``1.0``, and ignores key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(value, b[key]) for key, value in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a is b or a == b)


def _shown(value: Any) -> Any:
    return None if value is _ABSENT else value
