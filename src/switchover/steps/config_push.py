"""The Redis config push step: one atomic HSET, a PUBLISH, then verify on every instance."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from switchover import wire
from switchover.discovery.protocol import DiscoveryQuery
from switchover.domain.status import ExecutionMode
from switchover.errors import ErrorType, StepFailedError
from switchover.steps.http_client import HttpClient
from switchover.steps.locks import Fence
from switchover.steps.protocol import StepContext
from switchover.steps.redis_client import RedisClient
from switchover.steps.retry import retry_transient

_LISTED_IN_MESSAGE = 5
"""How many unmatched instances a failure message names; details list all of them."""


@dataclass(slots=True)
class _Probe:
    """What one instance's verify endpoint last said."""

    instance: str
    last: str = "not queried"
    matched: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "last_reported": self.last, "matched": self.matched}


class ConfigPushStep:
    """Writes a tenant's config to Redis, announces it, and waits until every instance has it.

    * prepare: the hash fields (``field`` = its JSON value, ``metadata`` = ``{"version": N}``)
      and the pub/sub message, per SPEC §4.
    * execute: one ``HSET`` of both fields on the tenant's key, then ``PUBLISH`` on the topic;
      each is retried on transient Redis errors, and a failed publish fails the step. With a
      fence (``ctx.fence``) both run in one script that first checks the tenant's lock still
      holds this claim; when it does not, nothing is written or published and the step fails
      with CONFLICT (not retryable: the tenant belongs to another task now).
    * validate: ``GET http://{instance}{verify.path}`` on every instance of ``service_key``
      concurrently, round after round, re-asking only those that have not matched yet. An
      instance matches when its ``$.version`` as text equals the version; an older version, a
      non-JSON answer, an HTTP error or an unreachable instance means "not yet". Rounds are
      ``verify.interval`` apart, at most ``verify.max_attempts`` of them (the ``rollback_*``
      values in ROLLBACK mode), all within ``verify.deadline`` seconds. When instances never
      match, HEALTH_CHECK_FAILED lists each instance and what it last reported.
    """

    name = "config-push"

    def __init__(
        self, *, field: str, service_key: str, http: HttpClient, redis: RedisClient
    ) -> None:
        """Create the step.

        Args:
            field: the hash field and notification ``appName``: ``wire.BG_GATEWAY_FIELD`` or
                ``wire.OB_FIELD``.
            service_key: discovery key of the instances to verify.
            http: the shared HTTP client (verify calls).
            redis: the shared Redis client.

        Raises:
            ValueError: ``field`` is not one of the two known fields.
        """
        if field not in (wire.BG_GATEWAY_FIELD, wire.OB_FIELD):
            raise ValueError(f"unknown config field {field!r}")
        self.field = field
        self.service_key = service_key
        self._http = http
        self._redis = redis
        self._fields: dict[str, str] = {}
        self._message = ""

    async def prepare(self, ctx: StepContext) -> None:
        """Build the hash fields and the notification."""
        timestamp_ms = int(ctx.clock.now() * 1000)
        if self.field == wire.BG_GATEWAY_FIELD:
            value = wire.bg_gateway_value(ctx.config, ctx.source)
        else:
            value = wire.ob_value(ctx.config, ctx.source, timestamp_ms)
        self._fields = {self.field: value, wire.METADATA_FIELD: wire.metadata_value(ctx.version)}
        self._message = wire.notification(ctx.tenant_id, self.field, ctx.version, timestamp_ms)

    async def execute(self, ctx: StepContext) -> None:
        """HSET both fields at once, then PUBLISH; transient errors are retried with backoff.

        Raises:
            StepFailedError: CONFLICT when ``ctx.fence`` is no longer the tenant's claim;
                the Redis errors of ``RedisClient`` once retries are spent.
        """
        key = wire.tenant_config_key(ctx.settings.redis.key_prefix, ctx.tenant_id)
        topic = ctx.settings.redis.topic
        policy, clock = ctx.settings.retry, ctx.clock
        if ctx.fence is not None:
            await self._fenced_execute(ctx, ctx.fence, key)
            return
        await retry_transient(
            lambda: self._redis.hset_fields(key, self._fields),
            policy=policy,
            clock=clock,
            counters=ctx.counters,
        )
        await retry_transient(
            lambda: self._redis.publish(topic, self._message),
            policy=policy,
            clock=clock,
            counters=ctx.counters,
        )

    async def _fenced_execute(self, ctx: StepContext, fence: Fence, key: str) -> None:
        """The HSET and the PUBLISH in one script, applied only while ``fence`` is current."""
        if fence.tenant_id != ctx.tenant_id:
            raise StepFailedError(
                ErrorType.SYSTEM_ERROR,
                f"the claim passed to the config push of tenant {ctx.tenant_id} is on tenant "
                f"{fence.tenant_id}",
                details={"tenant_id": ctx.tenant_id, "fence_tenant_id": fence.tenant_id},
            )
        redis = ctx.settings.redis
        lock_key = wire.tenant_lock_key(redis.lock_prefix, ctx.tenant_id)
        value = wire.lock_value(fence.token, fence.holder)
        receivers = await retry_transient(
            lambda: self._redis.fenced_write(
                lock_key, value, key, self._fields, redis.topic, self._message
            ),
            policy=ctx.settings.retry,
            clock=ctx.clock,
            counters=ctx.counters,
        )
        if receivers is None:
            raise await self._lost_claim(ctx, fence, lock_key)

    async def _lost_claim(self, ctx: StepContext, fence: Fence, lock_key: str) -> StepFailedError:
        """The CONFLICT of a rejected fenced write, naming the current holder if it can."""
        current: str | None
        try:
            raw = await self._redis.get(lock_key)
        except StepFailedError:
            # Only for the message: the write was refused either way.
            current, who = None, "another task (its holder could not be read)"
        else:
            current = None if raw is None else wire.lock_holder(raw)
            who = "no one (the claim expired)" if current is None else current
        return StepFailedError(
            ErrorType.CONFLICT,
            f"tenant {ctx.tenant_id} is claimed by {who} now; this task's claim "
            f"(token {fence.token}) is no longer current — nothing was written",
            retryable=False,
            details={
                "tenant_id": ctx.tenant_id,
                "holder": fence.holder,
                "token": fence.token,
                "current_holder": current,
            },
        )

    async def validate(self, ctx: StepContext) -> None:
        """Poll every instance until all report the version, or fail with HEALTH_CHECK_FAILED."""
        verify = ctx.settings.verify
        if ctx.mode is ExecutionMode.ROLLBACK:
            interval, max_attempts = verify.rollback_interval, verify.rollback_max_attempts
        else:
            interval, max_attempts = verify.interval, verify.max_attempts
        query = DiscoveryQuery(self.service_key, ctx.config.nacos_namespace)
        instances = list(dict.fromkeys(await ctx.discovery.instances(query)))
        if not instances:
            raise StepFailedError(
                ErrorType.SERVICE_UNAVAILABLE,
                f"no instances of {self.service_key} to verify",
                details={"service_key": self.service_key},
            )
        path = verify.path.format(tenant_id=ctx.tenant_id)
        probes = [_Probe(instance) for instance in instances]
        pending = probes
        started = ctx.clock.monotonic()
        attempts = 0
        deadline_reached = False
        while True:
            attempts += 1
            ctx.counters["verify_attempts"] += 1
            remaining = verify.deadline - (ctx.clock.monotonic() - started)
            deadline_reached = not await self._round(pending, path, ctx.version, remaining)
            pending = [probe for probe in pending if not probe.matched]
            if not pending:
                return
            if deadline_reached or attempts >= max_attempts:
                break
            if ctx.clock.monotonic() - started + interval >= verify.deadline:
                deadline_reached = True
                break
            await ctx.clock.sleep(interval)
        raise self._failure(ctx, probes, pending, attempts, deadline_reached)

    async def _round(self, probes: list[_Probe], path: str, expected: int, budget: float) -> bool:
        """Ask every probe's instance once, concurrently; False when ``budget`` ran out."""
        answered: set[str] = set()
        try:
            async with asyncio.timeout(max(budget, 0.0)), asyncio.TaskGroup() as group:
                for probe in probes:
                    group.create_task(self._ask(probe, path, expected, answered))
        except TimeoutError:
            for probe in probes:
                if probe.instance not in answered:
                    probe.last = "no answer before the verify deadline"
            return False
        return True

    async def _ask(self, probe: _Probe, path: str, expected: int, answered: set[str]) -> None:
        try:
            status, body = await self._http.get_json(f"http://{probe.instance}{path}")
        except StepFailedError as exc:
            probe.last = f"{exc.error_type.value}: {exc}"
        else:
            if not 200 <= status < 300:
                probe.last = f"HTTP {status}"
            elif not isinstance(body, dict):
                probe.last = "answer is not a JSON object"
            elif "version" not in body:
                probe.last = "answer has no version"
            else:
                reported = body["version"]
                probe.last = str(reported)
                probe.matched = wire.version_matches(reported, expected)
        answered.add(probe.instance)

    def _failure(
        self,
        ctx: StepContext,
        probes: list[_Probe],
        pending: list[_Probe],
        attempts: int,
        deadline_reached: bool,
    ) -> StepFailedError:
        listed = ", ".join(f"{p.instance} ({p.last})" for p in pending[:_LISTED_IN_MESSAGE])
        more = len(pending) - _LISTED_IN_MESSAGE
        if more > 0:
            listed += f" and {more} more"
        why = "verify deadline reached" if deadline_reached else f"{attempts} attempt(s)"
        return StepFailedError(
            ErrorType.HEALTH_CHECK_FAILED,
            f"{len(pending)} of {len(probes)} instance(s) of {self.service_key} never reported "
            f"version {ctx.version} ({why}): {listed}",
            retryable=True,
            details={
                "service_key": self.service_key,
                "expected_version": ctx.version,
                "attempts": attempts,
                "deadline_reached": deadline_reached,
                "unmatched": len(pending),
                "instances": [probe.to_dict() for probe in probes],
            },
        )
