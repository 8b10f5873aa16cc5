"""The local fleet behaves like the platform: Redis notifications, verify, portal, ASBC, faults."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import yaml

from switchover import wire
from switchover.cli.fleet_cmd import AGENT_CHECK, settings_snippet
from switchover.fleet.fleet import Fleet
from switchover.fleet.instances import (
    BG_GATEWAY_APP,
    OB_APP,
    REJECT_MESSAGE,
    AsbcInstance,
    ConfigInstance,
    Faults,
    InstanceServer,
)
from switchover.fleet.redis_server import RedisServer
from switchover.settings import SERVICE_KEYS, Settings

pytestmark = pytest.mark.integration

SETTINGS = Settings()
PREFIX = SETTINGS.redis.key_prefix
TOPIC = SETTINGS.redis.topic


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client of the test's redis-server, as the engine would write with."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def fleet(redis_server: RedisServer) -> AsyncIterator[Fleet]:
    """Three gateways, two OB instances, a portal and an ASBC."""
    async with Fleet(redis_server.url, SETTINGS) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for talking to the instances."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


async def switch(redis: aioredis.Redis, tenant: str, app: str, version: int) -> None:
    """Write a tenant's config and announce it, as SPEC §4 describes."""
    if app == BG_GATEWAY_APP:
        value = wire.dumps({"tenantId": tenant, "sourceUnit": "blue", "targetUnit": "green"})
    else:
        value = wire.dumps({"tenantId": tenant, "sourceUnitName": "blue", "targetUnitName": "g"})
    key = wire.tenant_config_key(PREFIX, tenant)
    await redis.hset(key, mapping={app: value, wire.METADATA_FIELD: wire.metadata_value(version)})
    await redis.publish(TOPIC, wire.notification(tenant, app, version, int(time.time() * 1000)))


async def verify(http: httpx.AsyncClient, address: str, tenant: str) -> Any:
    """The version an instance's verify endpoint reports (None on 404)."""
    response = await http.get(f"http://{address}/actuator/bg-sdk/{tenant}")
    assert response.status_code in (200, 404), response.text
    return response.json()["version"]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Wait until ``check`` holds, polling every 20 ms."""
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def versions(http: httpx.AsyncClient, addresses: list[str], tenant: str) -> list[Any]:
    """What each address reports for a tenant."""
    return [await verify(http, a, tenant) for a in addresses]


async def test_publish_updates_every_gateway_and_only_instances_of_that_app(
    fleet: Fleet, redis: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    gateways = fleet.instances["blueGreenGatewayService"]
    obs = fleet.instances["obService"]
    await switch(redis, "t1", BG_GATEWAY_APP, 1)
    await switch(redis, "t1", OB_APP, 1)

    async def all_at(version: int, addresses: list[str]) -> bool:
        return await versions(http, addresses, "t1") == [version] * len(addresses)

    await eventually(lambda: all_at(1, gateways + obs))
    await switch(redis, "t1", BG_GATEWAY_APP, 2)
    await eventually(lambda: all_at(2, gateways))
    await asyncio.sleep(0.1)
    assert await versions(http, obs, "t1") == [1, 1]
    body = (await http.get(f"http://{gateways[0]}/actuator/bg-sdk/t1")).json()
    assert body == {
        "tenantId": "t1",
        "version": 2,
        "appName": BG_GATEWAY_APP,
        "config": {"tenantId": "t1", "sourceUnit": "blue", "targetUnit": "green"},
    }


async def test_unknown_tenant_answers_404_with_null_version(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    response = await http.get(f"http://{fleet.gateways[0].address}/actuator/bg-sdk/nobody")
    assert response.status_code == 404
    assert response.json() == {"tenantId": "nobody", "version": None}


async def test_lag_delays_the_update_of_that_instance_only(
    fleet: Fleet, redis: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    await switch(redis, "t1", BG_GATEWAY_APP, 1)
    await eventually(lambda: _all(fleet, http, "t1", 1))
    slow, *others = fleet.gateways
    await slow.set_faults(lag=0.6)
    started = time.monotonic()
    await switch(redis, "t1", BG_GATEWAY_APP, 2)
    await eventually(lambda: _at(http, others, "t1", 2))
    assert await verify(http, slow.address, "t1") == 1
    await eventually(lambda: _at(http, [slow], "t1", 2))
    assert time.monotonic() - started >= 0.6


async def test_stale_instance_keeps_reporting_the_old_version(
    fleet: Fleet, redis: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    await switch(redis, "t1", BG_GATEWAY_APP, 20)
    await eventually(lambda: _all(fleet, http, "t1", 20))
    stale, *others = fleet.gateways
    await stale.set_faults(stale=True)
    await switch(redis, "t1", BG_GATEWAY_APP, 19)
    await eventually(lambda: _at(http, others, "t1", 19))
    await asyncio.sleep(0.2)
    assert await verify(http, stale.address, "t1") == 20
    await stale.set_faults(stale=False)
    await switch(redis, "t1", BG_GATEWAY_APP, 19)
    await eventually(lambda: _at(http, [stale], "t1", 19))


async def test_stale_instance_that_never_loaded_a_tenant_reports_nothing(
    fleet: Fleet, redis: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    stale = fleet.gateways[0]
    await stale.set_faults(stale=True)
    await switch(redis, "t2", BG_GATEWAY_APP, 5)
    await eventually(lambda: _at(http, fleet.gateways[1:], "t2", 5))
    assert await verify(http, stale.address, "t2") is None


async def test_stale_tenants_ignores_only_the_named_tenants_until_cleared(
    fleet: Fleet, redis: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    await fleet.set_faults(fleet.ob_instances, stale_tenants=["bad"])
    assert fleet.ob_instances[0].faults.stale_tenants == ("bad",)
    await switch(redis, "good", OB_APP, 20)
    await switch(redis, "bad", OB_APP, 20)
    await eventually(lambda: _at(http, fleet.ob_instances, "good", 20))
    assert await versions(http, fleet.instances["obService"], "bad") == [None, None]
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[])
    await switch(redis, "bad", OB_APP, 19)
    await eventually(lambda: _at(http, fleet.ob_instances, "bad", 19))


async def test_down_refuses_connections_and_comes_back_on_the_same_port(
    fleet: Fleet, redis: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    await switch(redis, "t1", BG_GATEWAY_APP, 3)
    gateway = fleet.gateways[0]
    address = gateway.address
    await eventually(lambda: _at(http, [gateway], "t1", 3))  # keeps a pooled connection
    await gateway.set_faults(down=True)
    with pytest.raises(httpx.TransportError):  # the pooled connection is dropped
        await http.get(f"http://{address}/actuator/bg-sdk/t1")
    async with httpx.AsyncClient() as fresh:
        with pytest.raises(httpx.ConnectError):
            await fresh.get(f"http://{address}/actuator/health")
    await gateway.set_faults(down=False)
    assert gateway.address == address
    assert await verify(http, address, "t1") == 3


async def test_instance_can_start_down(redis_server: RedisServer, http: httpx.AsyncClient) -> None:
    """An instance added with down=True reserves its port but refuses connections."""
    async with Fleet(redis_server.url, gateways=0, ob_instances=0) as running:
        server = InstanceServer(SETTINGS, running.bus)
        await server.start()
        try:
            asbc = await server.add(AsbcInstance(faults=Faults(down=True)))
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://{asbc.address}/actuator/health")
            await asbc.set_faults(down=False)
            assert (await http.get(f"http://{asbc.address}/actuator/health")).status_code == 200
        finally:
            await server.close()


async def test_slow_adds_latency_to_every_response(fleet: Fleet, http: httpx.AsyncClient) -> None:
    await fleet.portal.set_faults(slow=0.3)
    started = time.monotonic()
    response = await http.get(f"http://{fleet.portal.address}/actuator/health")
    assert response.json() == {"status": "UP"}
    assert time.monotonic() - started >= 0.3


async def test_health_is_up_and_down_when_unhealthy(fleet: Fleet, http: httpx.AsyncClient) -> None:
    url = f"http://{fleet.gateways[0].address}/actuator/health"
    assert (await http.get(url)).json() == {"status": "UP"}
    await fleet.gateways[0].set_faults(unhealthy=True)
    response = await http.get(url)
    assert response.status_code == 503
    assert "UP" not in response.text


async def test_verify_answers_500_under_reject_code(
    fleet: Fleet, redis: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    await switch(redis, "t1", BG_GATEWAY_APP, 1)
    await fleet.gateways[0].set_faults(reject_code="E1")
    response = await http.get(f"http://{fleet.gateways[0].address}/actuator/bg-sdk/t1")
    assert response.status_code == 500
    assert response.json() == {"code": "E1", "message": REJECT_MESSAGE}


async def test_portal_accepts_a_notification_and_records_it(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    url = f"http://{fleet.portal.address}{SETTINGS.portal.path}"
    body = {"tenantId": "t1", "targetDeployUnit": "green", "timestamp": "1700000000000"}
    response = await http.post(url, json=body)
    assert response.status_code == 200
    assert response.json() == {"code": "0", "message": "ok"}
    assert fleet.portal.calls == [body]
    recorded = (await http.get(f"http://{fleet.portal.address}/_fleet/calls")).json()
    assert recorded["calls"] == [body]
    await http.delete(f"http://{fleet.portal.address}/_fleet/calls")
    assert fleet.portal.calls == []


@pytest.mark.parametrize(
    "body",
    [
        {"targetDeployUnit": "green", "timestamp": "1"},
        {"tenantId": "t1", "targetDeployUnit": "green", "timestamp": 1},
        {"tenantId": "t1", "timestamp": "1"},
        ["not", "an", "object"],
    ],
)
async def test_portal_rejects_a_malformed_body_with_400(
    fleet: Fleet, http: httpx.AsyncClient, body: Any
) -> None:
    url = f"http://{fleet.portal.address}{SETTINGS.portal.path}"
    response = await http.post(url, json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "400"
    assert fleet.portal.calls == []


async def test_portal_answers_the_fault_reject_code(fleet: Fleet, http: httpx.AsyncClient) -> None:
    await fleet.portal.set_faults(reject_code="E42")
    url = f"http://{fleet.portal.address}{SETTINGS.portal.path}"
    body = {"tenantId": "t1", "targetDeployUnit": "green", "timestamp": "1"}
    response = await http.post(url, json=body)
    assert response.status_code == 200
    assert response.json() == {"code": "E42", "message": REJECT_MESSAGE}


async def test_asbc_switches_every_number(fleet: Fleet, http: httpx.AsyncClient) -> None:
    url = f"http://{fleet.asbc.address}{SETTINGS.asbc.path}"
    body = {"calledNumberMatch": ["1001", "1002"], "targetTrunkGroupName": "tg-green"}
    response = await http.post(url, json=body)
    assert response.json() == {
        "code": 0,
        "message": "success",
        "data": {"successList": ["1001", "1002"], "failList": []},
    }
    assert fleet.asbc.calls == [body]


async def test_asbc_fails_every_number_under_reject_code(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    await fleet.asbc.set_faults(reject_code="E7")
    url = f"http://{fleet.asbc.address}{SETTINGS.asbc.path}"
    body = {"calledNumberMatch": ["1001", "1002"], "targetTrunkGroupName": "tg-green"}
    data = (await http.post(url, json=body)).json()
    assert data["code"] == 0
    assert data["data"]["successList"] == []
    assert data["data"]["failList"] == [
        {"calledNumberMatch": "1001", "message": REJECT_MESSAGE},
        {"calledNumberMatch": "1002", "message": REJECT_MESSAGE},
    ]


async def test_asbc_rejects_a_malformed_body_with_400(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    url = f"http://{fleet.asbc.address}{SETTINGS.asbc.path}"
    response = await http.post(url, json={"calledNumberMatch": "1001"})
    assert response.status_code == 400
    assert response.json()["code"] == 400


async def test_asbc_requires_the_configured_bearer_token(
    redis_server: RedisServer, http: httpx.AsyncClient
) -> None:
    settings = Settings.of(asbc={"token": "s3cret"})
    async with Fleet(redis_server.url, settings, gateways=1, ob_instances=0) as running:
        url = f"http://{running.asbc.address}{settings.asbc.path}"
        body = {"calledNumberMatch": ["1"], "targetTrunkGroupName": "tg"}
        assert (await http.post(url, json=body)).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.post(url, json=body, headers=wrong)).status_code == 401
        assert running.asbc.calls == []
        right = {"Authorization": "Bearer s3cret"}
        response = await http.post(url, json=body, headers=right)
        assert response.status_code == 200
        assert response.json()["data"]["successList"] == ["1"]


async def test_admin_endpoint_reads_and_changes_faults(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    gateway = fleet.gateways[1]
    url = f"http://{gateway.address}/_fleet/faults"
    assert (await http.get(url)).json()["faults"] == Faults().to_json()
    changed = await http.post(url, json={"lag": 1.5, "reject_code": "E9"})
    assert changed.status_code == 200
    assert gateway.faults == Faults(lag=1.5, reject_code="E9")
    assert (await http.get(url)).json()["faults"]["lag"] == 1.5
    assert (await http.post(url, json={"laggy": 1})).status_code == 400
    assert (await http.post(url, json={"down": "yes"})).status_code == 400
    assert (await http.post(url, json={"slow": -1})).status_code == 400
    assert gateway.faults == Faults(lag=1.5, reject_code="E9")


async def test_admin_endpoint_brings_a_down_instance_back_through_another_one(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    down = fleet.gateways[0]
    admin = f"http://{fleet.portal.address}/_fleet/faults?port={down.port}"
    assert (await http.post(admin, json={"down": True})).json()["faults"]["down"] is True
    async with httpx.AsyncClient() as fresh:
        with pytest.raises(httpx.ConnectError):
            await fresh.get(f"http://{down.address}/actuator/health")
    await http.post(admin, json={"down": False})
    assert (await http.get(f"http://{down.address}/actuator/health")).status_code == 200


async def test_instances_started_after_a_write_report_the_stored_version(
    redis_server: RedisServer, redis: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    await switch(redis, "early", BG_GATEWAY_APP, 11)
    async with Fleet(redis_server.url, SETTINGS) as running:
        gateways = running.instances["blueGreenGatewayService"]
        assert await versions(http, gateways, "early") == [11, 11, 11]


async def test_subscription_survives_a_redis_restart(
    redis_server: RedisServer, fleet: Fleet, http: httpx.AsyncClient
) -> None:
    redis_server.restart()
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:

        async def republished() -> bool:
            await switch(client, "t9", BG_GATEWAY_APP, 9)
            await asyncio.sleep(0.05)
            return fleet.gateways[0].loaded("t9") is not None

        await eventually(republished, within=15.0)
    finally:
        await client.aclose()


async def test_settings_overrides_point_settings_at_the_fleet(fleet: Fleet) -> None:
    assert set(fleet.instances) == set(SERVICE_KEYS)
    assert [len(fleet.instances[k]) for k in SERVICE_KEYS] == [3, 1, 1, 2]
    settings = Settings.of(**fleet.settings_overrides())
    assert settings.asbc.scheme == "http"
    assert settings.discovery.fallback_instances == fleet.instances
    assert all(a.startswith("127.0.0.1:") for v in fleet.instances.values() for a in v)
    assert fleet.instance(fleet.asbc.address) is fleet.asbc


async def test_settings_snippet_adds_the_redis_url_and_the_fleets_agent_check(
    fleet: Fleet,
) -> None:
    snippet = settings_snippet(fleet, fleet.redis_url)
    settings = Settings.of(**snippet)
    assert settings.redis.url.get_secret_value() == fleet.redis_url
    assert settings.discovery.fallback_instances["portalService"] == [fleet.portal.address]
    assert settings.agent.check == AGENT_CHECK
    module, function = AGENT_CHECK.split(":")
    assert getattr(importlib.import_module(module), function)("tenant-a", "plan-1") is True


def _fleet_output_until_ready(proc: subprocess.Popen[str]) -> str:
    """What ``switchover fleet`` printed up to its "Press Ctrl-C to stop." line."""
    assert proc.stdout is not None
    text = ""
    while "Press Ctrl-C to stop." not in text:
        line = proc.stdout.readline()
        assert line, f"the command exited before it was ready:\n{text}"
        text += line
    return text


def _stop(proc: subprocess.Popen[str]) -> int:
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize("written", [False, True], ids=["printed", "written"])
def test_fleet_settings_are_usable_as_shown_with_no_padding_or_wrapping(
    tmp_path: Path, written: bool
) -> None:
    """On a narrow terminal, the printed settings are valid YAML line for line; with
    ``--write FILE`` they go to the file only, and nothing printed ends in a space."""
    target = tmp_path / "fleet.yaml"
    code = (
        "import sys; from pathlib import Path; from switchover.cli.fleet_cmd import fleet; "
        "fleet(None, 2, 1, None, True, False, Path(sys.argv[1]) if sys.argv[1:] else None)"
    )
    args = [sys.executable, "-c", code, *([str(target)] if written else [])]
    env = {**os.environ, "COLUMNS": "50", "NO_COLOR": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    try:
        text = _fleet_output_until_ready(proc)
    finally:
        assert _stop(proc) == 0
    assert [line for line in text.splitlines() if line != line.rstrip()] == []
    assert "/_fleet/faults -d '{\"lag\": 2}'" in text, "the fault hint was wrapped"
    if written:
        assert "fallback_instances" not in text
        assert f"settings written to {target}" in text
        values = yaml.safe_load(target.read_text(encoding="utf-8"))
    else:
        shown = text.split("(--write FILE saves them):\n", 1)[1].split("\nFaults:", 1)[0]
        values = yaml.safe_load(shown)
    settings = Settings.of(**values)
    assert settings.redis.url.get_secret_value().startswith("redis://127.0.0.1:")
    assert len(settings.discovery.fallback_instances["blueGreenGatewayService"]) == 2
    assert settings.agent.check == AGENT_CHECK


def test_fleet_command_serves_until_sigint_and_leaves_nothing_behind() -> None:
    """`switchover fleet --json` prints its addresses, serves, and stops Redis on Ctrl-C."""
    code = "from switchover.cli.fleet_cmd import fleet; fleet(None, 2, 1, None, True, True)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        text = ""
        while True:
            line = proc.stdout.readline()
            assert line, "the command exited before printing its addresses"
            text += line
            if line.startswith("}"):
                break
        document = json.loads(text)
        gateway = document["instances"]["blueGreenGatewayService"][0]
        assert httpx.get(f"http://{gateway}/actuator/health").json() == {"status": "UP"}
        assert "fallback_instances" in document["settings_yaml"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    redis_port = int(document["redis_url"].rsplit(":", 1)[1].split("/")[0])
    for port in (redis_port, int(gateway.rsplit(":", 1)[1])):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0


async def test_report_shows_redis_and_every_instance(
    fleet: Fleet, redis: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    await switch(redis, "t1", BG_GATEWAY_APP, 7)
    await eventually(lambda: _all(fleet, http, "t1", 7))
    await fleet.gateways[2].set_faults(down=True)
    body = {"tenantId": "t1", "targetDeployUnit": "green", "timestamp": "1"}
    await http.post(f"http://{fleet.portal.address}{SETTINGS.portal.path}", json=body)

    report = await fleet.report("t1")

    assert report.redis[wire.METADATA_FIELD] == {"version": 7}
    assert report.redis[BG_GATEWAY_APP]["targetUnit"] == "green"
    gateways = report.versions("blueGreenGatewayService")
    assert list(gateways.values()) == [7, 7, None]
    assert [r.reachable for r in report.instances][:3] == [True, True, False]
    assert report.portal_calls == (body,)
    as_json = report.to_json()
    assert as_json["tenantId"] == "t1"
    assert len(as_json["instances"]) == 5
    assert as_json["instances"][0]["appName"] == BG_GATEWAY_APP


async def test_two_hundred_gateways_start_and_stop_quickly_and_cleanly(
    redis_server: RedisServer, redis: aioredis.Redis, http: httpx.AsyncClient
) -> None:
    before = asyncio.all_tasks()
    started = time.monotonic()
    async with Fleet(redis_server.url, SETTINGS, gateways=200) as running:
        startup = time.monotonic() - started
        assert len(set(running.instances["blueGreenGatewayService"])) == 200
        await switch(redis, "t1", BG_GATEWAY_APP, 4)
        await eventually(lambda: _all(running, http, "t1", 4))
        stopping = time.monotonic()
    shutdown = time.monotonic() - stopping
    assert startup < 5.0
    assert shutdown < 5.0
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before


async def test_faults_validate_their_values() -> None:
    with pytest.raises(ValueError, match="lag"):
        Faults(lag=-1)
    assert Faults().updated({"reject_code": 500}).reject_code == "500"
    with pytest.raises(ValueError, match="unknown fault"):
        Faults().updated({"nope": 1})
    with pytest.raises(ValueError, match="stale_tenants"):
        Faults().updated({"stale_tenants": "t1"})
    assert Faults(stale_tenants=["a"]).to_json()["stale_tenants"] == ["a"]


async def test_config_instance_alone_reports_nothing() -> None:
    """A config instance never added to a server has loaded nothing."""
    instance = ConfigInstance(OB_APP)
    assert instance.service_key == "obService"
    assert await instance.current("t1") is None


async def _at(http: httpx.AsyncClient, instances: list[Any], tenant: str, version: int) -> bool:
    addresses = [i.address for i in instances]
    return await versions(http, addresses, tenant) == [version] * len(addresses)


async def _all(fleet: Fleet, http: httpx.AsyncClient, tenant: str, version: int) -> bool:
    # In-process view first: cheap with many gateways; then confirm one over HTTP.
    loaded = [g.loaded(tenant) for g in fleet.gateways]
    if not all(x is not None and x.version == version for x in loaded):
        return False
    return await _at(http, fleet.gateways[:1], tenant, version)


async def test_after_a_redis_restart_report_works_and_the_fleet_closes_promptly(
    redis_server: RedisServer, http: httpx.AsyncClient
) -> None:
    fleet = await Fleet(redis_server.url, SETTINGS).start()
    try:
        client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            await switch(client, "t-r", BG_GATEWAY_APP, 3)
            assert (await fleet.report("t-r")).redis["metadata"] == {"version": 3}
            await asyncio.to_thread(redis_server.restart)
            await client.aclose()
            client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
            await switch(client, "t-r", BG_GATEWAY_APP, 4)
            assert (await fleet.report("t-r")).redis["metadata"] == {"version": 4}
        finally:
            await client.aclose()
    finally:
        async with asyncio.timeout(5):
            await fleet.close()
