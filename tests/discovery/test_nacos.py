"""NacosDiscovery against the loopback Nacos server of the fleet."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from switchover.discovery import DiscoveryQuery, NacosDiscovery, StaticDiscovery
from switchover.errors import ErrorType, StepFailedError
from switchover.fleet.nacos import NacosInstance, NacosServer, start_nacos
from switchover.fleet.redis_server import free_port
from switchover.settings import DiscoverySettings, NacosSettings, Settings
from tests.steps.fakes import FakeClock

PASSWORD = "nacos-pw-do-not-leak"
BG = "blueGreenGatewayService"
BG_SERVICE = "icc-bg-gateway"


@pytest.fixture
async def nacos() -> AsyncIterator[NacosServer]:
    server = NacosServer(
        {
            "ns-1": {
                BG_SERVICE: [
                    NacosInstance("127.0.0.1", 9201),
                    NacosInstance("127.0.0.1", 9202, healthy=False),
                    NacosInstance("127.0.0.1", 9203, enabled=False),
                ],
                "ob-campaign": ["127.0.0.1:9301"],
            },
            "public": {BG_SERVICE: ["127.0.0.1:9401"]},
        }
    )
    await server.start()
    yield server
    await server.stop()


def settings_for(
    server_addr: str,
    *,
    username: str | None = None,
    password: str | None = None,
    fallback: dict[str, list[str]] | None = None,
) -> Settings:
    return Settings(
        nacos=NacosSettings(
            enabled=True,
            server_addr=server_addr,
            username=username,
            password=SecretStr(password) if password is not None else None,
        ),
        discovery=DiscoverySettings(fallback_instances=fallback or {}),
    )


def discovery_for(settings: Settings, clock: FakeClock | None = None) -> NacosDiscovery:
    return NacosDiscovery(settings, None, clock or FakeClock(), StaticDiscovery(settings))


async def test_lists_healthy_enabled_instances_of_the_tenant_namespace(
    nacos: NacosServer,
) -> None:
    async with discovery_for(settings_for(nacos.server_addr)) as discovery:
        assert await discovery.instances(DiscoveryQuery(BG, "ns-1")) == ["127.0.0.1:9201"]
        assert await discovery.instances(DiscoveryQuery(BG, None)) == ["127.0.0.1:9401"]
    query = nacos.requests[0].query
    assert query["serviceName"] == BG_SERVICE
    assert query["namespaceId"] == "ns-1"
    assert query["groupName"] == "DEFAULT_GROUP"
    assert query["healthyOnly"] == "true"
    assert "namespaceId" not in nacos.requests[1].query


async def test_logs_in_and_sends_the_access_token() -> None:
    server, _ = await start_nacos(
        {"ns-1": {"ob-campaign": ["127.0.0.1:9301"]}}, username="nacos", password=PASSWORD
    )
    try:
        settings = settings_for(server.server_addr, username="nacos", password=PASSWORD)
        async with discovery_for(settings) as discovery:
            found = await discovery.instances(DiscoveryQuery("obService", "ns-1"))
    finally:
        await server.stop()
    assert found == ["127.0.0.1:9301"]
    login, listing = server.requests
    assert login.path == "/nacos/v1/auth/login"
    assert listing.query["accessToken"] in server.tokens


async def test_cached_token_is_reused_until_its_ttl_then_renewed() -> None:
    server = NacosServer(
        {"ns-1": {"ob-campaign": ["127.0.0.1:9301"]}},
        username="nacos",
        password=PASSWORD,
        token_ttl=100,
    )
    await server.start()
    clock = FakeClock()
    settings = settings_for(server.server_addr, username="nacos", password=PASSWORD)
    settings = settings.model_copy(
        update={"nacos": settings.nacos.model_copy(update={"cache_ttl": 1.0})}
    )
    try:
        async with discovery_for(settings, clock) as discovery:
            query = DiscoveryQuery("obService", "ns-1")
            await discovery.instances(query)
            clock.advance(50)
            await discovery.instances(query)
            clock.advance(50)
            await discovery.instances(query)
    finally:
        await server.stop()
    logins = [r for r in server.requests if r.method == "POST"]
    assert len(logins) == 2


async def test_refused_token_triggers_one_fresh_login() -> None:
    server = NacosServer(
        {"ns-1": {"ob-campaign": ["127.0.0.1:9301"]}}, username="nacos", password=PASSWORD
    )
    await server.start()
    settings = settings_for(server.server_addr, username="nacos", password=PASSWORD)
    clock = FakeClock()
    try:
        async with discovery_for(settings, clock) as discovery:
            query = DiscoveryQuery("obService", "ns-1")
            await discovery.instances(query)
            server.tokens.clear()  # as after a Nacos restart
            clock.advance(31)
            assert await discovery.instances(query) == ["127.0.0.1:9301"]
    finally:
        await server.stop()
    assert [r.method for r in server.requests] == ["POST", "GET", "GET", "POST", "GET"]


async def test_wrong_password_falls_back_and_is_never_shown() -> None:
    server = NacosServer(
        {"ns-1": {"ob-campaign": ["127.0.0.1:9301"]}}, username="nacos", password="right"
    )
    await server.start()
    settings = settings_for(server.server_addr, username="nacos", password=PASSWORD)
    try:
        async with discovery_for(settings) as discovery:
            with pytest.raises(StepFailedError) as info:
                await discovery.instances(DiscoveryQuery("obService", "ns-1"))
    finally:
        await server.stop()
    assert "login" in str(info.value)
    assert PASSWORD not in f"{info.value} {info.value.details}"


async def test_results_are_cached_for_the_ttl_per_key_and_namespace(nacos: NacosServer) -> None:
    clock = FakeClock()
    async with discovery_for(settings_for(nacos.server_addr), clock) as discovery:
        query = DiscoveryQuery(BG, "ns-1")
        await discovery.instances(query)
        clock.advance(29)
        await discovery.instances(query)
        await discovery.instances(DiscoveryQuery(BG, None))
        assert len(nacos.requests) == 2
        nacos.register("ns-1", BG_SERVICE, "127.0.0.1:9204")
        clock.advance(2)
        assert await discovery.instances(query) == ["127.0.0.1:9201", "127.0.0.1:9204"]
    assert len(nacos.requests) == 3


async def test_nacos_failure_falls_back_to_the_static_list(nacos: NacosServer) -> None:
    nacos.failing = True
    settings = settings_for(nacos.server_addr, fallback={BG: ["127.0.0.1:9999"]})
    async with discovery_for(settings) as discovery:
        assert await discovery.instances(DiscoveryQuery(BG, "ns-1")) == ["127.0.0.1:9999"]


async def test_unreachable_nacos_falls_back_to_the_static_list() -> None:
    settings = settings_for(f"127.0.0.1:{free_port()}", fallback={BG: ["127.0.0.1:9999"]})
    async with discovery_for(settings) as discovery:
        assert await discovery.instances(DiscoveryQuery(BG, "ns-1")) == ["127.0.0.1:9999"]


async def test_empty_nacos_answer_falls_back_to_the_static_list(nacos: NacosServer) -> None:
    settings = settings_for(nacos.server_addr, fallback={"portalService": ["127.0.0.1:9100"]})
    async with discovery_for(settings) as discovery:
        found = await discovery.instances(DiscoveryQuery("portalService", "ns-1"))
    assert found == ["127.0.0.1:9100"]


async def test_fallback_results_are_not_cached(nacos: NacosServer) -> None:
    nacos.failing = True
    settings = settings_for(nacos.server_addr, fallback={BG: ["127.0.0.1:9999"]})
    async with discovery_for(settings) as discovery:
        query = DiscoveryQuery(BG, "ns-1")
        assert await discovery.instances(query) == ["127.0.0.1:9999"]
        nacos.failing = False
        assert await discovery.instances(query) == ["127.0.0.1:9201"]


async def test_nacos_down_and_no_fallback_is_a_clear_error(nacos: NacosServer) -> None:
    nacos.failing = True
    async with discovery_for(settings_for(nacos.server_addr)) as discovery:
        with pytest.raises(StepFailedError) as info:
            await discovery.instances(DiscoveryQuery(BG, "ns-1"))
    error = info.value
    assert error.error_type is ErrorType.SERVICE_UNAVAILABLE
    assert "blueGreenGatewayService" in str(error)
    assert "HTTP 500" in str(error)
    assert "fallback_instances" in str(error)
    assert error.details["namespace"] == "ns-1"


async def test_second_server_is_tried_when_the_first_is_down(nacos: NacosServer) -> None:
    settings = settings_for(f"127.0.0.1:{free_port()},{nacos.server_addr}")
    async with discovery_for(settings) as discovery:
        assert await discovery.instances(DiscoveryQuery(BG, "ns-1")) == ["127.0.0.1:9201"]


async def test_shared_http_client_is_used_and_left_open(nacos: NacosServer) -> None:
    settings = settings_for(nacos.server_addr)
    async with httpx.AsyncClient() as http:
        discovery = NacosDiscovery(settings, http, FakeClock(), StaticDiscovery(settings))
        assert await discovery.instances(DiscoveryQuery(BG, "ns-1")) == ["127.0.0.1:9201"]
        await discovery.aclose()
        assert not http.is_closed
