"""NacosDiscovery against the loopback Nacos server of the fleet (a Nacos 2.x by default)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Literal

import httpx
import pytest

from switchover.discovery import DiscoveryQuery, NacosDiscovery, StaticDiscovery
from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.fleet.nacos import (
    V1_LOGIN,
    V2_LIST,
    V3_LIST,
    V3_LOGIN,
    NacosInstance,
    NacosServer,
    start_nacos,
)
from switchover.fleet.redis_server import free_port
from switchover.secrets import Secret
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
    api: Literal["auto", "v3", "v2", "v1"] = "auto",
    clusters: list[str] | None = None,
) -> Settings:
    return Settings(
        nacos=NacosSettings(
            enabled=True,
            server_addr=server_addr,
            api=api,
            username=username,
            password=Secret(password) if password is not None else None,
            clusters=clusters or [],
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
    assert nacos.paths() == [V3_LIST, V2_LIST, V2_LIST]
    query = nacos.requests[1].query
    assert query["serviceName"] == BG_SERVICE
    assert query["namespaceId"] == "ns-1"
    assert query["groupName"] == "DEFAULT_GROUP"
    assert query["healthyOnly"] == "true"
    assert "namespaceId" not in nacos.requests[2].query


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
    # A 2.x has no v3 login: it logs in through v1 and lists through v2.
    assert server.paths() == [V3_LOGIN, V1_LOGIN, V2_LIST]
    listing = server.requests[-1]
    assert listing.access_token in server.tokens
    assert listing.token_header
    assert "accessToken" not in listing.query


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
    settings = settings.replace(nacos=settings.nacos.replace(cache_ttl=1.0))
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
    assert server.paths("POST") == [V3_LOGIN, V1_LOGIN, V1_LOGIN]


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
    assert server.paths() == [V3_LOGIN, V1_LOGIN, V2_LIST, V2_LIST, V1_LOGIN, V2_LIST]


async def test_wrong_password_is_a_one_line_error_naming_the_server_not_the_password() -> None:
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
    error = info.value
    assert not isinstance(error, TransientError)
    assert not error.retryable
    assert error.details["cause"] == "authentication"
    assert f"{server.base_url}: login as 'nacos' at {V1_LOGIN} refused (HTTP 403)" in str(error)
    assert "nacos.password" in str(error)
    assert "\n" not in str(error)
    assert PASSWORD not in f"{error} {error.details}"


async def test_wrong_password_falls_back_and_the_log_never_shows_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = NacosServer(
        {"ns-1": {"ob-campaign": ["127.0.0.1:9301"]}}, username="nacos", password="right"
    )
    await server.start()
    settings = settings_for(
        server.server_addr,
        username="nacos",
        password=PASSWORD,
        fallback={"obService": ["127.0.0.1:9999"]},
    )
    try:
        with caplog.at_level(logging.DEBUG):
            async with discovery_for(settings) as discovery:
                found = await discovery.instances(DiscoveryQuery("obService", "ns-1"))
    finally:
        await server.stop()
    assert found == ["127.0.0.1:9999"]
    assert "refused (HTTP 403)" in caplog.text
    assert PASSWORD not in caplog.text


async def test_results_are_cached_for_the_ttl_per_key_and_namespace(nacos: NacosServer) -> None:
    clock = FakeClock()
    async with discovery_for(settings_for(nacos.server_addr), clock) as discovery:
        query = DiscoveryQuery(BG, "ns-1")
        await discovery.instances(query)
        clock.advance(29)
        await discovery.instances(query)
        await discovery.instances(DiscoveryQuery(BG, None))
        assert nacos.paths() == [V3_LIST, V2_LIST, V2_LIST]
        nacos.register("ns-1", BG_SERVICE, "127.0.0.1:9204")
        clock.advance(2)
        assert await discovery.instances(query) == ["127.0.0.1:9201", "127.0.0.1:9204"]
    assert nacos.paths() == [V3_LIST, V2_LIST, V2_LIST, V2_LIST]


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
    assert isinstance(error, TransientError)
    assert error.retryable
    assert error.error_type is ErrorType.SERVICE_UNAVAILABLE
    assert "blueGreenGatewayService" in str(error)
    assert "HTTP 500" in str(error)
    assert "fallback_instances" in str(error)
    assert error.details["namespace"] == "ns-1"
    # An outage is not "this API is missing": the other APIs are not probed.
    assert nacos.paths() == [V3_LIST]


async def test_unreachable_nacos_and_no_fallback_is_a_transient_error() -> None:
    async with discovery_for(settings_for(f"127.0.0.1:{free_port()}")) as discovery:
        with pytest.raises(TransientError) as info:
            await discovery.instances(DiscoveryQuery(BG, "ns-1"))
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE
    assert "ConnectError" in str(info.value)


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
