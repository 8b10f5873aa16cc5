"""Front-end queries on a big SqliteStore, and the cost of a stage boundary's task row.

Part 1 builds a store of N tasks (default 100,000 in 10 plans; ``--small``: 10,000) with about
ten events per task, through the store's own ``create_plan`` and ``commit`` (one commit per
1,000 tasks), then times every query the ``status`` views are built from — 5 repeats,
min/median/max — next to the way they were answered before: ``list_plans`` plus
``list_tasks`` of every plan, counted in Python; then ``status``, ``status PLAN`` and
``status --tenant T`` end to end, each a process of its own (target: under 0.3 s).

Part 2 times the task row written at every stage boundary, 10,000 tasks with realistic
configs (two network endpoints, called-number rules, a previous config): encoding the whole
row, configs included, as the tasks table held it before the configs moved to a column of
their own, versus encoding the run fields alone; then encoding and writing those rows in
transactions of 100 (``synchronous=FULL``, WAL) in each schema's own table and statement.

Run: ``python -m bench.store_queries [--small] [--tasks N] [--plans P] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from bench.machine import header, peak_rss_mib
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Checkpoint, Plan, Task
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ErrorType
from switchover.stores.codec import (
    config_to_dict,
    dumps,
    encode_task_configs,
    encode_task_run,
    task_run_to_dict,
    task_to_dict,
)
from switchover.stores.protocol import Change
from switchover.stores.sqlite import SqliteStore
from switchover.stores.sqlite_txn import MIGRATIONS

STAGES = ("asbc-gateway", "portal", "blue-green-gateway", "ob-service")
TENANT_POOL = 25_000  # tenants are switched again by later plans: each is in several plans
COMMIT_TASKS = 1_000
ROW_TASKS = 10_000
ROWS_PER_TXN = 100

TARGET_QUERY_S = 0.3
FLOOR = "import typer, rich.console, rich.table, asyncio, sqlite3, msgspec, dataclasses"
"""What any status command imports before a line of its own runs: the floor of its start."""
TARGET_EVENTS_S = 1.0
EVENT_PAGE = 10_000

_T = TaskStatus


# -- the data ------------------------------------------------------------------------------


def tenant_config(tenant: str, plan_id: str, version: int, unit: str) -> TenantConfig:
    """A config as plan files carry them: two routes, called-number rules, a trunk group."""
    return TenantConfig(
        tenant_id=tenant,
        plan_id=plan_id,
        plan_version=version,
        deploy_unit_id=version % 7 + 1,
        deploy_unit_version=3,
        deploy_unit_name=unit,
        network_endpoints=(
            NetworkEndpoint("route-sip", source_ip="10.12.0.17", target_domain=f"sip.{unit}.io"),
            NetworkEndpoint(
                "route-media", source_domain=f"media.{tenant}.io", target_ip="10.40.3.200"
            ),
        ),
        nacos_namespace=f"ns-{unit}",
        called_number_rules=("4001*", "4002*", "8008*", "95566"),
        trunk_group=f"trunk-{unit}",
        default_flag=False,
    )


def make_task(plan_id: str, position: int, tenant: str, now: float) -> Task:
    """A PENDING task moving ``tenant`` blue → green, with its previous config."""
    return Task(
        task_id=f"{plan_id}/{tenant}",
        plan_id=plan_id,
        tenant_id=tenant,
        position=position,
        config=tenant_config(tenant, plan_id, 20, "green"),
        previous=tenant_config(tenant, "plan-v19", 19, "blue"),
        status=_T.PENDING,
        created_at=now,
        updated_at=now,
        stages=STAGES,
    )


def final_status(live: bool, position: int) -> TaskStatus:
    """Where a task ended: the most recent plan is still running, older ones are settled."""
    if live:
        if position % 250 == 0:
            return _T.RUNNING
        if position % 997 == 1:
            return _T.ROLLING_BACK
        if position % 499 == 2:
            return _T.PAUSED
        if position % 53 == 3:
            return _T.FAILED
        return _T.PENDING if position % 10 < 3 else _T.COMPLETED
    if position % 61 == 0:
        return _T.FAILED
    if position % 211 == 1:
        return _T.ROLLED_BACK
    return _T.CANCELLED if position % 293 == 2 else _T.COMPLETED


_FAILURE = FailureInfo(
    ErrorType.HEALTH_CHECK_FAILED,
    "2 of 3 instances never reported version 20",
    stage="blue-green-gateway",
    step="verify",
    retryable=True,
    details={"instances": [{"host": "10.0.0.1:8080", "last": "19"}]},
)


def settle(task: Task, status: TaskStatus, now: float) -> tuple[Task, list[Event]]:
    """The task as it ended, and the events that brought it there after TaskCreated."""

    def event(kind: EventType, stage: str | None = None, **more: Any) -> Event:
        return Event(
            task.plan_id, kind, now, task.task_id, task.tenant_id, "RUNNING", stage, **more
        )

    if status is _T.PENDING:
        return task, []
    reached = {_T.COMPLETED: 4, _T.RUNNING: 2, _T.PAUSED: 2, _T.CANCELLED: 1}.get(status, 2)
    events = [event(EventType.TASK_STARTED)]
    for stage in STAGES[:reached]:
        events += [event(EventType.STAGE_STARTED, stage), event(EventType.STAGE_COMPLETED, stage)]
    failure = None
    if status in (_T.FAILED, _T.ROLLING_BACK, _T.ROLLED_BACK):
        failure = _FAILURE
        events += [
            event(EventType.STAGE_STARTED, STAGES[reached]),
            event(EventType.STAGE_FAILED, STAGES[reached], failure=failure),
            event(EventType.TASK_FAILED),
        ]
    final = {
        _T.COMPLETED: EventType.TASK_COMPLETED,
        _T.PAUSED: EventType.TASK_PAUSED,
        _T.CANCELLED: EventType.TASK_CANCELLED,
        _T.ROLLING_BACK: EventType.TASK_ROLLING_BACK,
        _T.ROLLED_BACK: EventType.TASK_ROLLED_BACK,
    }.get(status)
    if final is not None:
        events.append(event(final))
    done = STAGES[:reached]
    settled = replace(
        task,
        status=status,
        updated_at=now,
        mode=ExecutionMode.ROLLBACK if status in (_T.ROLLING_BACK, _T.ROLLED_BACK) else task.mode,
        checkpoint=Checkpoint(ExecutionMode.NORMAL, reached - 1, done, now),
        failure=failure,
        current_stage=STAGES[reached] if status in (_T.RUNNING, _T.ROLLING_BACK) else None,
    )
    return settled, events


async def build(store: SqliteStore, tasks: int, plans: int) -> tuple[list[str], int]:
    """Fill ``store`` with ``plans`` plans of ``tasks // plans`` tasks each.

    Returns:
        The plan ids, oldest first, and the number of events written.
    """
    per_plan, plan_ids, events_written = tasks // plans, [], 0
    for index in range(plans):
        plan_id, now = f"plan-{index:02d}", 1_700_000_000.0 + index * 3_600
        plan_ids.append(plan_id)
        live = index == plans - 1
        offset = index * (TENANT_POOL // 10)
        created = [
            make_task(plan_id, i, f"tenant-{(offset + i) % TENANT_POOL:06d}", now)
            for i in range(per_plan)
        ]
        status = PlanStatus.RUNNING if live else PlanStatus.FAILED
        plan = Plan(plan_id, 20, 100, status, per_plan, now, now)
        first = [Event(plan_id, EventType.PLAN_CREATED, now, status=status.value)] + [
            Event(plan_id, EventType.TASK_CREATED, now, t.task_id, t.tenant_id, "PENDING")
            for t in created
        ]
        await store.create_plan(plan, created, first)
        events_written += len(first)
        for start in range(0, per_plan, COMMIT_TASKS):
            chunk, chunk_events = [], []
            for task in created[start : start + COMMIT_TASKS]:
                settled, events = settle(task, final_status(live, task.position), now + 60)
                if events:
                    chunk.append(settled)
                    chunk_events += events
            await store.commit(Change(plan_id, chunk, events=chunk_events))
            events_written += len(chunk_events)
    return plan_ids, events_written


# -- timing --------------------------------------------------------------------------------


def spread(samples: Sequence[float]) -> tuple[float, float, float]:
    """Min, median and max."""
    return min(samples), statistics.median(samples), max(samples)


async def timed(call: Callable[[], Awaitable[object]], repeats: int) -> tuple[list[float], object]:
    """Wall seconds of ``repeats`` calls, and the last call's result."""
    samples, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = await call()
        samples.append(time.perf_counter() - start)
    return samples, result


def row(label: str, samples: Sequence[float], target: float | None, note: str = "") -> None:
    """Print one measured line: min / median / max, and the target when there is one."""
    low, mid, high = spread(samples)
    if target is None:
        verdict = ""
    else:
        verdict = f"  target < {target:g} s: {'met' if high < target else 'NOT met'}"
    print(
        f"   {label:<58} {low * 1e3:>9.1f} {mid * 1e3:>9.1f} {high * 1e3:>9.1f} ms{verdict}{note}"
    )


async def old_all_plans(store: SqliteStore) -> list[tuple[Plan, Counter[TaskStatus]]]:
    """The plan list as front ends built it before: every task of every plan decoded."""
    return [
        (plan, Counter(t.status for t in await store.list_tasks(plan.plan_id)))
        for plan in await store.list_plans()
    ]


async def old_one_plan(store: SqliteStore, plan_id: str) -> tuple[Counter[TaskStatus], list[Task]]:
    """One plan's view as built before: all its tasks decoded, counted, the first 50 shown."""
    tasks = await store.list_tasks(plan_id)
    return Counter(t.status for t in tasks), tasks[:50]


def file_mib(path: Path) -> float:
    """The size of a file in MiB."""
    return path.stat().st_size / 1024**2


def _note(result: object) -> str:
    if isinstance(result, dict):
        return f"  ({sum(result.values()):,} tasks counted)"
    if isinstance(result, list):
        return f"  ({len(result):,} rows)"
    return f"  (= {result})"


async def part_queries(directory: Path, tasks: int, plans: int, repeats: int) -> None:
    """Build the store, then time each query against its target and the old way."""
    path = directory / "queries.db"
    store = SqliteStore(path)
    await store.open()
    start = time.perf_counter()
    try:
        plan_ids, events = await build(store, tasks, plans)
    finally:
        await store.close()
    took = time.perf_counter() - start
    size = file_mib(path)
    print(
        f"   built through create_plan + commit ({COMMIT_TASKS:,} tasks a commit): {tasks:,} "
        f"tasks in {plans} plans, {events:,} events in {took:.1f} s; {size:,.0f} MiB"
    )

    store = SqliteStore(path)  # a new connection, as a front end's process has
    await store.open()
    try:
        live = plan_ids[-1]
        last = await store.last_seq(live)
        since = last // 2
        executing = await store.executing_tasks()
        tenant = executing[0].tenant_id if executing else "tenant-000000"
        prefix = tenant[:-2]  # a hundred tenant ids, those of the plan among them
        print(f"   the plan queried: {live}, {tasks // plans:,} tasks, {last:,} events")
        columns(f"query ({repeats} repeats)")
        cases: list[tuple[str, Callable[[], Awaitable[object]], float]] = [
            ("plan_summaries()", store.plan_summaries, TARGET_QUERY_S),
            ("task_counts(plan)", lambda: store.task_counts(live), TARGET_QUERY_S),
            (
                "list_tasks(plan, limit=50)",
                lambda: store.list_tasks(live, limit=50),
                TARGET_QUERY_S,
            ),
            (
                "list_tasks(plan, statuses=[FAILED], limit=50)",
                lambda: store.list_tasks(live, statuses=[_T.FAILED], limit=50),
                TARGET_QUERY_S,
            ),
            (
                f"count_tasks(plan, tenant_prefix={prefix!r})",
                lambda: store.count_tasks(live, tenant_prefix=prefix),
                TARGET_QUERY_S,
            ),
            (f"tenant_history({tenant!r})", lambda: store.tenant_history(tenant), TARGET_QUERY_S),
            ("executing_tasks()", store.executing_tasks, TARGET_QUERY_S),
            (
                f"read_events(plan, since={since:,}, limit={EVENT_PAGE:,})",
                lambda: store.read_events(live, since=since, limit=EVENT_PAGE),
                TARGET_EVENTS_S,
            ),
        ]
        medians: list[float] = []
        for label, call, target in cases:
            samples, result = await timed(call, repeats)
            medians.append(statistics.median(samples))
            row(label, samples, target, _note(result))

        print("   the way front ends answered before, same store, same run:")
        old_all, _ = await timed(lambda: old_all_plans(store), repeats)
        row("list_plans + list_tasks of every plan + Counter", old_all, None)
        old_one, _ = await timed(lambda: old_one_plan(store, live), repeats)
        row("list_tasks(plan) + Counter + first 50", old_one, None)
        all_ratio = statistics.median(old_all) / medians[0]
        one_ratio = statistics.median(old_one) / (medians[1] + medians[2])
        print(
            f"   old/new (medians): the plan list ×{all_ratio:,.0f} (plan_summaries); one "
            f"plan's view ×{one_ratio:,.0f} (task_counts + list_tasks limit 50)"
        )
    finally:
        await store.close()
    commands(path, live, tenant, repeats)


def commands(path: Path, plan_id: str, tenant: str, repeats: int) -> None:
    """The status views end to end: each command in a fresh process, output to a pipe, with
    the bytecode cache an installed package has (one warming run each, not counted)."""
    from bench.cli_commands import environment, once

    env = environment(Path(__file__).resolve().parent.parent / "src")
    base = ("-m", "switchover", "--store", str(path), "status")
    cases = {
        "switchover status": base,
        "switchover status PLAN": (*base, plan_id),
        "switchover status --tenant T": (*base, "--tenant", tenant),
        "floor: python importing the libraries alone": ("-c", FLOOR),
    }
    print("   the commands end to end (a process each, start-up included), and for scale the")
    print("   libraries every status command imports, alone (no switchover code, no store):")
    for args in cases.values():
        once(args, env)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, args in cases.items():
            times[name].append(once(args, env))
    for name, samples in times.items():
        row(name, samples, None if name.startswith("floor") else TARGET_QUERY_S)
    floor = statistics.median(times["floor: python importing the libraries alone"])
    shares = ", ".join(
        f"{name.removeprefix('switchover ')} +{(statistics.median(samples) - floor) * 1e3:.0f} ms"
        for name, samples in times.items()
        if not name.startswith("floor")
    )
    print(f"   above the floor (medians): {shares}")


# -- part 2: the stage boundary's task row -------------------------------------------------


class WholeRowEncoder:
    """The task row as the tasks table held it before: configs included in every write.

    Each config's JSON was remembered per config object (an identity-keyed table cleared when
    it reached 8,192 entries); ``limit=None`` keeps every entry, the best case for this way.
    """

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._texts: dict[int, tuple[TenantConfig, str]] = {}

    def _config(self, config: TenantConfig | None) -> str:
        if config is None:
            return "null"
        hit = self._texts.get(id(config))
        if hit is not None and hit[0] is config:
            return hit[1]
        text = dumps(config_to_dict(config))
        if self._limit is not None and len(self._texts) >= self._limit:
            self._texts.clear()
        self._texts[id(config)] = (config, text)
        return text

    def encode(self, task: Task) -> str:
        run = dumps(task_run_to_dict(task))
        config, previous = self._config(task.config), self._config(task.previous)
        return f'{{"config":{config},"previous":{previous},{run[1:]}'


def boundary_tasks(count: int) -> list[Task]:
    """``count`` RUNNING tasks just past their second stage, as a boundary commit carries them."""
    now = time.time()
    tasks = []
    for i in range(count):
        task = make_task("plan-rows", i, f"tenant-{i:06d}", now)
        tasks.append(
            replace(
                task,
                status=_T.RUNNING,
                updated_at=now,
                checkpoint=Checkpoint(ExecutionMode.NORMAL, 1, STAGES[:2], now),
                current_stage=STAGES[2],
            )
        )
    return tasks


def later(tasks: Sequence[Task], seconds: float) -> list[Task]:
    """The same tasks at a later boundary: new times (SQLite skips a write that changes
    nothing), the same config objects (so a cache of their JSON keeps its hits)."""
    return [
        replace(
            task,
            updated_at=task.updated_at + seconds,
            checkpoint=replace(task.checkpoint, at=task.updated_at + seconds)
            if task.checkpoint
            else None,
        )
        for task in tasks
    ]


def time_encoding(encode: Callable[[Task], str], rounds: Sequence[Sequence[Task]]) -> list[float]:
    """Seconds to encode every task of each round."""
    samples = []
    for tasks in rounds:
        start = time.perf_counter()
        for task in tasks:
            encode(task)
        samples.append(time.perf_counter() - start)
    return samples


@dataclass(frozen=True, slots=True)
class Layout:
    """One schema's tasks table: its DDL, how created tasks are stored, the boundary write."""

    schema: Sequence[str]
    create: Sequence[tuple[str, Callable[[Task], tuple[object, ...]]]]
    boundary_sql: str
    boundary_row: Callable[[Task], tuple[object, ...]]


def _identity(task: Task) -> tuple[object, ...]:
    return (task.task_id, task.plan_id, task.tenant_id, task.position, task.status, task.created_at)


_INSERT_TASK = (
    "INSERT INTO tasks (task_id, plan_id, tenant_id, position, status, created_at, doc)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def layouts(whole: WholeRowEncoder) -> tuple[Layout, Layout]:
    """Schema 1 (the whole task in ``tasks.doc``, upserted) and schema 2 (run fields only)."""
    before = Layout(
        schema=MIGRATIONS[:1],
        create=[(_INSERT_TASK, lambda t: (*_identity(t), whole.encode(t)))],
        boundary_sql=f"{_INSERT_TASK} ON CONFLICT (task_id) DO UPDATE"
        " SET status = excluded.status, doc = excluded.doc",
        boundary_row=lambda t: (*_identity(t), whole.encode(t)),
    )
    after = Layout(
        schema=MIGRATIONS,
        create=[
            (_INSERT_TASK, lambda t: (*_identity(t), encode_task_run(t))),
            (
                "INSERT INTO task_configs (task_id, configs) VALUES (?, ?)",
                lambda t: (t.task_id, encode_task_configs(t)),
            ),
        ],
        boundary_sql="UPDATE tasks SET status = ?, doc = ? WHERE task_id = ? AND plan_id = ?",
        boundary_row=lambda t: (t.status, encode_task_run(t), t.task_id, t.plan_id),
    )
    return before, after


def time_writes(
    path: Path, layout: Layout, rounds: Sequence[Sequence[Task]]
) -> tuple[list[float], int]:
    """Encode and write each round's boundary rows, ``ROWS_PER_TXN`` per durable transaction.

    Returns:
        The seconds of each round, and the pages one round appended to the WAL.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # count every page a round writes
        for step in layout.schema:
            for statement in filter(str.strip, step.split(";")):
                conn.execute(statement)
        conn.execute("BEGIN")
        for sql, make in layout.create:
            conn.executemany(sql, [make(task) for task in rounds[0]])
        conn.execute("COMMIT")
        samples, pages = [], 0
        for tasks in rounds[1:]:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            start = time.perf_counter()
            for first in range(0, len(tasks), ROWS_PER_TXN):
                rows = [layout.boundary_row(task) for task in tasks[first : first + ROWS_PER_TXN]]
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(layout.boundary_sql, rows)
                conn.execute("COMMIT")
            samples.append(time.perf_counter() - start)
            pages = int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
        return samples, pages
    finally:
        conn.close()


def boundary_event(task: Task, kind: EventType, stage: str, now: float) -> Event:
    """One of the two events a stage boundary commits with the task row."""
    return Event(task.plan_id, kind, now, task.task_id, task.tenant_id, "RUNNING", stage)


async def time_store_commits(path: Path, rounds: Sequence[Sequence[Task]]) -> list[float]:
    """Seconds for ``SqliteStore`` to commit each round's boundaries (1 task row + 2 events a
    change), every change of a round submitted at once so the writer group-commits them."""
    store = SqliteStore(path)
    await store.open()
    try:
        now, first = time.time(), rounds[0]
        plan_id = first[0].plan_id
        plan = Plan(plan_id, 20, 100, PlanStatus.RUNNING, len(first), now, now)
        await store.create_plan(plan, first, [])
        samples = []
        for tasks in rounds[1:]:
            start = time.perf_counter()
            changes = [
                Change(
                    plan_id,
                    (task,),
                    events=(
                        boundary_event(task, EventType.STAGE_COMPLETED, STAGES[1], now),
                        boundary_event(task, EventType.STAGE_STARTED, STAGES[2], now),
                    ),
                )
                for task in tasks
            ]
            await asyncio.gather(*(store.submit(change) for change in changes))
            samples.append(time.perf_counter() - start)
        return samples
    finally:
        await store.close()


def columns(first: str) -> None:
    """Print a table's header line."""
    print(f"   {first:<58} {'min':>9} {'median':>9} {'max':>9}")


async def part_rows(directory: Path, repeats: int) -> None:
    """Time the stage boundary's task row: the whole row before, the run fields alone after."""
    base = boundary_tasks(ROW_TASKS)
    rounds = [base, *(later(base, 10.0 * (r + 1)) for r in range(repeats))]  # [0]: created
    whole_size = len(dumps(task_to_dict(base[0])).encode())
    run_size = len(encode_task_run(base[0]).encode())
    print(
        f"   {ROW_TASKS:,} RUNNING tasks at a boundary; one row is {whole_size:,} bytes whole, "
        f"{run_size:,} bytes of run fields"
    )
    best = WholeRowEncoder(limit=None)
    for task in base:  # every config already cached: the best case of the old way
        best.encode(task)
    shipped = WholeRowEncoder(limit=8_192)
    columns(f"encode every row once ({repeats} repeats)")
    before_best = time_encoding(best.encode, rounds[1:])
    row("before: whole row, config JSON cached, every lookup a hit", before_best, None)
    before_shipped = time_encoding(shipped.encode, rounds[1:])
    row("before: whole row, 8,192-entry cache (10k tasks: all miss)", before_shipped, None)
    before_plain = time_encoding(lambda t: dumps(task_to_dict(t)), rounds[1:])
    row("before: whole row, no cache", before_plain, None)
    after = time_encoding(encode_task_run, rounds[1:])
    row("after: run fields only (encode_task_run)", after, None)
    mid = statistics.median(after)
    print(
        f"   after: {mid / ROW_TASKS * 1e6:.1f} µs/row; before/after (medians): "
        f"×{statistics.median(before_best) / mid:.2f} against the cached best case, "
        f"×{statistics.median(before_plain) / mid:.2f} without the cache"
    )

    columns(f"encode + write, {ROWS_PER_TXN} rows per durable txn (FULL, WAL)")
    old, new = layouts(best)
    before_write, before_pages = time_writes(directory / "rows-1.db", old, rounds)
    row("before: schema 1, upsert of the whole row (cached configs)", before_write, None)
    after_write, after_pages = time_writes(directory / "rows-2.db", new, rounds)
    row("after: schema 2, update of the run fields", after_write, None)
    ratio = statistics.median(before_write) / statistics.median(after_write)
    print(
        f"   before/after (medians): ×{ratio:.2f}; WAL pages written per {ROW_TASKS:,} rows: "
        f"{before_pages:,} before, {after_pages:,} after (×{before_pages / after_pages:.2f})"
    )

    store_samples = await time_store_commits(directory / "rows-store.db", rounds)
    row("after, SqliteStore.submit: 1 task row + 2 events a change", store_samples, None)
    rate = ROW_TASKS / statistics.median(store_samples)
    print(f"   = {rate:,.0f} boundary commits/s (group commit, synchronous=FULL)")


def main(argv: Sequence[str] | None = None) -> None:
    """Run both parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true", help="10,000 tasks instead of 100,000")
    parser.add_argument("--tasks", type=int, default=None, help="tasks in the store")
    parser.add_argument("--plans", type=int, default=10, help="plans they are spread over")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per query")
    args = parser.parse_args(argv)
    tasks = args.tasks or (10_000 if args.small else 100_000)
    header("store queries: the status views' reads on SqliteStore, and the boundary task row")
    print(f"   SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp:
        print("-- part 1: queries")
        asyncio.run(part_queries(Path(tmp), tasks, args.plans, args.repeats))
        print("-- part 2: the stage boundary's task row")
        asyncio.run(part_rows(Path(tmp), args.repeats))
    print(f"   peak RSS {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
