"""HealthCheckedDiscovery: keeps the instances whose /actuator/health body says UP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from switchover.discovery import DiscoveryQuery, HealthCheckedDiscovery, StaticDiscovery
from switchover.errors import ErrorType, StepFailedError
from switchover.fleet.redis_server import free_port
from switchover.settings import DiscoverySettings, Settings
from tests.steps.fakes import FakeClock, FakeDiscovery

HITS: dict[str, int] = {}


async def serve(body: str, status: int = 200) -> tuple[web.AppRunner, str]:
    """A tiny health endpoint on a free loopback port; counts its hits in HITS."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    HITS[address] = 0

    async def health(request: web.Request) -> web.Response:
        HITS[address] += 1
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/actuator/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, address


@pytest.fixture
async def fleet() -> AsyncIterator[dict[str, str]]:
    runners: list[web.AppRunner] = []
    addresses: dict[str, str] = {}
    for name, body, status in [
        ("up", '{"status":"UP"}', 200),
        ("down", '{"status":"DOWN"}', 503),
        ("odd", "hello", 200),
    ]:
        runner, address = await serve(body, status)
        runners.append(runner)
        addresses[name] = address
    addresses["gone"] = f"127.0.0.1:{free_port()}"
    yield addresses
    for runner in runners:
        await runner.cleanup()


def health_for(instances: list[str], clock: FakeClock | None = None) -> HealthCheckedDiscovery:
    settings = Settings(discovery=DiscoverySettings(health_check=True))
    inner = FakeDiscovery({"obService": instances})
    return HealthCheckedDiscovery(inner, settings, None, clock or FakeClock())


async def test_only_instances_reporting_up_are_kept(fleet: dict[str, str]) -> None:
    instances = [fleet["down"], fleet["up"], fleet["gone"], fleet["odd"]]
    async with health_for(instances) as discovery:
        assert await discovery.instances(DiscoveryQuery("obService")) == [fleet["up"]]


async def test_no_healthy_instance_is_a_clear_error(fleet: dict[str, str]) -> None:
    async with health_for([fleet["down"], fleet["gone"]]) as discovery:
        with pytest.raises(StepFailedError) as info:
            await discovery.instances(DiscoveryQuery("obService", "ns-1"))
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE
    assert "obService" in str(info.value)
    assert "2 instance(s)" in str(info.value)


async def test_health_results_are_cached_for_the_ttl_while_instances_stay_the_same(
    fleet: dict[str, str],
) -> None:
    clock = FakeClock()
    async with health_for([fleet["up"]], clock) as discovery:
        query = DiscoveryQuery("obService")
        await discovery.instances(query)
        await discovery.instances(query)
        clock.advance(31)
        await discovery.instances(query)
    # Two probes: the first lookup and the one after the cache expired.
    assert HITS[fleet["up"]] == 2


async def test_inner_discovery_errors_pass_through() -> None:
    settings = Settings()
    discovery = HealthCheckedDiscovery(StaticDiscovery(settings), settings, None, FakeClock())
    async with discovery:
        with pytest.raises(StepFailedError, match="none are configured"):
            await discovery.instances(DiscoveryQuery("obService"))
