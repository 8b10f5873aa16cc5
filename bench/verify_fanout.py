"""Verify fan-out: one tenant's verify round against 10, 100 and 1,000 gateway instances.

Every gateway of a Fleet (in its own process, on loopback) answers after a known delay
(``Faults(slow=0.05)``). One round is ``ConfigPushStep.validate`` with every instance already
holding the version, so it asks each instance once, concurrently. A perfect client takes about
one instance's own latency per round whatever the fan-out; the ratio round / one instance
alone shows how far from that each HTTP client is:

* ``HttpClient``: switchover's client as shipped (httpx on httpx-aiohttp's transport, every
  request under its total deadline);
* ``baseline``: with ``--baseline FILE``, the ``HttpClient`` of another version of
  ``steps/http_client.py`` (``git show REV:src/switchover/steps/http_client.py > FILE``),
  measured in the same run on the same fleet, to compare a change before and after;
* ``httpx pool``: HttpClient on httpx's own connection pool (``httpx.AsyncHTTPTransport``
  with the same 1,024-connection limits);
* ``aiohttp floor``: the same GETs on a bare ``aiohttp.ClientSession``, no switchover code.

Each client's warm rounds (connections already open) are summed up as min / median / max;
the cold round (connections opened) is shown too.

Run: ``python -m bench.verify_fanout [--small] [--fanouts 10,100,1000] [--rounds 5]
[--clients "HttpClient,httpx pool,aiohttp floor"] [--baseline FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from bench.fleet_host import FleetProcess
from bench.machine import header, spread
from switchover import wire
from switchover.clock import SystemClock
from switchover.discovery.static import StaticDiscovery
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.status import ExecutionMode
from switchover.errors import StepFailedError
from switchover.fleet.redis_server import RedisServer
from switchover.settings import Settings
from switchover.stages.catalogue import BLUE_GREEN_GATEWAY_SERVICE
from switchover.steps.config_push import ConfigPushStep
from switchover.steps.http_client import DEFAULT_MAX_CONNECTIONS, HttpClient
from switchover.steps.protocol import StepContext
from switchover.steps.redis_client import RedisClient

FANOUTS = (10, 100, 1_000)
SMALL_HTTPX_POOL_MAX = 100
"""With --small, httpx's own pool is measured up to this fan-out only (a round at 1,000 takes
it about half a minute)."""
SLOW = 0.05
TENANT = "tenant-fanout"
VERSION = 20
CLIENTS = ("HttpClient", "httpx pool", "aiohttp floor")
BASELINE = "baseline"
"""The client of ``--baseline FILE``: measured right after ``HttpClient`` when given."""


@dataclass(frozen=True, slots=True)
class Rounds:
    """Timings of one client's verify rounds at one fan-out."""

    client: str
    fanout: int
    cold_s: float
    warm_s: tuple[float, ...]
    unmatched: int

    @property
    def warm_median(self) -> float:
        return statistics.median(self.warm_s)


class _Journal:
    async def warn(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        return None


def _settings(fleet: FleetProcess, redis_url: str) -> Settings:
    return Settings.of(
        redis={"url": redis_url},
        verify={"interval": 0.05, "max_attempts": 1, "deadline": 300.0},
        **fleet.settings_overrides(),
    )


def _context(settings: Settings) -> StepContext:
    config = TenantConfig(
        tenant_id=TENANT,
        plan_id="fanout",
        plan_version=VERSION,
        deploy_unit_name="green",
        network_endpoints=(NetworkEndpoint("r1", source_ip="10.0.0.1", target_domain="g.x"),),
    )
    return StepContext(
        plan_id="fanout",
        task_id="fanout/" + TENANT,
        tenant_id=TENANT,
        stage="blue-green-gateway",
        mode=ExecutionMode.NORMAL,
        config=config,
        source=None,
        version=VERSION,
        settings=settings,
        clock=SystemClock(),
        discovery=StaticDiscovery(settings),
        journal=_Journal(),
    )


async def _push(settings: Settings, ctx: StepContext) -> None:
    """Write the tenant's config at VERSION and announce it (the step's execute phase)."""
    async with RedisClient(settings) as redis, HttpClient(settings) as http:
        step = ConfigPushStep(
            field=wire.BG_GATEWAY_FIELD,
            service_key=BLUE_GREEN_GATEWAY_SERVICE,
            http=http,
            redis=redis,
        )
        await step.prepare(ctx)
        await step.execute(ctx)
    await asyncio.sleep(0.5)  # let the fleet apply the notification


def _baseline_client(path: str) -> Any:
    """The ``HttpClient`` class of another version of ``steps/http_client.py``."""
    spec = importlib.util.spec_from_file_location("bench_baseline_http_client", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--baseline: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HttpClient


def _step_round(http: HttpClient) -> Callable[[StepContext], Awaitable[int]]:
    async def one(ctx: StepContext) -> int:
        step = ConfigPushStep(
            field=wire.BG_GATEWAY_FIELD,
            service_key=BLUE_GREEN_GATEWAY_SERVICE,
            http=http,
            redis=None,  # type: ignore[arg-type]  # validate never touches Redis
        )
        try:
            await step.validate(ctx)
        except StepFailedError as exc:
            return int(exc.details.get("unmatched", -1))
        return 0

    return one


def _floor_round(session: aiohttp.ClientSession) -> Callable[[StepContext], Awaitable[int]]:
    async def ask(url: str) -> bool:
        try:
            async with session.get(url) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False
        return isinstance(body, dict) and wire.version_matches(body.get("version"), VERSION)

    async def one(ctx: StepContext) -> int:
        path = ctx.settings.verify.path.format(tenant_id=TENANT)
        instances = ctx.settings.discovery.fallback_instances[BLUE_GREEN_GATEWAY_SERVICE]
        async with asyncio.TaskGroup() as group:
            asked = [group.create_task(ask(f"http://{i}{path}")) for i in instances]
        return sum(1 for task in asked if not task.result())

    return one


async def _rounds(
    name: str, fanout: int, one: Callable[[StepContext], Awaitable[int]], ctx: StepContext, n: int
) -> Rounds:
    start = time.perf_counter()
    unmatched = await one(ctx)  # cold: opens the connections
    cold = time.perf_counter() - start
    warm = []
    for _ in range(n):
        start = time.perf_counter()
        unmatched += await one(ctx)
        warm.append(time.perf_counter() - start)
    return Rounds(name, fanout, cold, tuple(warm), unmatched)


async def _solo_latency(session: aiohttp.ClientSession, ctx: StepContext) -> float:
    """One instance's own latency: sequential GETs to a few instances, the slowest median."""
    path = ctx.settings.verify.path.format(tenant_id=TENANT)
    instances = ctx.settings.discovery.fallback_instances[BLUE_GREEN_GATEWAY_SERVICE][:5]
    medians = []
    for instance in instances:
        times = []
        for _ in range(4):
            start = time.perf_counter()
            async with session.get(f"http://{instance}{path}") as response:
                await response.read()
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times[1:]))
    return max(medians)


def _connector() -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(limit=DEFAULT_MAX_CONNECTIONS, limit_per_host=0)


async def measure(
    redis_url: str, fanout: int, rounds: int, clients: Sequence[str], baseline: Any = None
) -> tuple[float, list[Rounds]]:  # one fleet per fan-out; the clients take turns on it
    """One fleet of ``fanout`` slow gateways; every client's rounds against it.

    ``baseline`` is the ``HttpClient`` class measured as ``BASELINE``.
    """
    with FleetProcess(redis_url, gateways=fanout, slow=SLOW) as fleet:
        settings = _settings(fleet, redis_url)
        ctx = _context(settings)
        await _push(settings, ctx)
        results = []
        async with aiohttp.ClientSession(connector=_connector()) as session:
            solo = await _solo_latency(session, ctx)
        for name in clients:
            if name == "aiohttp floor":
                async with aiohttp.ClientSession(connector=_connector()) as session:
                    results.append(await _rounds(name, fanout, _floor_round(session), ctx, rounds))
                continue
            transport = None
            client = baseline if name == BASELINE else HttpClient
            if name == "httpx pool":
                limits = httpx.Limits(
                    max_connections=DEFAULT_MAX_CONNECTIONS,
                    max_keepalive_connections=DEFAULT_MAX_CONNECTIONS,
                )
                transport = httpx.AsyncHTTPTransport(limits=limits)
            async with client(settings, transport=transport) as http:
                results.append(await _rounds(name, fanout, _step_round(http), ctx, rounds))
        return solo, results


def _print(solo: float, results: Sequence[Rounds]) -> None:
    for r in results:
        warm = spread((s * 1000 for s in r.warm_s), 0, "ms")
        print(
            f"   {r.fanout:>5} instances  {r.client:<14} cold {r.cold_s * 1000:>8.0f} ms   "
            f"warm min / median / max {warm:>24}   "
            f"×{r.warm_median / solo:>6.2f} of one instance alone ({solo * 1000:.0f} ms)"
            + (f"   {r.unmatched} unmatched answers" if r.unmatched else ""),
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> list[Rounds]:
    """Measure every client at every fan-out and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--small",
        action="store_true",
        help=f"3 warm rounds; httpx's own pool only up to {SMALL_HTTPX_POOL_MAX} instances",
    )
    parser.add_argument("--fanouts", help="comma-separated instance counts")
    parser.add_argument("--rounds", type=int, help="warm rounds per client (default 5; small 3)")
    parser.add_argument(
        "--clients", default=",".join(CLIENTS), help=f"subset of: {', '.join(CLIENTS)}"
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="another version of steps/http_client.py whose HttpClient to measure as well",
    )
    args = parser.parse_args(argv)
    fanouts = [int(f) for f in args.fanouts.split(",")] if args.fanouts else list(FANOUTS)
    rounds = args.rounds or (3 if args.small else 5)
    clients = [c.strip() for c in args.clients.split(",")]
    baseline = None
    if args.baseline:
        baseline = _baseline_client(args.baseline)
        at = clients.index("HttpClient") + 1 if "HttpClient" in clients else 0
        clients.insert(at, BASELINE)
    header(f"verify fan-out: one verify round, every instance slow={SLOW * 1000:.0f} ms")
    everything: list[Rounds] = []
    with RedisServer() as redis:
        for fanout in fanouts:
            these = [
                c
                for c in clients
                if not (args.small and c == "httpx pool" and fanout > SMALL_HTTPX_POOL_MAX)
            ]
            solo, results = asyncio.run(measure(redis.url, fanout, rounds, these, baseline))
            _print(solo, results)
            everything += results
    return everything


if __name__ == "__main__":
    main()
