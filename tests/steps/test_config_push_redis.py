"""ConfigPushStep and RedisClient against a real redis-server: bytes written, message published."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from switchover import wire
from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.fleet.redis_server import RedisServer, free_port
from switchover.secrets import Secret
from switchover.settings import RedisSettings, Settings
from switchover.steps.config_push import ConfigPushStep
from switchover.steps.http_client import HttpClient
from switchover.steps.locks import Fence
from switchover.steps.redis_client import RedisClient
from switchover.steps.redis_locks import RedisTenantLocks
from tests.steps.fakes import EPOCH, FakeClock, is_backoff, make_config, make_ctx

pytestmark = pytest.mark.integration

KEY = "icc_ai_ops_srv:tenant_config:t-1"
LOCK = "switchover:tenant_lock:t-1"
TOPIC = "icc_ai_ops_srv:tenant_config:topic"
BG_VALUE = (
    '{"tenantId":"t-1","sourceUnit":"blue","targetUnit":"green",'
    '"routes":[{"id":"r1","sourceUri":"127.0.0.11","targetUri":"green.example.test"}]}'
)


def settings_for(url: str) -> Settings:
    return Settings(redis=RedisSettings(url=Secret(url), socket_timeout=2.0))


def http_client() -> HttpClient:
    return HttpClient(
        Settings(),
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"version": 20})),
    )


async def push(
    settings: Settings, field: str, service_key: str, clock: FakeClock | None = None
) -> None:
    previous = make_config(deploy_unit_name="blue", plan_version=19)
    ctx = make_ctx(
        settings=settings,
        source=previous,
        clock=clock,
        instances={service_key: ["127.0.0.1:9201"]},
    )
    async with http_client() as http, RedisClient(settings) as redis:
        step = ConfigPushStep(field=field, service_key=service_key, http=http, redis=redis)
        await step.prepare(ctx)
        await step.execute(ctx)
        await step.validate(ctx)


async def test_hset_writes_exactly_the_spec_bytes_for_both_fields(
    redis_server: RedisServer,
) -> None:
    settings = settings_for(redis_server.url)
    await push(settings, wire.BG_GATEWAY_FIELD, "blueGreenGatewayService")
    await push(settings, wire.OB_FIELD, "obService")
    raw = aioredis.from_url(redis_server.url)
    try:
        stored = await raw.hgetall(KEY)
    finally:
        await raw.aclose()
    ms = int(EPOCH * 1000)
    assert stored == {
        b"icc-bg-gateway": BG_VALUE.encode(),
        b"ob-campaign": (
            '{"tenantId":"t-1","sourceUnitName":"blue","targetUnitName":"green",'
            f'"timestamp":{ms}}}'
        ).encode(),
        b"metadata": b'{"version":20}',
    }


async def test_pushing_twice_leaves_the_same_hash(redis_server: RedisServer) -> None:
    settings = settings_for(redis_server.url)
    await push(settings, wire.BG_GATEWAY_FIELD, "blueGreenGatewayService")
    await push(settings, wire.BG_GATEWAY_FIELD, "blueGreenGatewayService")
    async with RedisClient(settings) as redis:
        assert await redis.hgetall(KEY) == {
            "icc-bg-gateway": BG_VALUE,
            "metadata": '{"version":20}',
        }


async def test_publish_message_reaches_a_real_subscriber(redis_server: RedisServer) -> None:
    settings = settings_for(redis_server.url)
    subscriber = aioredis.from_url(redis_server.url, decode_responses=True)
    pubsub = subscriber.pubsub()
    try:
        await pubsub.subscribe(TOPIC)
        await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        await push(settings, wire.BG_GATEWAY_FIELD, "blueGreenGatewayService")
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                break
        assert message is not None
        assert message["channel"] == TOPIC
        assert message["data"] == (
            '{"tenantId":"t-1","appName":"icc-bg-gateway","version":20,'
            f'"timestamp":{int(EPOCH * 1000)}}}'
        )
    finally:
        await pubsub.aclose()
        await subscriber.aclose()


async def test_publish_reports_how_many_subscribers_got_it(redis_server: RedisServer) -> None:
    async with RedisClient(settings_for(redis_server.url)) as redis:
        assert await redis.publish(TOPIC, "{}") == 0


async def test_stopped_redis_is_retried_then_fails_with_service_unavailable(
    redis_server: RedisServer,
) -> None:
    settings = settings_for(redis_server.url)
    redis_server.stop()
    clock = FakeClock()
    started = time.monotonic()
    with pytest.raises(TransientError) as info:
        await push(settings, wire.BG_GATEWAY_FIELD, "blueGreenGatewayService", clock=clock)
    assert time.monotonic() - started < 10
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE
    assert str(info.value).startswith("redis unavailable: ")
    assert info.value.details["attempts"] == 4
    assert len(clock.sleeps) == 3
    assert is_backoff(clock.sleeps)


async def test_redis_errors_never_show_the_url_password() -> None:
    password = "pw-do-not-leak"
    settings = settings_for(f"redis://:{password}@127.0.0.1:{free_port()}/0")
    async with RedisClient(settings) as redis:
        with pytest.raises(TransientError) as info:
            await redis.hset_fields(KEY, {"metadata": "{}"})
    assert password not in f"{info.value} {info.value.details}"
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE


async def test_redis_recovering_within_the_retries_lets_the_step_succeed(
    redis_server: RedisServer,
) -> None:
    settings = settings_for(redis_server.url)
    redis_server.stop()

    class RestartingClock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            if len(self.sleeps) == 1:
                await asyncio.to_thread(redis_server.start)

    clock = RestartingClock()
    await push(settings, wire.BG_GATEWAY_FIELD, "blueGreenGatewayService", clock=clock)
    assert len(clock.sleeps) == 1
    assert is_backoff(clock.sleeps)


# --- fenced writes ---------------------------------------------------------------------------


class Subscriber:
    """A real subscriber on the topic, collecting what arrives."""

    def __init__(self, url: str) -> None:
        self._client = aioredis.from_url(url, decode_responses=True)
        self._pubsub = self._client.pubsub()

    async def start(self) -> None:
        await self._pubsub.subscribe(TOPIC)
        await self._pubsub.get_message(timeout=1.0)  # the subscribe confirmation

    async def received(self, wait: float) -> list[str]:
        """Every message that arrives within ``wait`` seconds."""
        messages: list[str] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if message is not None:
                messages.append(message["data"])
        return messages

    async def close(self) -> None:
        await self._pubsub.aclose()
        await self._client.aclose()


@pytest.fixture
async def subscriber(redis_server: RedisServer) -> AsyncIterator[Subscriber]:
    sub = Subscriber(redis_server.url)
    await sub.start()
    try:
        yield sub
    finally:
        await sub.close()


async def claim(settings: Settings, holder: str, ttl: float = 30.0) -> Fence:
    async with RedisClient(settings) as redis:
        fence = await RedisTenantLocks(redis, settings).claim("t-1", holder, ttl)
    assert isinstance(fence, Fence), fence
    return fence


async def fenced_push(settings: Settings, fence: Fence, version: int = 20) -> None:
    """prepare + execute of the blue-green push under ``fence`` (verify is not the point here)."""
    ctx = dataclasses.replace(
        make_ctx(
            settings=settings,
            source=make_config(deploy_unit_name="blue", plan_version=19),
            version=version,
        ),
        fence=fence,
    )
    async with http_client() as http, RedisClient(settings) as redis:
        step = ConfigPushStep(
            field=wire.BG_GATEWAY_FIELD,
            service_key="blueGreenGatewayService",
            http=http,
            redis=redis,
        )
        await step.prepare(ctx)
        await step.execute(ctx)


async def test_fenced_write_with_the_current_token_writes_the_spec_bytes_and_publishes(
    redis_server: RedisServer, subscriber: Subscriber
) -> None:
    settings = settings_for(redis_server.url)
    fence = await claim(settings, "engine-a")
    await fenced_push(settings, fence)
    raw = aioredis.from_url(redis_server.url)
    try:
        stored = await raw.hgetall(KEY)
    finally:
        await raw.aclose()
    assert stored == {b"icc-bg-gateway": BG_VALUE.encode(), b"metadata": b'{"version":20}'}
    assert await subscriber.received(0.5) == [
        '{"tenantId":"t-1","appName":"icc-bg-gateway","version":20,'
        f'"timestamp":{int(EPOCH * 1000)}}}'
    ]


async def test_fenced_write_after_losing_the_claim_writes_nothing_and_is_a_conflict(
    redis_server: RedisServer, subscriber: Subscriber, raw: aioredis.Redis
) -> None:
    settings = settings_for(redis_server.url)
    stale = await claim(settings, "engine-a", ttl=0.2)
    await asyncio.sleep(0.3)
    current = await claim(settings, "engine-b")
    with pytest.raises(StepFailedError) as info:
        await fenced_push(settings, stale)
    error = info.value
    assert error.error_type is ErrorType.CONFLICT
    assert error.retryable is False
    assert not isinstance(error, TransientError)
    assert str(error) == (
        f"tenant t-1 is claimed by engine-b now; this task's claim (token {stale.token}) "
        "is no longer current — nothing was written"
    )
    assert error.details == {
        "tenant_id": "t-1",
        "holder": "engine-a",
        "token": stale.token,
        "current_holder": "engine-b",
    }
    assert await raw.exists(KEY) == 0
    assert await subscriber.received(0.3) == []
    assert await raw.get(LOCK) == f"{current.token}|engine-b"


async def test_fenced_write_with_a_token_replaced_by_the_same_holder_is_refused(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    settings = settings_for(redis_server.url)
    old = await claim(settings, "engine-a")
    await claim(settings, "engine-a")
    with pytest.raises(StepFailedError) as info:
        await fenced_push(settings, old)
    assert info.value.error_type is ErrorType.CONFLICT
    assert "claimed by engine-a now" in str(info.value)
    assert await raw.exists(KEY) == 0


async def test_fenced_write_after_the_claim_expired_unclaimed_is_refused(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    settings = settings_for(redis_server.url)
    fence = await claim(settings, "engine-a", ttl=0.2)
    await asyncio.sleep(0.3)
    with pytest.raises(StepFailedError) as info:
        await fenced_push(settings, fence)
    assert info.value.error_type is ErrorType.CONFLICT
    assert str(info.value).startswith("tenant t-1 is claimed by no one (the claim expired) now;")
    assert info.value.details["current_holder"] is None
    assert await raw.exists(KEY) == 0


async def test_engine_resumed_past_its_ttl_cannot_overwrite_the_config_of_the_new_holder(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    """A writes v20, freezes past its TTL; B claims and writes v21; A's late v20 is refused."""
    settings = settings_for(redis_server.url)
    frozen = await claim(settings, "engine-a", ttl=0.2)
    await fenced_push(settings, frozen, version=20)
    await asyncio.sleep(0.3)
    taker = await claim(settings, "engine-b")
    await fenced_push(settings, taker, version=21)
    with pytest.raises(StepFailedError) as info:
        await fenced_push(settings, frozen, version=20)
    assert info.value.error_type is ErrorType.CONFLICT
    assert await raw.hget(KEY, "metadata") == '{"version":21}'


async def test_two_operators_switching_the_same_tenants_never_interleave(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    """Each tenant is written only by the operator whose claim won, and holds that version."""
    settings = settings_for(redis_server.url)
    tenants = [f"t-{n}" for n in range(60)]

    async def operator(holder: str, version: int) -> dict[str, int]:
        written: dict[str, int] = {}
        async with http_client() as http, RedisClient(settings) as redis:
            locks = RedisTenantLocks(redis, settings)
            for tenant in tenants:
                fence = await locks.claim(tenant, holder, 30.0)
                if not isinstance(fence, Fence):
                    continue
                config = make_config(tenant_id=tenant, plan_version=version)
                ctx = dataclasses.replace(make_ctx(settings=settings, config=config), fence=fence)
                step = ConfigPushStep(
                    field=wire.BG_GATEWAY_FIELD,
                    service_key="blueGreenGatewayService",
                    http=http,
                    redis=redis,
                )
                await step.prepare(ctx)
                await step.execute(ctx)
                written[tenant] = version
        return written

    first, second = await asyncio.gather(operator("op-v20", 20), operator("op-v21", 21))
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == set(tenants)
    for tenant, version in (first | second).items():
        stored = await raw.hget(f"icc_ai_ops_srv:tenant_config:{tenant}", "metadata")
        assert stored == wire.metadata_value(version)
