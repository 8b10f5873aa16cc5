"""The server and its API: submitting, following over SSE, scraping, and the engine under it.

Every server is ``switchover serve``'s own (``switchover.server.build``: the FastAPI app, the
metrics wiring, uvicorn in the engine's event loop, the collector tuned as the command tunes
it) on a fresh ``SqliteStore`` (WAL, ``synchronous=FULL``), in a subprocess of its own,
listening on a free 127.0.0.1 port bound as the server binds it (``server._bind``); only its
engine's stages are the no-op ones of ``bench.noop``. The clients (httpx) run in this process.
Parts:

1. ``POST /plans`` of a 10,000-tenant JSON plan (every tenant with endpoints, number rules and
   a previous config): seconds until the 201, on a warmed-up server, one server per repeat,
   and the slowest ``GET /healthz`` meanwhile (how long the event loop was held);
2. 10 concurrent SSE followers (``Accept: text/event-stream``) of a 10,000-tenant no-op plan:
   events/s each, lag from an event's ``at`` to its receipt, and whether every follower got
   every event exactly once, in ``seq`` order;
3. ``GET /metrics`` with 100,000 tasks in the store (10 plans of 10,000, already run), on one
   kept-alive connection and on a new connection per scrape;
4. tasks/s of the same 10,000-tenant no-op plan under the server (submitted with ``POST
   /plans``, completion read with ``GET /plans/{id}``) and on the bare engine (``Engine`` on a
   ``SqliteStore``, as ``bench.engine_overhead``), alternating, one subprocess each; ratio of
   the medians serve / bare (aim ≥ 0.9).

Figures are min / median / max over the repeats (3 by default); ``--small``: 2,000-tenant
plans (500 for the followers) and 10,000 stored tasks, about a minute.

    python -m bench.serve_api [--small] [--repeats R] [--parts 1,2,3,4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvicorn

from bench.machine import header, peak_rss_mib
from bench.noop import NoDiscovery, NoopBuilder, noop_spec
from switchover.clock import SystemClock
from switchover.domain.planfile import parse_plan_bytes
from switchover.engine.engine import Engine
from switchover.process import tuned_collector
from switchover.server import _bind, build, uvicorn_config
from switchover.settings import ServerSettings, Settings
from switchover.stores.sqlite import SqliteStore
from switchover.views import parse_timestamp
from switchover.wiring import Runtime

CONCURRENCY = 100
FOLLOWERS = 10
SCRAPES = 10
TOKEN_ENV = "SERVE_API_BENCH_TOKEN"
AIM_RATIO = 0.9
SETTLED = ("COMPLETED", "FAILED", "CANCELLED")
PLAN_END = (b"PlanCompleted", b"PlanFailed", b"PlanCancelled")


@dataclass(frozen=True, slots=True)
class Sizes:
    submit: int
    follow: int
    scrape_plans: int
    scrape_tenants: int
    throughput: int


FULL = Sizes(
    submit=10_000, follow=10_000, scrape_plans=10, scrape_tenants=10_000, throughput=10_000
)
SMALL = Sizes(submit=2_000, follow=500, scrape_plans=10, scrape_tenants=1_000, throughput=2_000)


# ----------------------------------------------------------------------------- plan bodies


def noop_body(plan_id: str, tenants: int, prefix: str = "tenant") -> bytes:
    """The plan file (JSON, ``{plan, tenants}``) that parses to ``noop_spec``'s plan."""
    doc = {
        "plan": {"id": plan_id, "version": 20, "max_concurrency": CONCURRENCY},
        "tenants": [
            {
                "tenantId": f"{prefix}-{index:06d}",
                "deployUnitName": "green",
                "sourceTenantDeployConfig": {
                    "planId": "previous",
                    "planVersion": 19,
                    "deployUnitName": "blue",
                },
            }
            for index in range(tenants)
        ],
    }
    return json.dumps(doc).encode()


def full_body(plan_id: str, tenants: int) -> bytes:
    """A plan file with every field a tenant has: unit, endpoint, number rules, previous."""
    rows = []
    for index in range(tenants):
        tenant = f"tenant-{index:06d}"
        previous = {
            "planVersion": 19,
            "nacosNameSpace": "bench-ns",
            "deployUnitId": 1,
            "deployUnitVersion": 19,
            "deployUnitName": "blue",
            "networkEndpoints": [
                {
                    "key": f"{tenant}-web",
                    "sourceDomain": f"{tenant}.example.com",
                    "targetIp": "192.0.2.10",
                }
            ],
            "calledNumberRules": "4001*,4002*",
            "trunkGroup": "tg-blue",
        }
        rows.append(
            {
                "tenantId": tenant,
                "nacosNameSpace": "bench-ns",
                "deployUnitId": 2,
                "deployUnitVersion": 20,
                "deployUnitName": "green",
                "networkEndpoints": [
                    {
                        "key": f"{tenant}-web",
                        "sourceDomain": f"{tenant}.example.com",
                        "targetDomain": f"{tenant}.green.internal",
                    }
                ],
                "calledNumberRules": " 4001*, 4002* ,",
                "trunkGroup": "tg-green",
                "sourceTenantDeployConfig": previous,
            }
        )
    doc = {"plan": {"id": plan_id, "version": 20, "max_concurrency": CONCURRENCY}, "tenants": rows}
    return json.dumps(doc).encode()


def _check_bodies() -> None:
    """The no-op body is the very plan ``noop_spec`` builds; the full body is a valid plan."""
    if parse_plan_bytes(noop_body("bench", 3)) != noop_spec(3, CONCURRENCY):
        raise RuntimeError("noop_body does not parse to noop_spec's plan")
    parse_plan_bytes(full_body("bench", 3))


# ----------------------------------------------------------------------------- the server side


def _server_section() -> str:
    """The name of the settings section holding the API tokens (``ServerSettings``)."""
    for info in msgspec.structs.fields(Settings):
        if info.type is ServerSettings:
            return info.name
    raise RuntimeError("Settings has no ServerSettings section")


class _Redis:
    """The runtime's Redis client, for the readiness probe only (no stage talks to Redis)."""

    async def ping(self) -> bool:
        return True


class _Uvicorn(uvicorn.Server):
    """uvicorn's server without its signal handlers: the parent ends it by closing stdin."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_child(build_plans: int, build_tenants: int, directory: Path) -> dict[str, Any]:
    """Serve the API over a no-op engine until stdin closes; what the process spent meanwhile.

    Prints ``{"url": ...}`` once listening. With ``build_plans``, first runs that many plans
    of ``build_tenants`` no-op tasks on the engine (the store of part 3).
    """
    token = os.environ[TOKEN_ENV]
    path = directory / "bench.db"
    tokens = {"tokens": [{"name": "bench", "role": "operator", "token": token}]}
    # No-op stages have no targets to preflight.
    settings = Settings.of(store=path, engine={"preflight": False}, **{_server_section(): tokens})
    store = SqliteStore(path)
    await store.open()
    builder, discovery, clock = NoopBuilder(), NoDiscovery(), SystemClock()

    def make_engine() -> Engine:
        return Engine(store, builder, settings=settings, discovery=discovery, clock=clock)

    rt = Runtime(settings, store, builder, discovery, make_engine, clock, _Redis())  # type: ignore[arg-type]
    session = rt.session()
    try:
        engine = await session.serve()
        built_s = 0.0
        if build_plans:
            start = time.perf_counter()
            for index in range(build_plans):
                spec = noop_spec(build_tenants, CONCURRENCY, plan_id=f"done-{index:02d}")
                await engine.submit_plan(spec)
            await engine.wait_idle()
            built_s = time.perf_counter() - start
        served = build(rt, session, engine, None)
        server = _Uvicorn(uvicorn_config(served.app))
        sock = _bind("127.0.0.1", 0)  # the listening socket exactly as `switchover serve` binds it
        with contextlib.closing(sock):
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started:
                if serving.done():
                    await serving
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
            port = sock.getsockname()[1]
            print(json.dumps({"url": f"http://127.0.0.1:{port}", "built_s": built_s}), flush=True)
            cpu, loop_cpu = time.process_time(), time.thread_time()
            await asyncio.to_thread(sys.stdin.read)  # the parent closes stdin when done
            cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
            server.should_exit = True
            await serving
        served.detach()
    finally:
        await session.close()
        await store.close()
    return {"cpu_s": cpu, "loop_cpu_s": loop_cpu, "peak_rss_mib": peak_rss_mib()}


async def bare_child(tenants: int, directory: Path) -> dict[str, Any]:
    """The same plan on the bare engine: seconds to submit, seconds from submitted to done."""
    store = SqliteStore(directory / "bench.db")
    await store.open()
    settings = Settings(store=directory / "bench.db")
    try:
        engine = Engine(store, NoopBuilder(), settings=settings, discovery=NoDiscovery())
        async with engine:
            await engine.submit_plan(noop_spec(10, CONCURRENCY, plan_id="warmup"))
            await engine.wait_idle()
            spec = noop_spec(tenants, CONCURRENCY)
            start = time.perf_counter()
            await engine.submit_plan(spec)
            submitted, submitted_wall = time.perf_counter(), time.time()
            cpu = time.process_time()
            await engine.wait_idle()
            cpu = time.process_time() - cpu
            plan = await engine.get_plan(spec.plan_id)
        if plan.status.value != "COMPLETED":
            raise RuntimeError(f"plan ended {plan.status.value}, not COMPLETED")
    finally:
        await store.close()
    # As on the served side: from the submission's return to the plan's completion time.
    return {
        "submit_s": submitted - start,
        "run_s": plan.updated_at - submitted_wall,
        "cpu_s": cpu,
        "peak_rss_mib": peak_rss_mib(),
    }


# ----------------------------------------------------------------------------- the client side


@dataclass
class ServerProcess:
    url: str
    token: str
    pid: int
    built_s: float
    stats: dict[str, Any] = field(default_factory=dict)

    def cpu(self) -> float:
        """CPU seconds the server process has used so far (all its threads)."""
        return process_cpu(self.pid)

    def client(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=httpx.Timeout(300.0),
            **options,
        )


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process, from ``/proc/PID/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    """The 1-minute load average: other work on the machine shows here."""
    return f"{os.getloadavg()[0]:.1f}"


def _child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.serve_api", *args]


@asynccontextmanager
async def server_process(
    build_plans: int = 0, build_tenants: int = 0
) -> AsyncIterator[ServerProcess]:
    """A server in a subprocess; on exit it stops, and ``stats`` holds what it spent."""
    token = secrets.token_urlsafe(24)
    env = {**os.environ, TOKEN_ENV: token}
    args = ["--serve-child", "--build", f"{build_plans},{build_tenants}"]
    with tempfile.TemporaryFile() as errors:
        proc = await asyncio.create_subprocess_exec(
            *_child_command(*args),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
            env=env,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None

        def failure(what: str) -> RuntimeError:
            errors.seek(0)
            text = errors.read().decode(errors="replace")[-4000:]
            return RuntimeError(f"server process {what} (exit {proc.returncode}):\n{text}")

        try:
            line = await proc.stdout.readline()
            if not line:
                await proc.wait()
                raise failure("did not start")
            ready = json.loads(line)
            served = ServerProcess(ready["url"], token, proc.pid, ready["built_s"])
            yield served
            proc.stdin.close()
            out = await asyncio.wait_for(proc.stdout.read(), 120)
            if await proc.wait() != 0:
                raise failure("failed")
            served.stats.update(json.loads(out.decode().strip().splitlines()[-1]))
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def bare_process(tenants: int) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        *_child_command("--bare-child", str(tenants)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bare engine process failed:\n{err.decode(errors='replace')[-4000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def submit(http: httpx.AsyncClient, body: bytes) -> float:
    """POST the plan; seconds until its 201."""
    start = time.perf_counter()
    response = await http.post("/plans", content=body, headers={"Content-Type": "application/json"})
    elapsed = time.perf_counter() - start
    if response.status_code != 201:
        raise RuntimeError(f"POST /plans: {response.status_code} {response.text[:500]}")
    return elapsed


async def wait_settled(
    http: httpx.AsyncClient, plan_id: str, every: float = 0.25
) -> dict[str, Any]:
    """Poll ``GET /plans/{id}`` until the plan settles; the plan as last read."""
    while True:
        response = await http.get(f"/plans/{plan_id}", params={"limit": 1})
        response.raise_for_status()
        plan: dict[str, Any] = response.json()
        if plan["status"] in SETTLED:
            if plan["status"] != "COMPLETED":
                raise RuntimeError(f"plan {plan_id} ended {plan['status']}, not COMPLETED")
            return plan
        await asyncio.sleep(every)


async def warm_up(http: httpx.AsyncClient) -> None:
    """A first small plan through the API, run to its end: the server's first-call costs."""
    await submit(http, noop_body("warmup", 10, prefix="warm"))
    await wait_settled(http, "warmup", every=0.05)


def spread(values: Sequence[float], unit: str = "s", digits: int = 2) -> str:
    return (
        f"min {min(values):.{digits}f} {unit}  median {statistics.median(values):.{digits}f} "
        f"{unit}  max {max(values):.{digits}f} {unit}"
    )


def counts(values: Sequence[float]) -> str:
    """min / median / max of large numbers, without decimals."""
    return f"{min(values):,.0f} / {statistics.median(values):,.0f} / {max(values):,.0f}"


# ----------------------------------------------------------------------------- part 1


async def part_submit(tenants: int, repeats: int) -> list[float]:
    body = full_body("bench", tenants)
    print(
        f"1. POST /plans: a {tenants:,}-tenant JSON plan (every field, previous configs; "
        f"{len(body) / 1024**2:.1f} MiB), one fresh server per repeat, warmed up by a "
        f"10-tenant plan; load {load()}",
        flush=True,
    )
    times, stalls = [], []
    for _ in range(repeats):
        async with (
            server_process() as served,
            served.client() as http,
            served.client() as prober,
        ):
            await warm_up(http)
            (await prober.get("/healthz")).raise_for_status()
            done = asyncio.Event()
            probing = asyncio.create_task(probe(prober, done))
            try:
                times.append(await submit(http, body))
            finally:
                done.set()
            stalls.append(await probing)
        print(
            f"   201 after {times[-1]:.2f} s; slowest /healthz meanwhile {stalls[-1]:.2f} s",
            flush=True,
        )
    median = statistics.median(times)
    print(f"   seconds until the 201: {spread(times)}; {tenants / median:,.0f} tenants/s (median)")
    print(f"   slowest GET /healthz during the POST (the event loop held): {spread(stalls)}")
    return times


async def probe(http: httpx.AsyncClient, done: asyncio.Event) -> float:
    """GET /healthz every 20 ms until ``done``; the slowest answer, in seconds."""
    slowest = 0.0
    while not done.is_set():
        start = time.perf_counter()
        (await http.get("/healthz")).raise_for_status()
        slowest = max(slowest, time.perf_counter() - start)
        await asyncio.sleep(0.02)
    return slowest


# ----------------------------------------------------------------------------- part 2


@dataclass
class Followed:
    """What one SSE follower received."""

    opened: float = 0.0
    last: float = 0.0
    seqs: list[int] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    """Receipt minus ``at``, for events committed after the stream opened."""
    backlog: int = 0
    """Events committed before the stream opened (read back first)."""

    @property
    def rate(self) -> float:
        return len(self.seqs) / max(self.last - self.opened, 1e-9)


async def follow(http: httpx.AsyncClient, plan_id: str) -> Followed:
    """Follow the plan's SSE stream until its end event; every frame's seq and lag."""
    got = Followed()
    headers = {"Accept": "text/event-stream"}
    async with http.stream("GET", f"/plans/{plan_id}/events", headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"SSE: {response.status_code}")
        got.opened = time.time()
        pending = b""
        async for chunk in response.aiter_bytes():
            now = time.time()
            *frames, pending = (pending + chunk).split(b"\n\n")
            for frame in frames:
                seq, kind, data = None, b"", b""
                for line in frame.split(b"\n"):
                    if line.startswith(b"id: "):
                        seq = int(line[4:])
                    elif line.startswith(b"event: "):
                        kind = line[7:]
                    elif line.startswith(b"data: "):
                        data = line[6:]
                if seq is None:
                    continue  # the retry line, keepalives
                at = parse_timestamp(json.loads(data)["at"])
                got.seqs.append(seq)
                if at >= got.opened:
                    got.lags.append(now - at)
                else:
                    got.backlog += 1
                got.last = now
                if kind in PLAN_END:
                    return got
    raise RuntimeError("the stream ended before the plan's end event")


async def stored_seqs(http: httpx.AsyncClient, plan_id: str) -> list[int]:
    """Every seq of the plan's events, read with the JSON pages."""
    seqs: list[int] = []
    since = 0
    while True:
        response = await http.get(f"/plans/{plan_id}/events", params={"since": since})
        response.raise_for_status()
        page = response.json()
        seqs += [event["seq"] for event in page["events"]]
        if not page["events"]:
            return seqs
        since = page["next"]


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def part_follow(tenants: int, repeats: int) -> dict[str, list[float]]:
    print(
        f"2. SSE: {FOLLOWERS} followers (one httpx client and connection each, opened before the "
        f"submission) of a {tenants:,}-tenant no-op plan, concurrency {CONCURRENCY}, streams "
        f"started right after the 201; lag = receipt − the event's `at`; load {load()}",
        flush=True,
    )
    body = noop_body("bench", tenants)
    keys = ("rate", "lag_median", "lag_p99", "lag_max", "tasks_s", "server_us", "client_us")
    figures: dict[str, list[float]] = {key: [] for key in keys}
    verdicts = []
    for _ in range(repeats):
        async with server_process() as served, contextlib.AsyncExitStack() as stack:
            http = await stack.enter_async_context(served.client())
            clients = [await stack.enter_async_context(served.client()) for _ in range(FOLLOWERS)]
            for client in clients:  # open each follower's connection now
                (await client.get("/healthz")).raise_for_status()
            await warm_up(http)
            await submit(http, body)
            submitted = time.time()
            cpu, server_cpu = time.process_time(), served.cpu()
            followers = await asyncio.gather(*(follow(client, "bench") for client in clients))
            cpu, server_cpu = time.process_time() - cpu, served.cpu() - server_cpu
            plan = await wait_settled(http, "bench")
            stored = await stored_seqs(http, "bench")
        exact = sum(f.seqs == stored for f in followers)
        gapless = stored == list(range(1, len(stored) + 1))
        verdicts.append(exact == FOLLOWERS and gapless)
        lags = [lag for f in followers for lag in f.lags]
        delivered = sum(len(f.seqs) for f in followers)
        figures["rate"] += [f.rate for f in followers]
        figures["lag_median"].append(statistics.median(lags))
        figures["lag_p99"].append(_pct(lags, 0.99))
        figures["lag_max"].append(max(lags))
        figures["tasks_s"].append(tenants / (parse_timestamp(plan["updated_at"]) - submitted))
        figures["server_us"].append(server_cpu / delivered * 1e6)
        figures["client_us"].append(cpu / delivered * 1e6)
        backlogs = sorted(f.backlog for f in followers)
        print(
            f"   {len(stored):,} events; {exact}/{FOLLOWERS} followers got each exactly once, in "
            f"seq order (store's seqs 1..{len(stored):,} gapless: {gapless}); committed before "
            f"the streams opened: {backlogs[0]:,}–{backlogs[-1]:,}; lag median "
            f"{figures['lag_median'][-1]:.2f} s, max {figures['lag_max'][-1]:.2f} s; "
            f"{statistics.median(f.rate for f in followers):,.0f} events/s per follower; "
            f"engine {figures['tasks_s'][-1]:,.0f} tasks/s; CPU per event delivered: server "
            f"{figures['server_us'][-1]:.0f} µs, clients {figures['client_us'][-1]:.0f} µs",
            flush=True,
        )
    print(f"   events/s per follower ({len(figures['rate'])} streams): {counts(figures['rate'])}")
    print(f"   lag, median of each run:       {spread(figures['lag_median'])}")
    print(f"   lag, 99th percentile of each:  {spread(figures['lag_p99'])}")
    print(f"   lag, max of each run:          {spread(figures['lag_max'])}")
    print(f"   engine tasks/s while followed: {counts(figures['tasks_s'])}")
    print(
        f"   CPU µs per event delivered: server {counts(figures['server_us'])}, "
        f"clients {counts(figures['client_us'])}"
    )
    verdict = "yes" if all(verdicts) else "NO"
    print(f"   every follower received every event exactly once, in seq order: {verdict}")
    return figures


# ----------------------------------------------------------------------------- part 3


async def part_scrape(plans: int, tenants: int) -> dict[str, list[float]]:
    print(
        f"3. GET /metrics with {plans * tenants:,} tasks in the store ({plans} plans of "
        f"{tenants:,} no-op tasks, already run), {SCRAPES} scrapes on one kept-alive connection "
        f"(as Prometheus scrapes), then {SCRAPES} on a new connection each; load {load()}",
        flush=True,
    )
    ms: dict[str, list[float]] = {"kept-alive": [], "new connection": []}
    cpu: dict[str, float] = {}
    async with (
        server_process(plans, tenants) as served,
        served.client() as kept,
        served.client(limits=httpx.Limits(max_keepalive_connections=0)) as fresh,
    ):
        size = 0
        for name, http in (("kept-alive", kept), ("new connection", fresh)):
            used = served.cpu()
            for _ in range(SCRAPES):
                start = time.perf_counter()
                response = await http.get("/metrics")
                ms[name].append((time.perf_counter() - start) * 1000)
                response.raise_for_status()
                size = len(response.content)
            cpu[name] = (served.cpu() - used) / SCRAPES * 1000
    print(f"   store built in {served.built_s:.0f} s; exposition {size / 1024:.1f} KiB")
    for name, times in ms.items():
        print(
            f"   {name:>14}: first {times[0]:.1f} ms; all {spread(times, 'ms', 1)}; "
            f"server CPU {cpu[name]:.1f} ms a scrape"
        )
    return ms


# ----------------------------------------------------------------------------- part 4


async def serve_side(tenants: int) -> dict[str, Any]:
    body = noop_body("bench", tenants)
    async with server_process() as served, served.client() as http:
        await warm_up(http)
        submit_s = await submit(http, body)
        submitted, cpu = time.time(), served.cpu()
        plan = await wait_settled(http, "bench")
        cpu = served.cpu() - cpu
    return {
        "submit_s": submit_s,
        "run_s": parse_timestamp(plan["updated_at"]) - submitted,
        "cpu_s": cpu,
        "peak_rss_mib": served.stats["peak_rss_mib"],
    }


async def part_throughput(tenants: int, repeats: int) -> float:
    print(
        f"4. engine throughput, {tenants:,}-tenant no-op plan, concurrency {CONCURRENCY}: served "
        f"(POST /plans, then GET /plans/bench every 0.25 s) vs bare (Engine.submit_plan, "
        f"wait_idle), alternating; run = submission's return → plan's completion; load {load()}",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "serve": []}
    for _ in range(repeats):
        runs["bare"].append(await bare_process(tenants))
        runs["serve"].append(await serve_side(tenants))
        print(
            "   "
            + "; ".join(
                f"{side} {tenants / r[-1]['run_s']:,.0f} tasks/s, "
                f"{r[-1]['cpu_s'] / tenants * 1000:.2f} CPU ms/task"
                for side, r in runs.items()
            ),
            flush=True,
        )
    rates = {side: [tenants / r["run_s"] for r in rs] for side, rs in runs.items()}
    cpu = {side: [r["cpu_s"] / tenants * 1000 for r in rs] for side, rs in runs.items()}
    for side in ("bare", "serve"):
        submits = [r["submit_s"] for r in runs[side]]
        rss = max(r["peak_rss_mib"] for r in runs[side])
        print(
            f"   {side:>5}: {counts(rates[side])} tasks/s; CPU ms/task "
            f"{spread(cpu[side], 'ms')}; submit median {statistics.median(submits):.2f} s; "
            f"peak RSS ≤ {rss:,.0f} MiB"
        )
    ratio = statistics.median(rates["serve"]) / statistics.median(rates["bare"])
    cpu_ratio = statistics.median(cpu["serve"]) / statistics.median(cpu["bare"])
    verdict = "met" if ratio >= AIM_RATIO else "not met"
    print(
        f"   serve / bare, medians: tasks/s {ratio:.2f} (aim ≥ {AIM_RATIO}: {verdict}); "
        f"CPU per task {cpu_ratio:.2f}"
    )
    return ratio


# ----------------------------------------------------------------------------- main


async def run(sizes: Sizes, repeats: int, parts: set[int]) -> None:
    _check_bodies()
    if 1 in parts:
        await part_submit(sizes.submit, repeats)
    if 2 in parts:
        await part_follow(sizes.follow, repeats)
    if 3 in parts:
        await part_scrape(sizes.scrape_plans, sizes.scrape_tenants)
    if 4 in parts:
        await part_throughput(sizes.throughput, repeats)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--small", action="store_true", help="2k-tenant plans (500 followed), 10k stored tasks"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="1,2,3,4", help="which parts to run, e.g. 1,4")
    parser.add_argument("--serve-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--build", default="0,0", help=argparse.SUPPRESS)
    parser.add_argument("--bare-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_child or args.bare_child:
        # The collector tuned as the switchover command tunes it for its engines.
        with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp, tuned_collector():
            if args.serve_child:
                plans, tenants = (int(n) for n in args.build.split(","))
                stats = asyncio.run(serve_child(plans, tenants, Path(tmp)))
            else:
                stats = asyncio.run(bare_child(args.bare_child, Path(tmp)))
        print(json.dumps(stats), flush=True)
        return
    sizes = SMALL if args.small else FULL
    parts = {int(p) for p in args.parts.split(",")}
    header("server and API: submit, SSE followers, /metrics, the engine under uvicorn vs bare")
    print(f"   uvicorn {uvicorn.__version__}, httpx {httpx.__version__}; {args.repeats} repeats")
    start = time.perf_counter()
    asyncio.run(run(sizes, args.repeats, parts))
    print(f"bench.serve_api: {time.perf_counter() - start:.0f} s; load {load()}")


if __name__ == "__main__":
    main()
