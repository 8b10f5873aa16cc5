"""Integration fixtures: a real redis-server, the loopback fleet, and engines on a SQLite store.

Everything binds to 127.0.0.1 on free ports. Expected wire bytes are written out here by hand
(not with ``switchover.wire``) so that the tests check the format, not the code that makes it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from switchover.domain.events import Event
from switchover.domain.planfile import parse_plan_text
from switchover.domain.records import Plan, PlanSpec, Task
from switchover.engine.engine import Engine
from switchover.fleet.fleet import Fleet
from switchover.fleet.redis_server import RedisServer
from switchover.settings import Settings
from switchover.stores.protocol import Store
from switchover.wiring import runtime
from tests.integration import agent_gate

ASBC_TOKEN = "integration-asbc-token-5d1c"
"""The bearer token the fleet's ASBC demands and the engine is configured with."""

KEY_PREFIX = "icc_ai_ops_srv:tenant_config:"
TOPIC = "icc_ai_ops_srv:tenant_config:topic"
BG_FIELD = "icc-bg-gateway"
OB_FIELD = "ob-campaign"
NAMESPACE = "it-ns"
NEW_VERSION = 20
OLD_VERSION = 19
FLEET_AGENT_CHECK = "switchover.fleet.agent:judge_agent"

WAIT = 30.0
"""Upper bound of any single wait in these tests: a hang fails instead of blocking the suite."""


# ----------------------------------------------------------------------------- plans


def tenant_doc(
    tenant_id: str,
    *,
    asbc: bool = True,
    routes: bool = True,
    unit: bool = True,
    previous: bool = True,
) -> dict[str, Any]:
    """An upstream ``TenantDeployConfig`` moving ``tenant_id`` from unit blue (v19) to green."""
    doc: dict[str, Any] = {"tenantId": tenant_id, "nacosNameSpace": NAMESPACE}
    prev: dict[str, Any] = {"planVersion": OLD_VERSION, "nacosNameSpace": NAMESPACE}
    if unit:
        doc |= {"deployUnitId": 2, "deployUnitVersion": NEW_VERSION, "deployUnitName": "green"}
        prev |= {"deployUnitId": 1, "deployUnitVersion": OLD_VERSION, "deployUnitName": "blue"}
    if routes:
        doc["networkEndpoints"] = [
            {
                "key": f"{tenant_id}-web",
                "sourceDomain": f"{tenant_id}.example.com",
                "targetDomain": f"{tenant_id}.green.internal",
            }
        ]
        prev["networkEndpoints"] = [
            {
                "key": f"{tenant_id}-web",
                "sourceDomain": f"{tenant_id}.example.com",
                "targetIp": "192.0.2.10",
            }
        ]
    if asbc:
        doc |= {"calledNumberRules": " 4001*, 4002* ,", "trunkGroup": "tg-green"}
        prev |= {"calledNumberRules": "4001*,4002*", "trunkGroup": "tg-blue"}
    if previous:
        doc["sourceTenantDeployConfig"] = prev
    return doc


def plan_doc(
    plan_id: str, tenants: list[dict[str, Any]], *, max_concurrency: int = 4
) -> dict[str, Any]:
    """A plan document (``{plan, tenants}``) at version 20."""
    return {
        "plan": {"id": plan_id, "version": NEW_VERSION, "max_concurrency": max_concurrency},
        "tenants": tenants,
    }


def plan_spec(plan_id: str, tenants: list[dict[str, Any]], *, max_concurrency: int = 4) -> PlanSpec:
    """The validated plan, parsed from its JSON text as a plan file would be."""
    text = json.dumps(plan_doc(plan_id, tenants, max_concurrency=max_concurrency))
    return parse_plan_text(text)


def bg_gateway_bytes(
    tenant_id: str, source_unit: str, target_unit: str, routes: list[tuple[str, str, str]]
) -> str:
    """The exact ``icc-bg-gateway`` field (SPEC §4), routes as ``(id, sourceUri, targetUri)``."""
    items = ",".join(f'{{"id":"{i}","sourceUri":"{s}","targetUri":"{t}"}}' for i, s, t in routes)
    return (
        f'{{"tenantId":"{tenant_id}","sourceUnit":"{source_unit}",'
        f'"targetUnit":"{target_unit}","routes":[{items}]}}'
    )


def ob_campaign_pattern(tenant_id: str, source_unit: str, target_unit: str) -> str:
    """A regex for the exact ``ob-campaign`` field; group 1 is the epoch-ms timestamp."""
    return (
        rf'^\{{"tenantId":"{tenant_id}","sourceUnitName":"{source_unit}",'
        rf'"targetUnitName":"{target_unit}","timestamp":(\d+)\}}$'
    )


def message_pattern(tenant_id: str, app_name: str, version: int) -> str:
    """A regex for the exact pub/sub notification; group 1 is the epoch-ms timestamp."""
    return (
        rf'^\{{"tenantId":"{tenant_id}","appName":"{app_name}",'
        rf'"version":{version},"timestamp":(\d+)\}}$'
    )


# ----------------------------------------------------------------------------- settings


def _merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def settings_values(store: Path, redis_url: str, fleet: Fleet, **overrides: Any) -> dict[str, Any]:
    """Settings values pointing at a fleet and a Redis, with short intervals, plus overrides."""
    values: dict[str, Any] = {
        "store": str(store),
        "redis": {"url": redis_url, "socket_timeout": 2.0},
        "verify": {
            "interval": 0.05,
            "max_attempts": 10,
            "deadline": 20.0,
            "rollback_interval": 0.05,
            "rollback_max_attempts": 5,
        },
        "http": {"connect_timeout": 2.0, "read_timeout": 5.0},
        "retry": {"attempts": 3, "base_delay": 0.01, "max_delay": 0.05},
        "agent": {"check": FLEET_AGENT_CHECK, "interval": 0.05, "max_attempts": 5},
        "asbc": {"token": ASBC_TOKEN},
        "engine": {"control_poll_interval": 0.05, "heartbeat_interval": 60.0},
    }
    values = _merged(values, fleet.settings_overrides())
    return _merged(values, overrides)


# ----------------------------------------------------------------------------- engine


@dataclass
class Harness:
    """A started engine on its runtime, and ways to drive it and read what happened."""

    engine: Engine
    store: Store
    settings: Settings

    async def settle(self) -> None:
        """Wait until the engine has nothing running or queued (bounded by ``WAIT``)."""
        async with asyncio.timeout(WAIT):
            await self.engine.wait_idle()

    async def run_plan(self, spec: PlanSpec) -> Plan:
        """Submit a plan and wait until it has settled; the plan as stored."""
        await self.engine.submit_plan(spec)
        await self.settle()
        return await self.plan(spec.plan_id)

    async def plan(self, plan_id: str) -> Plan:
        """The plan as stored."""
        plan = await self.store.get_plan(plan_id)
        assert plan is not None
        return plan

    async def task(self, tenant_id: str) -> Task:
        """The tenant's most recent task as stored."""
        task = await self.store.find_task(tenant_id)
        assert task is not None
        return task

    async def events(self, plan_id: str) -> list[Event]:
        """Every event of the plan, in sequence order."""
        return await self.store.read_events(plan_id, 0, 1_000_000)


@asynccontextmanager
async def running_engine(settings: Settings) -> AsyncIterator[Harness]:
    """A runtime (store, clients, discovery) and a started engine; all closed on exit."""
    async with runtime(settings) as rt:
        engine = rt.make_engine()
        async with engine:
            yield Harness(engine, rt.store, settings)


StartEngine = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_engine(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> AsyncIterator[StartEngine]:
    """Starts an engine pointed at the test's fleet and Redis; keyword args override settings."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Harness:
            values = settings_values(
                tmp_path / "switchover.db", redis_server.url, fleet, **overrides
            )
            return await stack.enter_async_context(running_engine(Settings.of(**values)))

        yield start


# ----------------------------------------------------------------------------- fleet and redis


def make_fleet(redis_url: str) -> Fleet:
    """Three gateways, two OB instances, a portal and an ASBC demanding ``ASBC_TOKEN``."""
    return Fleet(redis_url, Settings(), gateways=3, ob_instances=2, asbc_token=ASBC_TOKEN)


@pytest.fixture
async def fleet(redis_server: RedisServer) -> AsyncIterator[Fleet]:
    """The loopback fleet, fed by the test's redis-server."""
    async with make_fleet(redis_server.url) as running:
        yield running


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain client of the test's redis-server (strings in, strings out)."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


class Subscriber:
    """A real subscriber of the notification topic, recording every message it receives."""

    def __init__(self, redis_url: str, topic: str = TOPIC) -> None:
        self._client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self._pubsub = self._client.pubsub()
        self._topic = topic
        self._reader: asyncio.Task[None] | None = None
        self.messages: list[str] = []
        self._arrived = asyncio.Event()

    async def start(self) -> None:
        """Subscribe and wait for the confirmation: every later publish is recorded."""
        await self._pubsub.subscribe(self._topic)
        async with asyncio.timeout(5):
            while True:
                message = await self._pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "subscribe":
                    break
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None and message["type"] == "message":
                self.messages.append(message["data"])
                self._arrived.set()

    def of(self, tenant_id: str, app_name: str | None = None) -> list[str]:
        """The raw messages about a tenant (and app), in arrival order."""
        found = []
        for raw in self.messages:
            data = json.loads(raw)
            if data.get("tenantId") == tenant_id and app_name in (None, data.get("appName")):
                found.append(raw)
        return found

    async def wait_for(self, tenant_id: str, app_name: str, count: int) -> list[str]:
        """Wait until ``count`` messages about the tenant and app arrived; return them."""
        async with asyncio.timeout(5):
            while len(self.of(tenant_id, app_name)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.of(tenant_id, app_name)

    async def close(self) -> None:
        """Stop reading, unsubscribe and close the connection."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._pubsub.aclose()
        await self._client.aclose()


@pytest.fixture
async def subscriber(redis_server: RedisServer) -> AsyncIterator[Subscriber]:
    """A subscriber of the topic, started before the test does anything."""
    sub = Subscriber(redis_server.url)
    try:
        await sub.start()
        yield sub
    finally:
        await sub.close()


async def reported_versions(
    fleet: Fleet, tenant_id: str, *, gateways_only: bool = False
) -> dict[str, Any]:
    """``address -> $.version`` from a real GET of every gateway's and OB instance's verify URL."""
    found: dict[str, Any] = {}
    instances = fleet.gateways if gateways_only else [*fleet.gateways, *fleet.ob_instances]
    async with httpx.AsyncClient(timeout=5.0) as client:
        for instance in instances:
            response = await client.get(f"http://{instance.address}/actuator/bg-sdk/{tenant_id}")
            found[instance.address] = response.json().get("version")
    return found


async def seed_previous(client: aioredis.Redis, fleet: Fleet, tenant_id: str) -> None:
    """Store and announce the tenant's v19 config, and wait until every instance shows 19."""
    await client.hset(
        KEY_PREFIX + tenant_id,
        mapping={
            BG_FIELD: bg_gateway_bytes(tenant_id, "blue", "blue", []),
            OB_FIELD: f'{{"tenantId":"{tenant_id}","sourceUnitName":"blue",'
            '"targetUnitName":"blue","timestamp":1}',
            "metadata": f'{{"version":{OLD_VERSION}}}',
        },
    )
    for app in (BG_FIELD, OB_FIELD):
        message = {"tenantId": tenant_id, "appName": app, "version": OLD_VERSION, "timestamp": 1}
        await client.publish(TOPIC, json.dumps(message, separators=(",", ":")))

    async def shown() -> bool:
        return set((await reported_versions(fleet, tenant_id)).values()) == {OLD_VERSION}

    await eventually(shown)


async def redis_dump(client: aioredis.Redis) -> dict[str, dict[str, str]]:
    """Every tenant config hash in the database, field by field (not the tenant claims)."""
    keys = sorted(await client.keys(f"{KEY_PREFIX}*"))
    return {key: await client.hgetall(key) for key in keys}


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll ``check`` every 20 ms until it holds; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        # What is polled lives in the store or in other processes: there is no event to await.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def _release_agent_gates() -> Iterator[None]:
    """No agent gate outlives its test."""
    yield
    agent_gate.release_all()


def assert_gapless(events: list[Event]) -> None:
    """Sequence numbers are exactly 1..N."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
