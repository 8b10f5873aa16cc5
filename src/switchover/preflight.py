"""Preflight: check that a plan's targets (Redis, discovery) will take its work.

Nothing is written to any tenant's record. Two families of checks, run concurrently:

* **Redis** — PING; an HSET and then an HDEL of the probe field on the dedicated key
  ``probe_key(redis.key_prefix)``; a PUBLISH of ``PROBE_MESSAGE`` on ``redis.topic``. The probe
  key is ``{key_prefix}switchover:preflight``: it starts with the prefix, so an ACL or a proxy
  that limits writes to the prefix judges it as it judges a tenant's key, and it contains a
  ``:``, which no tenant id may (``[A-Za-z0-9_-]{1,64}``), so it is never any tenant's record.
  It exists only between the HSET and the HDEL. The probe message is a JSON object without
  ``tenantId``, ``appName`` or ``version``, the fields a subscriber selects its work by
  (SPEC §4), so no subscriber reloads anything on it.
* **Discovery** — every service key the stages of the plan need (per tenant, from its config
  and namespace) must resolve to at least one instance. Tenants are grouped by (service key,
  namespace), so a plan of 10,000 tenants in three namespaces costs at most twelve lookups.

Every problem is one line, with every configured secret masked.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from switchover import wire
from switchover.discovery.protocol import Discovery, DiscoveryQuery
from switchover.domain.records import PlanSpec
from switchover.domain.status import ExecutionMode
from switchover.errors import ErrorType, StepFailedError, SwitchoverError, TransientError
from switchover.secrets import Scrubber
from switchover.settings import SERVICE_KEYS, Settings
from switchover.stages.base import StageBuilder, StageRequest
from switchover.stages.catalogue import (
    ASBC_GATEWAY,
    BLUE_GREEN_GATEWAY,
    BLUE_GREEN_GATEWAY_SERVICE,
    OB_SERVICE,
    OB_SERVICE_KEY,
    PORTAL,
)
from switchover.steps.notify import ASBC_SERVICE, PORTAL_SERVICE
from switchover.steps.redis_client import RedisClient

STAGE_SERVICES: Mapping[str, tuple[str, ...]] = {
    ASBC_GATEWAY: (ASBC_SERVICE,),
    PORTAL: (PORTAL_SERVICE,),
    BLUE_GREEN_GATEWAY: (BLUE_GREEN_GATEWAY_SERVICE,),
    OB_SERVICE: (OB_SERVICE_KEY,),
}
"""The discovery keys each catalogue stage looks instances up by (calls and verify)."""

PROBE_FIELD = "probe"
"""The one field the probe HSET writes (and the HDEL removes) on ``probe_key``."""

PROBE_MESSAGE = wire.dumps({"switchover": "preflight"})
"""What the probe PUBLISH sends: no ``tenantId``/``appName``/``version``, nothing to act on."""

EXAMPLE_TENANTS = 3
"""How many of the tenants behind a discovery problem it names."""

EXAMPLE_NAMESPACES = 5
"""How many of the namespaces of a discovery problem it names."""

_LOOKUPS_AT_ONCE = 16
_REASON_LIMIT = 200


def probe_key(key_prefix: str) -> str:
    """``{key_prefix}switchover:preflight``: under the prefix, and never a tenant's key."""
    return f"{key_prefix}switchover:preflight"


class Concern(StrEnum):
    """What a problem is about."""

    REDIS = "redis"
    DISCOVERY = "discovery"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that would stop the plan: a one-line message and what it concerns.

    ``subject`` names the part concerned: ``host:port`` of Redis, the probe key, the topic, or
    the service key (``key @ namespace`` when one namespace) for discovery. A discovery problem
    also says how many tenants need the lookup and names a few (``tenant_count``,
    ``example_tenants``); failed lookups of one key for the same reason make one problem.
    """

    concern: Concern
    subject: str
    message: str
    tenant_count: int = 0
    example_tenants: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.concern.value}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the ``problems`` items of ``switchover preflight --json``)."""
        return {
            "concern": self.concern.value,
            "subject": self.subject,
            "message": self.message,
            "line": str(self),
            "tenant_count": self.tenant_count,
            "example_tenants": list(self.example_tenants),
        }


@dataclass(frozen=True, slots=True)
class Lookup:
    """One discovery lookup preflight made and the tenants that need it."""

    service_key: str
    namespace: str | None
    tenants: tuple[str, ...]
    instances: int
    """How many instances it found (0: a problem)."""


@dataclass(frozen=True, slots=True)
class PreflightReport:
    """Everything preflight found: its problems, and what it checked."""

    problems: tuple[Problem, ...]
    redis: str
    """Where Redis was checked: ``host:port`` (never credentials)."""
    lookups: tuple[Lookup, ...]
    tenants: int

    @property
    def ok(self) -> bool:
        """Whether nothing stands in the plan's way."""
        return not self.problems


async def preflight(
    spec: PlanSpec,
    settings: Settings,
    redis: RedisClient,
    discovery: Discovery,
    builder: StageBuilder,
) -> list[Problem]:
    """Check the plan's targets before anything is written; every problem found.

    Args:
        spec: the validated plan.
        settings: the Redis key prefix and topic, and the secrets to mask.
        redis: the client the run would write with.
        discovery: the discovery the run would look instances up with.
        builder: the stage builder the run would use (for each tenant's stage names).

    Returns:
        The problems, Redis first, then discovery by service key and namespace; empty when
        the plan can go.
    """
    report = await check_targets(spec, settings, redis, discovery, builder)
    return list(report.problems)


async def check_targets(
    spec: PlanSpec,
    settings: Settings,
    redis: RedisClient,
    discovery: Discovery,
    builder: StageBuilder,
) -> PreflightReport:
    """``preflight`` with what it checked besides its problems (for display).

    Args:
        spec: the validated plan.
        settings: the Redis key prefix and topic, and the secrets to mask.
        redis: the client the run would write with.
        discovery: the discovery the run would look instances up with.
        builder: the stage builder the run would use.

    Returns:
        The report; its problems are those ``preflight`` returns.
    """
    scrubber = Scrubber(settings.secret_values())
    needs = needed_lookups(spec, builder)
    async with asyncio.TaskGroup() as group:
        redis_job = group.create_task(_check_redis(settings, redis, scrubber))
        lookups_job = group.create_task(_check_discovery(needs, discovery, scrubber))
    lookups, discovery_problems = lookups_job.result()
    return PreflightReport(
        problems=(*redis_job.result(), *discovery_problems),
        redis=redis_address(settings),
        lookups=lookups,
        tenants=len(spec.tenants),
    )


def needed_lookups(
    spec: PlanSpec, builder: StageBuilder
) -> dict[tuple[str, str | None], list[str]]:
    """``(service key, namespace) -> tenant ids`` for every lookup the plan's stages make.

    Ordered by ``SERVICE_KEYS``, then namespace (the default namespace first), tenants in
    plan order.
    """
    found: dict[tuple[str, str | None], list[str]] = {}
    for tenant in spec.tenants:
        config = tenant.config
        request = StageRequest(config.tenant_id, config, ExecutionMode.NORMAL)
        for stage in builder.names(request):
            for service_key in STAGE_SERVICES.get(stage, ()):
                found.setdefault((service_key, config.nacos_namespace), []).append(config.tenant_id)
    order = {key: index for index, key in enumerate(SERVICE_KEYS)}
    return dict(
        sorted(
            found.items(),
            key=lambda item: (order.get(item[0][0], len(order)), item[0][0], item[0][1] or ""),
        )
    )


def redis_address(settings: Settings) -> str:
    """``host:port`` of the configured Redis (the socket path for ``unix://``), no credentials."""
    url = settings.redis.url.get_secret_value()
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return parts.path or "(unix socket)"
        return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    except ValueError:  # a malformed port: say no more than that
        return "(redis.url)"


async def _check_redis(settings: Settings, redis: RedisClient, scrubber: Scrubber) -> list[Problem]:
    where = redis_address(settings)
    key = probe_key(settings.redis.key_prefix)
    topic = settings.redis.topic

    def problem(subject: str, message: str) -> Problem:
        return Problem(Concern.REDIS, scrubber.scrub(subject), scrubber.scrub(message))

    try:
        await redis.ping()
    except StepFailedError as exc:
        return [problem(where, _unreachable(where, exc, scrubber))]
    problems: list[Problem] = []
    written = True
    try:
        await redis.hset_fields(key, {PROBE_FIELD: PROBE_MESSAGE})
    except StepFailedError as exc:
        # A timed-out HSET may still have been applied: remove the probe all the same.
        written = isinstance(exc, TransientError)
        problems.append(
            problem(key, f"HSET refused on the probe key {key} ({_reason(exc, scrubber)})")
        )
    if written:
        try:
            await redis.hdel_fields(key, [PROBE_FIELD])
        except StepFailedError as exc:
            problems.append(
                problem(
                    key,
                    f"HDEL refused on the probe key {key} ({_reason(exc, scrubber)}); it is no "
                    "tenant's record and may be deleted by hand",
                )
            )
    try:
        await redis.publish(topic, PROBE_MESSAGE)
    except StepFailedError as exc:
        problems.append(
            problem(topic, f"PUBLISH refused on topic {topic} ({_reason(exc, scrubber)})")
        )
    return problems


def _unreachable(where: str, exc: StepFailedError, scrubber: Scrubber) -> str:
    if exc.details.get("cause") == "authentication":
        return f"{where} refused the credentials of redis.url (check the password)"
    if isinstance(exc, TransientError):
        return f"cannot connect to {where} ({_reason(exc, scrubber)})"
    return f"{where} refused PING ({_reason(exc, scrubber)})"


def _reason(exc: StepFailedError, scrubber: Scrubber) -> str:
    """Why a Redis call failed, in a few words: ``connection refused``, ``timed out``, or the
    server's own reply (e.g. ``NOPERM ...``)."""
    if exc.error_type is ErrorType.TIMEOUT_ERROR:
        return "timed out"
    cause: BaseException | None = exc.__cause__
    seen = 0
    while cause is not None and seen < 8:  # the adapter's chain is short; never loop forever
        if isinstance(cause, TimeoutError):
            return "timed out"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the host ({cause.strerror or cause})"
        if isinstance(cause, OSError) and cause.errno is not None:
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
        seen += 1
    text = " ".join(str(exc.__cause__ or exc).split()) or type(exc).__name__
    if len(text) > _REASON_LIMIT:
        text = text[: _REASON_LIMIT - 3] + "..."
    return scrubber.scrub(text)


async def _check_discovery(
    needs: Mapping[tuple[str, str | None], Sequence[str]],
    discovery: Discovery,
    scrubber: Scrubber,
) -> tuple[tuple[Lookup, ...], list[Problem]]:
    gate = asyncio.Semaphore(_LOOKUPS_AT_ONCE)
    found: dict[tuple[str, str | None], tuple[int, str | None]] = {}

    async def look(service_key: str, namespace: str | None) -> None:
        async with gate:
            try:
                instances = await discovery.instances(DiscoveryQuery(service_key, namespace))
            except SwitchoverError as exc:
                found[service_key, namespace] = (0, " ".join(str(exc).split()))
            else:
                found[service_key, namespace] = (len(set(instances)), None)

    async with asyncio.TaskGroup() as group:
        for service_key, namespace in needs:
            group.create_task(look(service_key, namespace))
    lookups: list[Lookup] = []
    # Failed lookups of one service key for the same reason make one problem: static lists
    # ignore the namespace, so a key missing there fails alike in every namespace.
    failed: dict[tuple[str, str | None], list[Lookup]] = {}
    for (service_key, namespace), tenants in needs.items():
        count, cause = found[service_key, namespace]
        lookup = Lookup(service_key, namespace, tuple(tenants), count)
        lookups.append(lookup)
        if not count:
            failed.setdefault((service_key, cause), []).append(lookup)
    problems = [
        _discovery_problem(service_key, cause, group, scrubber)
        for (service_key, cause), group in failed.items()
    ]
    return tuple(lookups), problems


def _discovery_problem(
    service_key: str, cause: str | None, lookups: Sequence[Lookup], scrubber: Scrubber
) -> Problem:
    """``no instance of K in namespace N (needed by T tenants, e.g. ...): cause``."""
    namespaces = [lookup.namespace for lookup in lookups]
    shown = [namespace or "(default)" for namespace in namespaces]
    if len(namespaces) == 1:
        where = f"in namespace {namespaces[0]}" if namespaces[0] else "in the default namespace"
    else:
        listed = ", ".join(shown[:EXAMPLE_NAMESPACES])
        if len(shown) > EXAMPLE_NAMESPACES:
            listed += f" and {len(shown) - EXAMPLE_NAMESPACES:,} more"
        where = f"in {len(shown):,} namespaces ({listed})"
    tenants = [tenant for lookup in lookups for tenant in lookup.tenants]
    examples = tuple(tenants[:EXAMPLE_TENANTS])
    noun = "tenant" if len(tenants) == 1 else "tenants"
    message = (
        f"no instance of {service_key} {where} (needed by {len(tenants):,} {noun}, "
        f"e.g. {', '.join(examples)})"
    )
    if cause:
        message += f": {cause}"
    return Problem(
        Concern.DISCOVERY,
        scrubber.scrub(f"{service_key} @ {shown[0]}" if len(shown) == 1 else service_key),
        scrubber.scrub(message),
        tenant_count=len(tenants),
        example_tenants=examples,
    )
