"""ConfigPushStep: payloads, execute order and retries, and the verify loop (MockTransport)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx
import pytest

from switchover import wire
from switchover.domain.status import ExecutionMode
from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.settings import Settings, VerifySettings
from switchover.steps.config_push import ConfigPushStep
from switchover.steps.http_client import HttpClient
from switchover.steps.locks import Fence
from switchover.steps.protocol import StepContext
from switchover.steps.redis_client import RedisClient
from tests.steps.fakes import EPOCH, FakeClock, is_backoff, make_config, make_ctx

GATEWAYS = ["127.0.0.1:9201", "127.0.0.1:9202", "127.0.0.1:9203"]

AsyncHandler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class FakeRedis:
    """Records HSET/PUBLISH calls; can fail the first N calls of each with a transient error."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[str, Any, Any]] = []
        self.failures = failures

    def _maybe_fail(self) -> None:
        if self.failures:
            self.failures -= 1
            raise TransientError(ErrorType.SERVICE_UNAVAILABLE, "redis unavailable: refused")

    async def hset_fields(self, key: str, mapping: dict[str, str]) -> None:
        self._maybe_fail()
        self.calls.append(("HSET", key, dict(mapping)))

    async def publish(self, channel: str, message: str) -> int:
        self._maybe_fail()
        self.calls.append(("PUBLISH", channel, message))
        return 1


class FakeFencedRedis(FakeRedis):
    """Also applies fenced writes while ``lock`` (the lock key's value) equals theirs."""

    def __init__(self, lock: str | None, failures: int = 0, get_fails: bool = False) -> None:
        super().__init__(failures)
        self.lock = lock
        self.get_fails = get_fails

    async def fenced_write(
        self,
        lock_key: str,
        value: str,
        key: str,
        mapping: dict[str, str],
        channel: str,
        message: str,
    ) -> int | None:
        self._maybe_fail()
        self.calls.append(("FENCED", (lock_key, value), (key, dict(mapping), channel, message)))
        return 1 if value == self.lock else None

    async def get(self, key: str) -> str | None:
        if self.get_fails:
            raise TransientError(ErrorType.SERVICE_UNAVAILABLE, "redis unavailable: refused")
        return self.lock


def verify_server(versions: Callable[[str, int], Any]) -> tuple[AsyncHandler, Counter[str]]:
    """A handler answering ``{"version": versions(instance, nth_call)}``; counts calls."""
    calls: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        instance = f"{request.url.host}:{request.url.port}"
        calls[instance] += 1
        assert request.url.path == "/actuator/bg-sdk/t-1"
        answer = versions(instance, calls[instance])
        if isinstance(answer, httpx.Response):
            return answer
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(200, json={"version": answer})

    return handler, calls


def make_step(handler: AsyncHandler, redis: FakeRedis | None = None) -> ConfigPushStep:
    http = HttpClient(Settings(), transport=httpx.MockTransport(handler))
    return ConfigPushStep(
        field=wire.BG_GATEWAY_FIELD,
        service_key="blueGreenGatewayService",
        http=http,
        redis=cast(RedisClient, redis or FakeRedis()),
    )


def gateway_ctx(**kwargs: Any) -> StepContext:
    kwargs.setdefault("instances", {"blueGreenGatewayService": GATEWAYS})
    return make_ctx(**kwargs)


async def close(step: ConfigPushStep) -> None:
    await step._http.aclose()


# --- prepare / execute --------------------------------------------------------------------


async def test_prepare_builds_the_field_metadata_and_notification_of_the_spec() -> None:
    redis = FakeRedis()
    step = make_step(verify_server(lambda i, n: 20)[0], redis)
    previous = make_config(deploy_unit_name="blue", plan_version=19)
    ctx = gateway_ctx(source=previous)
    await step.prepare(ctx)
    await step.execute(ctx)
    await close(step)
    assert redis.calls == [
        (
            "HSET",
            "icc_ai_ops_srv:tenant_config:t-1",
            {
                "icc-bg-gateway": '{"tenantId":"t-1","sourceUnit":"blue","targetUnit":"green",'
                '"routes":[{"id":"r1","sourceUri":"127.0.0.11","targetUri":"green.example.test"}]}',
                "metadata": '{"version":20}',
            },
        ),
        (
            "PUBLISH",
            "icc_ai_ops_srv:tenant_config:topic",
            '{"tenantId":"t-1","appName":"icc-bg-gateway","version":20,'
            f'"timestamp":{int(EPOCH * 1000)}}}',
        ),
    ]


async def test_ob_field_carries_unit_names_and_timestamp() -> None:
    redis = FakeRedis()
    http = HttpClient(Settings(), transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    step = ConfigPushStep(
        field=wire.OB_FIELD, service_key="obService", http=http, redis=cast(RedisClient, redis)
    )
    ctx = make_ctx(stage="ob-service", version=19)
    await step.prepare(ctx)
    await step.execute(ctx)
    await http.aclose()
    ms = int(EPOCH * 1000)
    fields = redis.calls[0][2]
    assert fields == {
        "ob-campaign": '{"tenantId":"t-1","sourceUnitName":"green","targetUnitName":"green",'
        f'"timestamp":{ms}}}',
        "metadata": '{"version":19}',
    }
    assert json.loads(redis.calls[1][2])["appName"] == "ob-campaign"


async def test_transient_redis_errors_are_retried_with_backoff() -> None:
    redis = FakeRedis(failures=2)
    clock = FakeClock()
    step = make_step(verify_server(lambda i, n: 20)[0], redis)
    ctx = gateway_ctx(clock=clock)
    await step.prepare(ctx)
    await step.execute(ctx)
    await close(step)
    assert [c[0] for c in redis.calls] == ["HSET", "PUBLISH"]
    assert len(clock.sleeps) == 2
    assert is_backoff(clock.sleeps)


def fenced(ctx: StepContext, token: int = 7, holder: str = "engine-a") -> StepContext:
    return dataclasses.replace(ctx, fence=Fence(ctx.tenant_id, holder, token))


async def test_with_a_fence_hset_and_publish_go_in_one_fenced_write() -> None:
    redis = FakeFencedRedis(lock="7|engine-a")
    step = make_step(verify_server(lambda i, n: 20)[0], redis)
    ctx = fenced(gateway_ctx(source=make_config(deploy_unit_name="blue", plan_version=19)))
    await step.prepare(ctx)
    await step.execute(ctx)
    await close(step)
    assert redis.calls == [
        (
            "FENCED",
            ("switchover:tenant_lock:t-1", "7|engine-a"),
            (
                "icc_ai_ops_srv:tenant_config:t-1",
                {
                    "icc-bg-gateway": '{"tenantId":"t-1","sourceUnit":"blue","targetUnit":"green",'
                    '"routes":[{"id":"r1","sourceUri":"127.0.0.11",'
                    '"targetUri":"green.example.test"}]}',
                    "metadata": '{"version":20}',
                },
                "icc_ai_ops_srv:tenant_config:topic",
                '{"tenantId":"t-1","appName":"icc-bg-gateway","version":20,'
                f'"timestamp":{int(EPOCH * 1000)}}}',
            ),
        )
    ]


async def test_fenced_write_is_retried_on_transient_errors() -> None:
    redis = FakeFencedRedis(lock="7|engine-a", failures=2)
    clock = FakeClock()
    step = make_step(verify_server(lambda i, n: 20)[0], redis)
    ctx = fenced(gateway_ctx(clock=clock))
    await step.prepare(ctx)
    await step.execute(ctx)
    await close(step)
    assert [c[0] for c in redis.calls] == ["FENCED"]
    assert len(clock.sleeps) == 2
    assert is_backoff(clock.sleeps)


async def test_refused_fenced_write_is_a_conflict_even_when_the_holder_cannot_be_read() -> None:
    redis = FakeFencedRedis(lock="9|engine-b", get_fails=True)
    clock = FakeClock()
    step = make_step(verify_server(lambda i, n: 20)[0], redis)
    ctx = fenced(gateway_ctx(clock=clock))
    await step.prepare(ctx)
    with pytest.raises(StepFailedError) as info:
        await step.execute(ctx)
    await close(step)
    assert info.value.error_type is ErrorType.CONFLICT
    assert info.value.retryable is False
    assert str(info.value) == (
        "tenant t-1 is claimed by another task (its holder could not be read) now; this task's "
        "claim (token 7) is no longer current — nothing was written"
    )
    assert info.value.details["current_holder"] is None
    assert clock.sleeps == []


async def test_a_fence_on_another_tenant_writes_nothing() -> None:
    redis = FakeFencedRedis(lock="7|engine-a")
    step = make_step(verify_server(lambda i, n: 20)[0], redis)
    ctx = dataclasses.replace(gateway_ctx(), fence=Fence("t-2", "engine-a", 7))
    await step.prepare(ctx)
    with pytest.raises(StepFailedError) as info:
        await step.execute(ctx)
    await close(step)
    assert info.value.error_type is ErrorType.SYSTEM_ERROR
    assert redis.calls == []


def test_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown config field"):
        ConfigPushStep(
            field="nope",
            service_key="obService",
            http=cast(HttpClient, None),
            redis=cast(RedisClient, None),
        )


# --- verify -------------------------------------------------------------------------------


async def test_verify_passes_at_once_when_every_instance_reports_the_version() -> None:
    handler, calls = verify_server(lambda i, n: 20)
    clock = FakeClock()
    step = make_step(handler)
    await step.validate(gateway_ctx(clock=clock))
    await close(step)
    assert calls == Counter(dict.fromkeys(GATEWAYS, 1))
    assert clock.sleeps == []


async def test_lagging_instance_catching_up_within_attempts_passes() -> None:
    lagging = GATEWAYS[1]
    handler, calls = verify_server(lambda i, n: 19 if i == lagging and n < 3 else 20)
    clock = FakeClock()
    step = make_step(handler)
    await step.validate(gateway_ctx(clock=clock))
    await close(step)
    # Matched instances are not asked again; only the lagging one is polled per round.
    assert calls[GATEWAYS[0]] == calls[GATEWAYS[2]] == 1
    assert calls[lagging] == 3
    assert clock.sleeps == [3.0, 3.0]


async def test_version_is_compared_as_text() -> None:
    handler, _ = verify_server(lambda i, n: "20")
    step = make_step(handler)
    await step.validate(gateway_ctx())
    await close(step)


async def test_always_stale_instance_fails_with_per_instance_detail() -> None:
    stale = GATEWAYS[2]
    handler, calls = verify_server(lambda i, n: 19 if i == stale else 20)
    clock = FakeClock()
    step = make_step(handler)
    with pytest.raises(StepFailedError) as info:
        await step.validate(gateway_ctx(clock=clock))
    await close(step)
    error = info.value
    assert error.error_type is ErrorType.HEALTH_CHECK_FAILED
    assert "1 of 3 instance(s)" in str(error)
    assert stale in str(error)
    assert error.details["expected_version"] == 20
    assert error.details["attempts"] == 10
    assert error.details["instances"] == [
        {"instance": GATEWAYS[0], "last_reported": "20", "matched": True},
        {"instance": GATEWAYS[1], "last_reported": "20", "matched": True},
        {"instance": stale, "last_reported": "19", "matched": False},
    ]
    assert calls[stale] == 10
    assert clock.sleeps == [3.0] * 9
    json.dumps(dict(error.details))


async def test_unreachable_instance_is_not_yet_and_may_recover() -> None:
    down = GATEWAYS[0]

    def versions(instance: str, n: int) -> Any:
        if instance == down and n <= 2:
            return httpx.ConnectError("connection refused")
        return 20

    handler, calls = verify_server(versions)
    step = make_step(handler)
    await step.validate(gateway_ctx())
    await close(step)
    assert calls[down] == 3


async def test_errors_are_reported_as_last_seen_text() -> None:
    answers = {
        GATEWAYS[0]: httpx.ConnectError("connection refused"),
        GATEWAYS[1]: httpx.Response(503),
        GATEWAYS[2]: httpx.Response(200, text="not json"),
    }
    handler, _ = verify_server(lambda i, n: answers[i])
    step = make_step(handler)
    with pytest.raises(StepFailedError) as info:
        await step.validate(gateway_ctx())
    await close(step)
    reported = {d["instance"]: d["last_reported"] for d in info.value.details["instances"]}
    assert reported[GATEWAYS[0]].startswith("NETWORK_ERROR")
    assert reported[GATEWAYS[1]].startswith("SERVICE_UNAVAILABLE")
    assert "503" in reported[GATEWAYS[1]]
    assert reported[GATEWAYS[2]] == "answer is not a JSON object"
    assert "3 of 3 instance(s)" in str(info.value)


async def test_rollback_mode_uses_the_rollback_attempts_and_interval() -> None:
    handler, calls = verify_server(lambda i, n: 20)
    settings = Settings(verify=VerifySettings(rollback_interval=2.0, rollback_max_attempts=5))
    clock = FakeClock()
    step = make_step(handler)
    with pytest.raises(StepFailedError) as info:
        await step.validate(
            gateway_ctx(settings=settings, clock=clock, mode=ExecutionMode.ROLLBACK, version=19)
        )
    await close(step)
    # The engine maps this to ROLLBACK_HEALTH_CHECK_FAILED; the step reports the plain type.
    assert info.value.error_type is ErrorType.HEALTH_CHECK_FAILED
    assert info.value.details["attempts"] == 5
    assert info.value.details["expected_version"] == 19
    assert clock.sleeps == [2.0] * 4
    assert set(calls.values()) == {5}


async def test_deadline_stops_polling_before_max_attempts() -> None:
    handler, _ = verify_server(lambda i, n: 19)
    settings = Settings(verify=VerifySettings(interval=3.0, max_attempts=10, deadline=7.0))
    clock = FakeClock()
    step = make_step(handler)
    with pytest.raises(StepFailedError) as info:
        await step.validate(gateway_ctx(settings=settings, clock=clock))
    await close(step)
    assert info.value.details["attempts"] == 3
    assert info.value.details["deadline_reached"] is True
    assert clock.sleeps == [3.0, 3.0]


async def test_hanging_instance_is_cut_off_by_the_deadline() -> None:
    hung = GATEWAYS[0]

    async def handler(request: httpx.Request) -> httpx.Response:
        if f"{request.url.host}:{request.url.port}" == hung:
            await asyncio.sleep(30)
        return httpx.Response(200, json={"version": 20})

    settings = Settings(verify=VerifySettings(deadline=0.2))
    step = make_step(handler)
    started = time.monotonic()
    with pytest.raises(StepFailedError) as info:
        await step.validate(gateway_ctx(settings=settings))
    await close(step)
    assert time.monotonic() - started < 5
    reported = {d["instance"]: d for d in info.value.details["instances"]}
    assert reported[hung]["last_reported"] == "no answer before the verify deadline"
    assert reported[GATEWAYS[1]]["matched"] is True


async def test_verify_asks_the_tenant_namespace_of_the_configured_service() -> None:
    handler, _ = verify_server(lambda i, n: 20)
    step = make_step(handler)
    ctx = gateway_ctx(config=make_config(nacos_namespace="tenant-ns"))
    await step.validate(ctx)
    await close(step)
    query = ctx.discovery.queries[0]  # type: ignore[attr-defined]
    assert (query.service_key, query.namespace) == ("blueGreenGatewayService", "tenant-ns")


async def test_verify_fans_out_to_a_thousand_instances_quickly() -> None:
    instances = [f"127.0.0.{1 + n // 250}:{10000 + n}" for n in range(1000)]
    slow = set(instances[::7])
    handler, calls = verify_server(lambda i, n: 19 if i in slow and n == 1 else 20)
    step = make_step(handler)
    started = time.monotonic()
    await step.validate(gateway_ctx(instances={"blueGreenGatewayService": instances}))
    elapsed = time.monotonic() - started
    await close(step)
    assert sum(calls.values()) == 1000 + len(slow)
    assert elapsed < 10
