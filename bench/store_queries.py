"""Front-end queries on a big SqliteStore, and the cost of a stage boundary's task row.

Part 1 builds a store of N tasks (default 100,000 in 10 plans; ``--small``: 10,000) with about
ten events per task, through the store's own ``create_plan`` and ``commit`` (one commit per
1,000 tasks), then times every query the ``status`` views are built from — 5 repeats,
min/median/max — next to the way they were answered before: ``list_plans`` plus
``list_tasks`` of every plan, counted in Python.

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
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.machine import header, peak_rss_mib
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Checkpoint, Plan, Task
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ErrorType
from switchover.stores.codec import dumps, encode_task_run, task_run_to_dict, task_to_dict
from switchover.stores.protocol import Change
from switchover.stores.sqlite import SqliteStore
from switchover.stores.sqlite_txn import MIGRATIONS

STAGES = ("asbc-gateway", "portal", "blue-green-gateway", "ob-service")
TENANT_POOL = 25_000  # tenants are switched again by later plans: each is in several plans
COMMIT_TASKS = 1_000
ROW_TASKS = 10_000
ROWS_PER_TXN = 100

TARGET_QUERY_S = 0.3
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
    size = sum(p.stat().st_size for p in directory.glob("queries.db*")) / 1024**2
    print(
        f"   built with create_plan + commit ({COMMIT_TASKS:,} tasks per commit): {tasks:,} "
        f"tasks in {plans} plans, {events:,} events, {took:.1f} s, file {size:,.0f} MiB"
    )

    store = SqliteStore(path)  # a fresh process's view: nothing cached in the connection
    await store.open()
    try:
        live = plan_ids[-1]
        last = await store.last_seq(live)
        since = last // 2
        executing = await store.executing_tasks()
        tenant = executing[0].tenant_id if executing else "tenant-000000"
        print(f"   queried plan {live} ({tasks // plans:,} tasks, {last:,} events)")
        print(
            f"   {'query (' + str(repeats) + ' repeats)':<58} {'min':>9} {'median':>9} {'max':>9}"
        )

        cases: list[tuple[str, Callable[[], Awaitable[object]], float | None]] = [
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
                "count_tasks(plan, tenant_prefix='tenant-0001')",
                lambda: store.count_tasks(live, tenant_prefix="tenant-0001"),
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
        medians: dict[str, float] = {}
        for label, call, target in cases:
            samples, result = await timed(call, repeats)
            medians[label] = statistics.median(samples)
            note = f"  ({len(result)} rows)" if isinstance(result, list) else f"  ({result})"
            if isinstance(result, dict):
                note = f"  ({sum(result.values()):,} tasks counted)"
            row(label, samples, target, note)

        print("   the old way, same store, same run:")
        old_all, _ = await timed(lambda: old_all_plans(store), repeats)
        row("list_plans + list_tasks per plan + Counter", old_all, None)
        old_one, _ = await timed(lambda: old_one_plan(store, live), repeats)
        row("list_tasks(plan) + Counter + first 50", old_one, None)
        new_one = medians["task_counts(plan)"] + medians["list_tasks(plan, limit=50)"]
        print(
            f"   ratio old/new (medians): plan list ×{statistics.median(old_all) / medians['plan_summaries()']:,.0f}; "
            f"one plan's view (task_counts + list_tasks limit 50) ×{statistics.median(old_one) / new_one:,.0f}"
        )
    finally:
        await store.close()


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
        text = dumps(config.to_dict())
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


def time_encoding(
    encode: Callable[[Task], str], tasks: Sequence[Task], repeats: int
) -> list[float]:
    """Seconds to encode every task once, ``repeats`` times."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for task in tasks:
            encode(task)
        samples.append(time.perf_counter() - start)
    return samples


def time_writes(
    path: Path,
    schema: Sequence[str],
    sql: str,
    make_row: Callable[[Task], tuple[object, ...]],
    tasks: Sequence[Task],
    repeats: int,
) -> list[float]:
    """Seconds to encode and write every task's row, ``ROWS_PER_TXN`` per durable transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        for step in schema:
            for statement in filter(str.strip, step.split(";")):
                conn.execute(statement)
        conn.execute("BEGIN")
        columns = "task_id, plan_id, tenant_id, position, status, created_at, doc"
        conn.executemany(
            f"INSERT INTO tasks ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (t.task_id, t.plan_id, t.tenant_id, t.position, "PENDING", t.created_at, "{}")
                for t in tasks
            ],
        )
        conn.execute("COMMIT")
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for first in range(0, len(tasks), ROWS_PER_TXN):
                rows = [make_row(task) for task in tasks[first : first + ROWS_PER_TXN]]
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
            samples.append(time.perf_counter() - start)
        return samples
    finally:
        conn.close()


async def time_store_commits(path: Path, tasks: Sequence[Task], repeats: int) -> list[float]:
    """Seconds for ``SqliteStore`` to commit one boundary per task (1 row + 2 events each),
    every change submitted at once so the writer group-commits them."""
    store = SqliteStore(path)
    await store.open()
    try:
        created = [
            replace(t, status=_T.PENDING, checkpoint=None, current_stage=None) for t in tasks
        ]
        now = time.time()
        await store.create_plan(
            Plan("plan-rows", 20, 100, PlanStatus.RUNNING, len(tasks), now, now), created, []
        )
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            futures = [
                store.submit(
                    Change(
                        "plan-rows",
                        (task,),
                        events=(
                            Event(
                                "plan-rows",
                                EventType.STAGE_COMPLETED,
                                now,
                                task.task_id,
                                task.tenant_id,
                                "RUNNING",
                                STAGES[1],
                            ),
                            Event(
                                "plan-rows",
                                EventType.STAGE_STARTED,
                                now,
                                task.task_id,
                                task.tenant_id,
                                "RUNNING",
                                STAGES[2],
                            ),
                        ),
                    )
                )
                for task in tasks
            ]
            await asyncio.gather(*futures)
            samples.append(time.perf_counter() - start)
        return samples
    finally:
        await store.close()


async def part_rows(directory: Path, repeats: int) -> None:
    """Time the stage boundary's task row: whole row before, run fields alone after."""
    tasks = boundary_tasks(ROW_TASKS)
    whole = dumps(task_to_dict(tasks[0]))
    run = encode_task_run(tasks[0])
    print(
        f"   {ROW_TASKS:,} tasks; one row is {len(whole.encode()):,} bytes whole, "
        f"{len(run.encode()):,} bytes of run fields"
    )
    print(
        f"   {'encode every row once (' + str(repeats) + ' repeats)':<58} {'min':>9} {'median':>9} {'max':>9}"
    )
    best = WholeRowEncoder(limit=None)
    for task in tasks:  # every config already cached: the way's best case
        best.encode(task)
    shipped = WholeRowEncoder(limit=8_192)
    before_best = time_encoding(best.encode, tasks, repeats)
    before_shipped = time_encoding(shipped.encode, tasks, repeats)
    before_plain = time_encoding(lambda t: dumps(task_to_dict(t)), tasks, repeats)
    after = time_encoding(encode_task_run, tasks, repeats)
    row("before: whole row, config JSON cached, every lookup a hit", before_best, None)
    row("before: whole row, cache of 8,192 (10k tasks cycle: misses)", before_shipped, None)
    row("before: whole row, no cache", before_plain, None)
    row("after: run fields only (encode_task_run)", after, None)
    per_row = statistics.median(after) / len(tasks) * 1e6
    print(
        f"   after: {per_row:.1f} µs/row; ratio before/after (medians): "
        f"×{statistics.median(before_best) / statistics.median(after):.2f} against the cached "
        f"best case, ×{statistics.median(before_plain) / statistics.median(after):.2f} without"
    )

    print(
        f"   {'encode + write, ' + str(ROWS_PER_TXN) + ' rows per durable txn (FULL, WAL)':<58} "
        f"{'min':>9} {'median':>9} {'max':>9}"
    )
    old_sql = (
        "INSERT INTO tasks (task_id, plan_id, tenant_id, position, status, created_at, doc)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE"
        " SET status = excluded.status, doc = excluded.doc"
    )
    before_write = time_writes(
        directory / "rows-v1.db",
        MIGRATIONS[:1],
        old_sql,
        lambda t: (
            t.task_id,
            t.plan_id,
            t.tenant_id,
            t.position,
            t.status,
            t.created_at,
            best.encode(t),
        ),
        tasks,
        repeats,
    )
    after_write = time_writes(
        directory / "rows-v2.db",
        MIGRATIONS,
        "UPDATE tasks SET status = ?, doc = ? WHERE task_id = ? AND plan_id = ?",
        lambda t: (t.status, encode_task_run(t), t.task_id, t.plan_id),
        tasks,
        repeats,
    )
    row("before: schema 1 upsert of the whole row (cached configs)", before_write, None)
    row("after: schema 2 update of the run fields", after_write, None)
    print(
        f"   ratio before/after (medians): ×{statistics.median(before_write) / statistics.median(after_write):.2f}; "
        f"after: {len(tasks) / statistics.median(after_write):,.0f} rows/s"
    )
    store_samples = await time_store_commits(directory / "rows-store.db", tasks, repeats)
    row("after, SqliteStore.submit: 1 row + 2 events per change", store_samples, None)
    print(
        f"   = {len(tasks) / statistics.median(store_samples):,.0f} boundary commits/s (group commit)"
    )


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
