"""RedisClient against a real redis-server with ``requirepass``: refused credentials fail fast."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from switchover import wire
from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.fleet.redis_server import free_port
from switchover.secrets import Secret
from switchover.settings import RedisSettings, Settings
from switchover.steps.config_push import ConfigPushStep
from switchover.steps.http_client import HttpClient
from switchover.steps.redis_client import RedisClient
from tests.steps.fakes import FakeClock, make_ctx

pytestmark = pytest.mark.integration

PASSWORD = "right-pw-8c1f"
WRONG = "wrong-pw-do-not-leak"
KEY = "icc_ai_ops_srv:tenant_config:t-1"
LOCK = "switchover:tenant_lock:t-1"
REFUSED = "redis refused the credentials of redis.url (check the password)"


@dataclass(frozen=True)
class PasswordServer:
    """A redis-server that requires ``PASSWORD``."""

    port: int

    def url(self, password: str | None) -> str:
        auth = f":{password}@" if password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    async def refused_logins(self) -> int:
        """How many AUTH attempts the server turned down (its ACL log)."""
        client = aioredis.from_url(self.url(PASSWORD), decode_responses=True)
        try:
            entries: list[dict[str, Any]] = await client.acl_log()
        finally:
            await client.aclose()
        return sum(int(e["count"]) for e in entries if e["reason"] == "auth")


async def _answers(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        reply = await reader.read(64)
    except OSError:
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return reply.startswith((b"-NOAUTH", b"+PONG"))


@pytest.fixture
async def password_server(tmp_path: Path) -> AsyncIterator[PasswordServer]:
    """A throw-away redis-server on a free loopback port with ``requirepass PASSWORD``."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server not installed")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        executable,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--requirepass", PASSWORD,
        "--save", "",
        "--appendonly", "no",
        "--dir", str(tmp_path),
        "--loglevel", "warning",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(10):
            while not await _answers(port):
                assert proc.returncode is None, "redis-server exited at start"
                await asyncio.sleep(0.02)
        yield PasswordServer(port)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


def settings_for(url: str) -> Settings:
    return Settings(redis=RedisSettings(url=Secret(url), socket_timeout=2.0))


Operation = Callable[[RedisClient], Awaitable[object]]

OPERATIONS: dict[str, Operation] = {
    "hset_fields": lambda r: r.hset_fields(KEY, {"metadata": '{"version":1}'}),
    "publish": lambda r: r.publish("topic", "{}"),
    "hgetall": lambda r: r.hgetall(KEY),
    "get": lambda r: r.get(LOCK),
    "claim_lock": lambda r: r.claim_lock(LOCK, "switchover:fence", "engine-a", 1000),
    "renew_lock": lambda r: r.renew_lock(LOCK, "1|engine-a", 1000),
    "release_lock": lambda r: r.release_lock(LOCK, "1|engine-a"),
    "fenced_write": lambda r: r.fenced_write(
        LOCK, "1|engine-a", KEY, {"metadata": '{"version":1}'}, "topic", "{}"
    ),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_wrong_password_is_a_non_retryable_system_error_without_the_password(
    password_server: PasswordServer, operation: str
) -> None:
    async with RedisClient(settings_for(password_server.url(WRONG))) as redis:
        with pytest.raises(StepFailedError) as info:
            await OPERATIONS[operation](redis)
    error = info.value
    assert not isinstance(error, TransientError)
    assert error.retryable is False
    assert error.error_type is ErrorType.SYSTEM_ERROR
    assert str(error).startswith(REFUSED)
    assert error.details["cause"] == "authentication"
    shown = f"{error} {error.details} {error!r}"
    assert WRONG not in shown
    assert PASSWORD not in shown
    assert await password_server.refused_logins() == 1


async def test_missing_password_is_refused_the_same_way(password_server: PasswordServer) -> None:
    """No password in redis.url, server requires one (NOAUTH): not retryable either."""
    async with RedisClient(settings_for(password_server.url(None))) as redis:
        with pytest.raises(StepFailedError) as info:
            await redis.hset_fields(KEY, {"metadata": "{}"})
    assert not isinstance(info.value, TransientError)
    assert info.value.error_type is ErrorType.SYSTEM_ERROR
    assert str(info.value).startswith(REFUSED)


async def test_config_push_with_a_wrong_password_fails_once_without_retrying(
    password_server: PasswordServer,
) -> None:
    clock = FakeClock()
    settings = settings_for(password_server.url(WRONG))
    ctx = make_ctx(settings=settings, clock=clock)
    http = HttpClient(Settings(), transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    async with http, RedisClient(settings) as redis:
        step = ConfigPushStep(
            field=wire.BG_GATEWAY_FIELD,
            service_key="blueGreenGatewayService",
            http=http,
            redis=redis,
        )
        await step.prepare(ctx)
        with pytest.raises(StepFailedError) as info:
            await step.execute(ctx)
    assert not isinstance(info.value, TransientError)
    assert str(info.value).startswith(REFUSED)
    assert WRONG not in f"{info.value} {info.value.details}"
    assert clock.sleeps == []
    assert await password_server.refused_logins() == 1


async def test_right_password_writes_and_runs_the_scripts(password_server: PasswordServer) -> None:
    async with RedisClient(settings_for(password_server.url(PASSWORD))) as redis:
        await redis.hset_fields(KEY, {"metadata": '{"version":1}'})
        assert await redis.hgetall(KEY) == {"metadata": '{"version":1}'}
        token = await redis.claim_lock(LOCK, "switchover:fence", "engine-a", 5000)
        assert token == 1
        assert await redis.get(LOCK) == "1|engine-a"
    assert await password_server.refused_logins() == 0
