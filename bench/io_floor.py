"""I/O floor: the blue-green stage for N tenants through the engine, versus a bare asyncio script.

Both sides do exactly the same I/O against a local redis-server and a Fleet of gateways (in
its own process): per tenant one HSET of the two hash fields, one PUBLISH, then verify GETs on
every gateway, concurrently, re-asking those that have not matched every ``verify.interval``
(50 ms). Gateways apply a config 20 ms after its notification, so every tenant takes exactly
two verify rounds on both sides. At most ``--concurrency`` tenants are in flight on either side.

* engine: ``wiring.runtime`` (SqliteStore, synchronous=FULL; the real HttpClient, RedisClient
  and CatalogueStageBuilder) runs plans whose configs have only ``networkEndpoints``, so the
  one stage is ``blue-green-gateway``;
* floor: a hand-written loop on the same libraries (redis.asyncio, an aiohttp session with
  HttpClient's pool settings), no engine, no store.

Each side runs once to warm up, then the two alternate ``--repeats`` times; medians compared.

Run: ``python -m bench.io_floor [--small] [--tenants 200] [--concurrency 10] [--gateways 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.fleet_host import FleetProcess
from bench.machine import header
from switchover import wire
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.records import PlanSpec, TenantSpec
from switchover.domain.status import TaskStatus
from switchover.engine.engine import Engine
from switchover.fleet.redis_server import RedisServer
from switchover.process import tuned_collector
from switchover.settings import Settings
from switchover.stages.catalogue import BLUE_GREEN_GATEWAY_SERVICE, CatalogueStageBuilder
from switchover.steps.http_client import DEFAULT_MAX_CONNECTIONS
from switchover.wiring import runtime

INTERVAL = 0.05
LAG = 0.02
"""Gateways apply a notification this long after it: the first verify round always misses and
the second always matches, on both sides, so neither depends on winning a race."""
MAX_ATTEMPTS = 100
TARGET_RATIO = 1.10


@dataclass(frozen=True, slots=True)
class Sides:
    """Seconds per run of each side, in run order, and verify GETs per tenant."""

    engine: tuple[float, ...]
    submit: tuple[float, ...]
    floor: tuple[float, ...]
    engine_gets: float
    floor_gets: float

    @property
    def ratio(self) -> float:
        return statistics.median(self.engine) / statistics.median(self.floor)


def _configs(tenants: int, version: int) -> list[TenantConfig]:
    return [
        TenantConfig(
            tenant_id=f"tenant-{index:05d}",
            plan_id=f"io-{version}",
            plan_version=version,
            network_endpoints=(
                NetworkEndpoint("r1", source_ip="10.0.0.1", target_domain="green.example.com"),
            ),
        )
        for index in range(tenants)
    ]


async def run_engine(
    engine: Engine, configs: Sequence[TenantConfig], concurrency: int
) -> tuple[float, float]:
    """Submit one plan of ``configs`` and wait until every task completed.

    Returns:
        Seconds in all, and seconds of those spent submitting (the plan's durable creation).
    """
    first = configs[0]
    spec = PlanSpec(
        first.plan_id, first.plan_version, concurrency, tuple(TenantSpec(c, None) for c in configs)
    )
    start = time.perf_counter()
    await engine.submit_plan(spec)
    submitted = time.perf_counter()
    await engine.wait_idle()
    elapsed = time.perf_counter() - start
    tasks = await engine.list_tasks(spec.plan_id)
    failed = [t.tenant_id for t in tasks if t.status is not TaskStatus.COMPLETED]
    if failed:
        raise RuntimeError(f"engine run {spec.plan_id}: {len(failed)} task(s) did not complete")
    return elapsed, submitted - start


class Floor:
    """The same I/O as the blue-green stage, written by hand on the same libraries."""

    def __init__(self, settings: Settings, instances: Sequence[str]) -> None:
        self._settings = settings
        self._instances = list(instances)
        self._redis: aioredis.Redis = aioredis.from_url(
            settings.redis.url.get_secret_value(), decode_responses=True
        )
        connector = aiohttp.TCPConnector(limit=DEFAULT_MAX_CONNECTIONS, limit_per_host=0)
        self._http = aiohttp.ClientSession(connector=connector)
        self.gets = 0

    async def aclose(self) -> None:
        await self._http.close()
        await self._redis.aclose()

    async def _matches(self, url: str, version: int) -> bool:
        self.gets += 1
        try:
            async with self._http.get(url) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False
        return isinstance(body, dict) and wire.version_matches(body.get("version"), version)

    async def switch(self, config: TenantConfig) -> None:
        """HSET, PUBLISH, then verify every instance until all report the version."""
        redis_settings = self._settings.redis
        version, tenant = config.plan_version, config.tenant_id
        now_ms = int(time.time() * 1000)
        fields = {
            wire.BG_GATEWAY_FIELD: wire.bg_gateway_value(config, None),
            wire.METADATA_FIELD: wire.metadata_value(version),
        }
        await self._redis.hset(
            wire.tenant_config_key(redis_settings.key_prefix, tenant),
            mapping=fields,  # type: ignore[arg-type]
        )
        await self._redis.publish(
            redis_settings.topic,
            wire.notification(tenant, wire.BG_GATEWAY_FIELD, version, now_ms),
        )
        path = self._settings.verify.path.format(tenant_id=tenant)
        pending = [f"http://{instance}{path}" for instance in self._instances]
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                await asyncio.sleep(INTERVAL)
            async with asyncio.TaskGroup() as group:
                asked = [(url, group.create_task(self._matches(url, version))) for url in pending]
            pending = [url for url, task in asked if not task.result()]
            if not pending:
                return
        raise RuntimeError(f"floor: {tenant} never matched version {version}")

    async def run(self, configs: Sequence[TenantConfig], concurrency: int) -> float:
        """Switch every tenant, at most ``concurrency`` at once; seconds taken."""
        queue = iter(configs)

        async def worker() -> None:
            for config in queue:
                await self.switch(config)

        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(configs))):
                group.create_task(worker())
        return time.perf_counter() - start


async def measure(
    redis_url: str, tenants: int, concurrency: int, gateways: int, repeats: int
) -> Sides:
    """Warm both sides up, then alternate them ``repeats`` times."""
    versions = itertools.count(100)
    with (
        FleetProcess(redis_url, gateways=gateways, lag=LAG) as fleet,
        tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp,
    ):
        settings = Settings.of(
            store=Path(tmp) / "io.db",
            redis={"url": redis_url},
            verify={
                "interval": INTERVAL,
                "max_attempts": MAX_ATTEMPTS,
                "deadline": 60.0,
            },
            **fleet.settings_overrides(),
        )
        floor = Floor(settings, fleet.instances[BLUE_GREEN_GATEWAY_SERVICE])
        try:
            async with runtime(settings) as rt:
                engine_gets = _count_gets(rt.builder)
                engine = rt.make_engine()
                async with engine:
                    warm = min(tenants, 4 * concurrency)
                    await run_engine(engine, _configs(warm, next(versions)), concurrency)
                    await floor.run(_configs(warm, next(versions)), concurrency)
                    engine_s, submit_s, floor_s = [], [], []
                    engine_gets[0], floor.gets = 0, 0
                    for _ in range(repeats):
                        configs = _configs(tenants, next(versions))
                        took, submit = await run_engine(engine, configs, concurrency)
                        engine_s.append(took)
                        submit_s.append(submit)
                        configs = _configs(tenants, next(versions))
                        floor_s.append(await floor.run(configs, concurrency))
        finally:
            await floor.aclose()
    runs = repeats * tenants
    return Sides(
        tuple(engine_s), tuple(submit_s), tuple(floor_s), engine_gets[0] / runs, floor.gets / runs
    )


def _count_gets(builder: CatalogueStageBuilder) -> list[int]:
    """Count the verify GETs of the builder's HTTP client (wraps one method of one object)."""
    http = builder._http
    get_json = http.get_json
    count = [0]

    async def counted(url: str, **kwargs: Any) -> tuple[int, Any]:
        count[0] += 1
        return await get_json(url, **kwargs)

    http.get_json = counted  # type: ignore[method-assign]
    return count


def main(argv: Sequence[str] | None = None) -> Sides:
    """Print both sides' times and the ratio engine / floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true", help="100 tenants, 2 repeats")
    parser.add_argument("--tenants", type=int, help="tenants per run (default 200; small 100)")
    parser.add_argument("--concurrency", type=int, default=10, help="tenants in flight")
    parser.add_argument("--gateways", type=int, default=3, help="gateway instances")
    parser.add_argument("--repeats", type=int, help="timed runs per side (default 3; small 2)")
    args = parser.parse_args(argv)
    tenants = args.tenants or (100 if args.small else 200)
    repeats = args.repeats or (2 if args.small else 3)
    header(
        f"I/O floor: blue-green stage, {tenants} tenants, concurrency {args.concurrency}, "
        f"{args.gateways} gateways, verify interval {INTERVAL * 1000:.0f} ms"
    )
    # The collector tuned as the switchover command tunes it for its engines.
    with RedisServer() as redis, tuned_collector():
        sides = asyncio.run(measure(redis.url, tenants, args.concurrency, args.gateways, repeats))
    engine, floor = statistics.median(sides.engine), statistics.median(sides.floor)
    print(
        f"   engine: {engine:.3f} s median of {[round(s, 3) for s in sides.engine]}"
        f" (of which submitting the plan: {statistics.median(sides.submit):.3f} s)"
    )
    print(f"   floor:  {floor:.3f} s median of {[round(s, 3) for s in sides.floor]}")
    print(
        f"   per tenant: engine {engine / tenants * 1000:.1f} ms, floor "
        f"{floor / tenants * 1000:.1f} ms (× concurrency {args.concurrency}: "
        f"{engine / tenants * args.concurrency * 1000:.0f} / "
        f"{floor / tenants * args.concurrency * 1000:.0f} ms each)"
    )
    print(
        f"   verify GETs per tenant: engine {sides.engine_gets:.2f}, floor {sides.floor_gets:.2f}"
        f" (gateways apply configs {LAG * 1000:.0f} ms late: 2 rounds = {2 * args.gateways})"
    )
    verdict = "met" if sides.ratio <= TARGET_RATIO else "NOT met"
    print(f"   ratio engine/floor: {sides.ratio:.3f} (aim ≤ {TARGET_RATIO:.2f}: {verdict})")
    return sides


if __name__ == "__main__":
    main()
