"""NacosDiscovery picks the open API each Nacos server answers: v3, then v2, then v1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Literal

import httpx
import pytest

from switchover.discovery import DiscoveryQuery, NacosDiscovery, StaticDiscovery
from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.fleet.nacos import (
    NACOS_1,
    NACOS_2,
    NACOS_3,
    NACOS_3_ONLY,
    V1_LIST,
    V1_LOGIN,
    V2_LIST,
    V3_LIST,
    V3_LOGIN,
    NacosInstance,
    NacosServer,
)
from switchover.fleet.redis_server import free_port
from tests.discovery.test_nacos import PASSWORD, discovery_for, settings_for
from tests.steps.fakes import FakeClock

BG = "blueGreenGatewayService"
OB = "obService"
REGISTRY = {
    "ns-1": {
        "icc-bg-gateway": [
            NacosInstance("127.0.0.1", 9201),
            NacosInstance("127.0.0.1", 9202, healthy=False),
            NacosInstance("127.0.0.1", 9203, enabled=False),
            NacosInstance("127.0.0.1", 9204, cluster="EDGE"),
        ],
        "ob-campaign": ["127.0.0.1:9301"],
    }
}
V2_ONLY = frozenset({"v2"})
ApiSetting = Literal["auto", "v3", "v2", "v1"]


async def started(
    apis: frozenset[str],
    *,
    username: str | None = None,
    password: str | None = None,
    retired_status: int = 404,
) -> NacosServer:
    """A running server of ``REGISTRY`` answering ``apis``."""
    server = NacosServer(
        REGISTRY, username=username, password=password, apis=apis, retired_status=retired_status
    )
    await server.start()
    return server


@pytest.fixture
async def servers() -> AsyncIterator[list[NacosServer]]:
    """Servers a test starts; every one is stopped afterwards."""
    running: list[NacosServer] = []
    yield running
    for server in running:
        await server.stop()


@pytest.mark.parametrize(
    ("apis", "retired_status", "probes"),
    [
        (NACOS_3_ONLY, 404, [V3_LIST]),
        (NACOS_3, 404, [V3_LIST]),
        (V2_ONLY, 404, [V3_LIST, V2_LIST]),
        (NACOS_2, 404, [V3_LIST, V2_LIST]),
        (NACOS_1, 404, [V3_LIST, V2_LIST, V1_LIST]),
        (NACOS_1, 410, [V3_LIST, V2_LIST, V1_LIST]),
    ],
)
async def test_auto_finds_the_api_a_server_answers_and_keeps_using_it(
    servers: list[NacosServer],
    apis: frozenset[str],
    retired_status: int,
    probes: list[str],
) -> None:
    server = await started(apis, retired_status=retired_status)
    servers.append(server)
    async with discovery_for(settings_for(server.server_addr)) as discovery:
        found = await discovery.instances(DiscoveryQuery(BG, "ns-1"))
        assert server.paths() == probes
        assert await discovery.instances(DiscoveryQuery(OB, "ns-1")) == ["127.0.0.1:9301"]
    # Healthy and enabled only, whichever API answered (v3 ignores healthyOnly).
    assert found == ["127.0.0.1:9201", "127.0.0.1:9204"]
    assert server.paths() == [*probes, probes[-1]]
    assert [r.query["serviceName"] for r in server.requests] == [
        *["icc-bg-gateway"] * len(probes),
        "ob-campaign",
    ]
    for request in server.requests:
        assert request.query["groupName"] == "DEFAULT_GROUP"
        assert request.query["namespaceId"] == "ns-1"
        assert request.query["healthyOnly"] == "true"


@pytest.mark.parametrize(
    ("apis", "paths", "token_in"),
    [
        (NACOS_3_ONLY, [V3_LOGIN, V3_LIST], "header"),
        (NACOS_3, [V3_LOGIN, V3_LIST], "header"),
        (V2_ONLY, [V3_LOGIN, V1_LOGIN, V2_LIST], "header"),
        (NACOS_1, [V3_LOGIN, V1_LOGIN, V2_LIST, V1_LIST], "query"),
    ],
)
async def test_logs_in_where_each_generation_expects_and_sends_the_token_its_way(
    servers: list[NacosServer], apis: frozenset[str], paths: list[str], token_in: str
) -> None:
    server = await started(apis, username="nacos", password=PASSWORD)
    servers.append(server)
    settings = settings_for(server.server_addr, username="nacos", password=PASSWORD)
    async with discovery_for(settings) as discovery:
        assert await discovery.instances(DiscoveryQuery(OB, "ns-1")) == ["127.0.0.1:9301"]
        assert await discovery.instances(DiscoveryQuery(BG, "ns-1")) == [
            "127.0.0.1:9201",
            "127.0.0.1:9204",
        ]
    assert server.paths() == [*paths, paths[-1]]
    for listing in server.requests[-2:]:
        assert listing.access_token in server.tokens
        assert listing.token_header is (token_in == "header")
        assert ("accessToken" in listing.query) is (token_in == "query")
    assert all("password" not in r.query for r in server.requests)


@pytest.mark.parametrize(
    ("apis", "login_path"),
    [(NACOS_3_ONLY, V3_LOGIN), (V2_ONLY, V1_LOGIN), (NACOS_1, V1_LOGIN)],
)
async def test_wrong_password_on_each_generation_is_a_clear_error(
    servers: list[NacosServer], apis: frozenset[str], login_path: str
) -> None:
    server = await started(apis, username="nacos", password="right")
    servers.append(server)
    settings = settings_for(server.server_addr, username="nacos", password=PASSWORD)
    async with discovery_for(settings) as discovery:
        with pytest.raises(StepFailedError) as info:
            await discovery.instances(DiscoveryQuery(OB, "ns-1"))
    error = info.value
    assert not isinstance(error, TransientError)
    assert error.details["cause"] == "authentication"
    assert f"{server.base_url}: login as 'nacos' at {login_path} refused (HTTP 403)" in str(error)
    assert PASSWORD not in f"{error} {error.details}"
    # No list is asked for with credentials known to be wrong.
    assert server.paths("GET") == []


async def test_a_server_that_wants_a_login_none_is_configured_for_says_so(
    servers: list[NacosServer],
) -> None:
    server = await started(NACOS_3_ONLY, username="nacos", password="right")
    servers.append(server)
    async with discovery_for(settings_for(server.server_addr)) as discovery:
        with pytest.raises(StepFailedError) as info:
            await discovery.instances(DiscoveryQuery(OB, "ns-1"))
    assert not isinstance(info.value, TransientError)
    assert info.value.details["cause"] == "authentication"
    assert "requires a login (set nacos.username and nacos.password)" in str(info.value)


@pytest.mark.parametrize(("api", "path"), [("v3", V3_LIST), ("v2", V2_LIST), ("v1", V1_LIST)])
async def test_a_configured_api_is_the_only_one_asked(
    servers: list[NacosServer], api: ApiSetting, path: str
) -> None:
    server = await started(NACOS_3)
    servers.append(server)
    async with discovery_for(settings_for(server.server_addr, api=api)) as discovery:
        assert await discovery.instances(DiscoveryQuery(OB, "ns-1")) == ["127.0.0.1:9301"]
    assert server.paths() == [path]


async def test_a_configured_api_the_server_lacks_is_an_error_without_probing_others(
    servers: list[NacosServer],
) -> None:
    server = await started(NACOS_2)
    servers.append(server)
    async with discovery_for(settings_for(server.server_addr, api="v3")) as discovery:
        with pytest.raises(StepFailedError) as info:
            await discovery.instances(DiscoveryQuery(OB, "ns-1"))
    assert not isinstance(info.value, TransientError)
    assert f"GET {V3_LIST} answered HTTP 404" in str(info.value)
    assert "does not serve the v3 open API (nacos.api is v3)" in str(info.value)
    assert server.paths() == [V3_LIST]


async def test_a_server_answering_no_api_is_named_with_what_each_answered(
    servers: list[NacosServer],
) -> None:
    server = await started(frozenset(), retired_status=410)
    servers.append(server)
    async with discovery_for(settings_for(server.server_addr)) as discovery:
        with pytest.raises(StepFailedError) as info:
            await discovery.instances(DiscoveryQuery(OB, "ns-1"))
    assert not isinstance(info.value, TransientError)
    assert "answers none of the v3, v2 and v1 open APIs" in str(info.value)
    assert f"GET {V1_LIST} answered HTTP 410" in str(info.value)


async def test_the_api_is_remembered_per_server(servers: list[NacosServer]) -> None:
    old, new = await started(NACOS_1), await started(NACOS_3_ONLY)
    servers.extend([old, new])
    clock = FakeClock()
    settings = settings_for(f"{old.server_addr},{new.server_addr}")
    async with discovery_for(settings, clock) as discovery:
        await discovery.instances(DiscoveryQuery(OB, "ns-1"))
        await old.stop()
        clock.advance(31)
        assert await discovery.instances(DiscoveryQuery(OB, "ns-1")) == ["127.0.0.1:9301"]
    assert old.paths() == [V3_LIST, V2_LIST, V1_LIST]
    assert new.paths() == [V3_LIST]  # the first server's v1 is not assumed here


async def test_an_upgraded_server_is_asked_again_from_v3(servers: list[NacosServer]) -> None:
    server = await started(NACOS_2)
    servers.append(server)
    clock = FakeClock()
    async with discovery_for(settings_for(server.server_addr), clock) as discovery:
        query = DiscoveryQuery(OB, "ns-1")
        await discovery.instances(query)
        server.apis = set(NACOS_3_ONLY)
        clock.advance(31)
        assert await discovery.instances(query) == ["127.0.0.1:9301"]
        clock.advance(31)
        await discovery.instances(query)
    assert server.paths() == [V3_LIST, V2_LIST, V2_LIST, V3_LIST, V3_LIST]


@pytest.mark.parametrize(
    ("apis", "param"),
    [(NACOS_3_ONLY, "clusterName"), (V2_ONLY, "clusterName"), (NACOS_1, "clusters")],
)
async def test_configured_clusters_filter_the_instances(
    servers: list[NacosServer], apis: frozenset[str], param: str
) -> None:
    server = await started(apis)
    servers.append(server)
    settings = settings_for(server.server_addr, clusters=["EDGE", "OTHER"])
    async with discovery_for(settings) as discovery:
        assert await discovery.instances(DiscoveryQuery(BG, "ns-1")) == ["127.0.0.1:9204"]
    assert server.requests[-1].query[param] == "EDGE,OTHER"


@pytest.mark.parametrize("apis", [NACOS_3_ONLY, V2_ONLY, NACOS_1])
async def test_outages_are_transient_on_every_generation(
    servers: list[NacosServer], apis: frozenset[str]
) -> None:
    server = await started(apis, username="nacos", password=PASSWORD)
    servers.append(server)
    settings = settings_for(server.server_addr, username="nacos", password=PASSWORD)
    async with discovery_for(settings) as discovery:
        await discovery.instances(DiscoveryQuery(OB, "ns-1"))
        server.failing = True
        with pytest.raises(TransientError) as info:
            await discovery.instances(DiscoveryQuery(BG, "ns-1"))
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE
    assert "answered HTTP 500" in str(info.value)


async def test_one_server_down_and_one_refusing_the_login_is_not_transient(
    servers: list[NacosServer],
) -> None:
    refusing = await started(NACOS_3_ONLY, username="nacos", password="right")
    servers.append(refusing)
    down = f"127.0.0.1:{free_port()}"
    settings = settings_for(f"{down},{refusing.server_addr}", username="nacos", password=PASSWORD)
    async with discovery_for(settings) as discovery:
        with pytest.raises(StepFailedError) as info:
            await discovery.instances(DiscoveryQuery(OB, "ns-1"))
    assert not isinstance(info.value, TransientError)
    assert f"http://{down}: POST {V3_LOGIN} failed (ConnectError)" in str(info.value)
    assert "refused (HTTP 403)" in str(info.value)


def answering(status: int, body: object) -> tuple[httpx.MockTransport, list[str]]:
    """A transport answering every request with ``body``, and the paths it was asked."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(status, content=json.dumps(body).encode())

    return httpx.MockTransport(handle), asked


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        (404, {"code": 20004, "message": "resource not found", "data": None}, "HTTP 404"),
        (200, {"code": 21008, "message": "service not exist", "data": None}, "code 21008"),
        (200, {"code": 0, "message": "success", "data": "nope"}, "no hosts array"),
    ],
)
async def test_a_nacos_error_answer_is_reported_not_taken_for_a_missing_api(
    status: int, body: object, shown: str
) -> None:
    transport, asked = answering(status, body)
    settings = settings_for("127.0.0.1:8848")
    async with httpx.AsyncClient(transport=transport) as http:
        discovery = NacosDiscovery(settings, http, FakeClock(), StaticDiscovery(settings))
        with pytest.raises(StepFailedError) as info:
            await discovery.instances(DiscoveryQuery(OB, "ns-1"))
    assert not isinstance(info.value, TransientError)
    assert shown in str(info.value)
    assert asked == [V3_LIST]
