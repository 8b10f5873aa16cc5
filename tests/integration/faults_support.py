"""Pieces shared by the fault scenarios: commands on named stores, store reads, odd peers.

Every command runs in a real subprocess, as in ``test_cli``; each named store gets its own
working directory, settings file and output files, so several "operators" can share one
test. The loopback peers here (a trickling portal, a talkative ASBC) are aiohttp servers of
the test's own, bound to 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml
from aiohttp import web

from switchover.domain.events import Event, EventType
from switchover.domain.records import Task
from switchover.domain.status import TaskStatus
from switchover.fleet.fleet import Fleet
from switchover.stores.sqlite import SqliteStore
from tests.integration.conftest import KEY_PREFIX, plan_doc, settings_values
from tests.integration.test_cli import COMMAND_TIMEOUT, Cli, Result

SWITCHOVER = Path(sys.executable).with_name("switchover")
"""The ``switchover`` console script of the interpreter running the tests."""


def command_env() -> dict[str, str]:
    """The environment of every command: no ``SWITCHOVER_*`` leaking in, plain output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHOVER_")}
    return env | {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}


# ----------------------------------------------------------------------------- commands


@dataclass
class Operator:
    """One operator's corner: a store, a settings file, a working directory, a ``Cli``."""

    name: str
    workdir: Path
    store_path: Path
    config: Path
    cli: Cli


class Operators:
    """Makes operators pointing at the test's Redis and fleet; kills their leftovers on close."""

    def __init__(self, root: Path, redis_url: str, fleet: Fleet) -> None:
        self._root = root
        self._redis_url = redis_url
        self._fleet = fleet
        self._made: list[Operator] = []

    def make(self, name: str = "ops", **overrides: Any) -> Operator:
        """An operator with store ``<root>/<name>/<name>.db``; keyword args override settings."""
        workdir = self._root / name
        workdir.mkdir(parents=True, exist_ok=True)
        store = workdir / f"{name}.db"
        values = settings_values(store, self._redis_url, self._fleet, **overrides)
        config = workdir / f"{name}.yaml"
        config.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
        operator = Operator(name, workdir, store, config, Cli(workdir, store, config))
        self._made.append(operator)
        return operator

    async def close(self) -> None:
        """Kill whatever any operator started and is still running (stopped ones too)."""
        for operator in self._made:
            for proc in operator.cli._procs:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGCONT)  # a stopped process cannot die
            await operator.cli.close()


async def run_argv(argv: list[str], cwd: Path) -> Result:
    """Run a command line as given (killed after ``COMMAND_TIMEOUT`` seconds)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=command_env(),
    )
    try:
        async with asyncio.timeout(COMMAND_TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def write_plan_file(
    path: Path,
    plan_id: str,
    tenants: list[dict[str, Any]],
    *,
    version: int | None = None,
    max_concurrency: int = 4,
) -> Path:
    """A plan file in YAML (``plan_doc``), optionally at another plan version."""
    doc = plan_doc(plan_id, tenants, max_concurrency=max_concurrency)
    if version is not None:
        doc["plan"]["version"] = version
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- store


@asynccontextmanager
async def reading(path: Path) -> AsyncIterator[SqliteStore]:
    """The store at ``path`` opened from the test process (schema created when missing)."""
    store = SqliteStore(path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def all_events(store: SqliteStore, plan_id: str) -> list[Event]:
    """Every event of the plan, in sequence order."""
    return await store.read_events(plan_id, 0, 1_000_000)


async def poll(
    check: Callable[[], Awaitable[bool]], within: float, what: str, interval: float = 0.02
) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            # What is polled lives in the store or in other processes: nothing to await.
            while not await check():  # noqa: ASYNC110
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"not within {within:.1f}s: {what}") from None


async def task_of(store: SqliteStore, tenant_id: str) -> Task:
    """The tenant's most recent task as stored."""
    task = await store.find_task(tenant_id)
    assert task is not None, f"no task for tenant {tenant_id}"
    return task


def store_is_writable(path: Path) -> bool:
    """Whether no process holds the store's write lock right now."""
    conn = sqlite3.connect(path, timeout=0.0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


async def stopped(pid: int, within: float = 10.0) -> None:
    """Wait until every thread of process ``pid`` is stopped (state ``T`` in /proc)."""

    def states() -> set[str]:
        found = set()
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            with contextlib.suppress(OSError):  # a thread that just ended
                found.add(stat.read_text().rsplit(")", 1)[1].split()[0])
        return found

    deadline = time.monotonic() + within
    while states() - {"T", "t"}:
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} did not stop: threads in states {states()}")
        await asyncio.sleep(0.001)


async def freeze(proc: asyncio.subprocess.Process, store_path: Path) -> None:
    """SIGSTOP ``proc`` at a moment it holds no write transaction on the store.

    A process frozen inside a transaction would block every other writer for reasons that
    have nothing to do with what a scenario examines; such a moment is skipped.
    """
    for _ in range(200):
        proc.send_signal(signal.SIGSTOP)
        await stopped(proc.pid)  # a signal is delivered later: it may still take a lock
        if store_is_writable(store_path):
            return
        proc.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.005)
    raise AssertionError("the process never left its store transaction")


def counted(events: Iterable[Event], kind: EventType) -> dict[tuple[str | None, str | None], int]:
    """How often each ``(task_id, stage)`` has an event of ``kind``."""
    found: dict[tuple[str | None, str | None], int] = {}
    for event in events:
        if event.type is kind:
            key = (event.task_id, event.stage)
            found[key] = found.get(key, 0) + 1
    return found


def leftover(tasks: Iterable[Task]) -> dict[str, str]:
    """Tasks still executing or queued: ``task_id -> status``."""
    return {
        t.task_id: t.status.value
        for t in tasks
        if t.status in (TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.ROLLING_BACK)
    }


# ----------------------------------------------------------------------------- redis


async def tenant_hash(client: aioredis.Redis, tenant_id: str) -> dict[str, str]:
    """The tenant's config hash as Redis stores it."""
    return dict(await client.hgetall(KEY_PREFIX + tenant_id))


async def stored_version(client: aioredis.Redis, tenant_id: str) -> Any:
    """``metadata.version`` of the tenant's hash (None when absent)."""
    raw = await client.hget(KEY_PREFIX + tenant_id, "metadata")
    return json.loads(raw).get("version") if raw else None


# ----------------------------------------------------------------------------- peers


@dataclass
class Peer:
    """A loopback HTTP server of the test's own, and the Authorization headers it received."""

    runner: web.AppRunner
    port: int
    authorizations: list[str] = field(default_factory=list)
    requests: int = 0

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as discovery lists it."""
        return f"127.0.0.1:{self.port}"


@asynccontextmanager
async def serving(
    handler: Callable[[web.Request, Peer], Awaitable[web.StreamResponse]],
) -> AsyncIterator[Peer]:
    """Serve every method and path with ``handler`` on a free loopback port."""
    peer: Peer | None = None

    async def route(request: web.Request) -> web.StreamResponse:
        assert peer is not None
        peer.requests += 1
        peer.authorizations.append(request.headers.get("Authorization", ""))
        return await handler(request, peer)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    peer = Peer(runner, port)
    try:
        yield peer
    finally:
        await runner.cleanup()


async def trickle(request: web.Request, peer: Peer) -> web.StreamResponse:
    """A valid HTTP head, then the body one byte every 0.3 s, for ever."""
    await request.read()
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = 1_000_000
    await response.prepare(request)
    try:
        while True:
            await response.write(b" ")
            await asyncio.sleep(0.3)
    except (ConnectionError, RuntimeError):
        pass  # the client went away
    return response


async def quote_authorization(request: web.Request, peer: Peer) -> web.StreamResponse:
    """HTTP 401 whose body repeats the request's Authorization header, twice."""
    await request.read()
    given = request.headers.get("Authorization", "")
    body = {
        "code": 401,
        "message": f"rejected Authorization: {given}",
        "data": {"failList": [{"number": "4001*", "message": given}]},
    }
    return web.json_response(body, status=401)
