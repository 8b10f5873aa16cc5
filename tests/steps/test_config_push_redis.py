"""ConfigPushStep and RedisClient against a real redis-server: bytes written, message published."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from switchover import wire
from switchover.errors import ErrorType, TransientError
from switchover.fleet.redis_server import RedisServer, free_port
from switchover.settings import RedisSettings, Settings
from switchover.steps.config_push import ConfigPushStep
from switchover.steps.http_client import HttpClient
from switchover.steps.redis_client import RedisClient
from tests.steps.fakes import EPOCH, FakeClock, make_config, make_ctx

pytestmark = pytest.mark.integration

KEY = "icc_ai_ops_srv:tenant_config:t-1"
TOPIC = "icc_ai_ops_srv:tenant_config:topic"
BG_VALUE = (
    '{"tenantId":"t-1","sourceUnit":"blue","targetUnit":"green",'
    '"routes":[{"id":"r1","sourceUri":"127.0.0.11","targetUri":"green.example.test"}]}'
)


def settings_for(url: str) -> Settings:
    return Settings(redis=RedisSettings(url=SecretStr(url), socket_timeout=2.0))


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
    assert clock.sleeps == [0.5, 1.0, 2.0]


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
    assert clock.sleeps == [0.5]
