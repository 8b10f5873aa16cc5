"""Durable commits per second of SqliteStore: 1 and 100 concurrent committers, FULL and NORMAL.

Each commit is what a task writes at a stage boundary: its task row (with a new checkpoint)
and two events. Run: ``python bench/store_commit.py [--seconds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from msgspec.structs import replace

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.records import Checkpoint, Plan, Task
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.stores.protocol import Change
from switchover.stores.sqlite import SqliteStore

STAGES = ("asbc-gateway", "portal", "blue-green-gateway", "ob-service")


def _task(plan_id: str, position: int, now: float) -> Task:
    tenant = f"tenant-{position:05d}"
    config = TenantConfig(
        tenant_id=tenant,
        plan_id=plan_id,
        plan_version=20,
        deploy_unit_id=2,
        deploy_unit_name="green",
        network_endpoints=(
            NetworkEndpoint("route-1", source_ip="10.0.0.1", target_domain="green.example.com"),
        ),
        called_number_rules=("400*", "800*"),
        trunk_group="tg-green",
    )
    return Task(
        task_id=f"{plan_id}:{position}",
        plan_id=plan_id,
        tenant_id=tenant,
        position=position,
        config=config,
        previous=replace(config, plan_version=19, deploy_unit_name="blue"),
        status=TaskStatus.RUNNING,
        created_at=now,
        updated_at=now,
        stages=STAGES,
    )


async def _committer(store: SqliteStore, task: Task, deadline: float) -> int:
    commits, stage = 0, 0
    while time.perf_counter() < deadline:
        now = time.time()
        name = STAGES[stage % len(STAGES)]
        done = (*task.checkpoint.completed, name) if task.checkpoint else (name,)
        task = replace(
            task,
            updated_at=now,
            checkpoint=Checkpoint(ExecutionMode.NORMAL, stage, done[-4:], now),
            current_stage=name,
        )
        events = (
            Event(task.plan_id, EventType.STAGE_COMPLETED, now, task.task_id, task.tenant_id,
                  "RUNNING", name),
            Event(task.plan_id, EventType.STAGE_STARTED, now, task.task_id, task.tenant_id,
                  "RUNNING", STAGES[(stage + 1) % len(STAGES)]),
        )  # fmt: skip
        await store.commit(Change(task.plan_id, (task,), events=events))
        commits += 1
        stage += 1
    return commits


async def measure(directory: Path, synchronous: str, concurrency: int, seconds: float) -> float:
    """Commits per second reached by ``concurrency`` committers for ``seconds``."""
    store = SqliteStore(
        directory / f"bench-{synchronous}-{concurrency}.db", synchronous=synchronous
    )
    await store.open()
    try:
        now = time.time()
        plan_id = f"bench-{synchronous}-{concurrency}"
        tasks = [_task(plan_id, i, now) for i in range(concurrency)]
        plan = Plan(plan_id, 20, concurrency, PlanStatus.RUNNING, concurrency, now, now)
        await store.create_plan(plan, tasks, [])
        start = time.perf_counter()
        deadline = start + seconds
        counts = await asyncio.gather(*(_committer(store, t, deadline) for t in tasks))
        elapsed = time.perf_counter() - start
        assert await store.last_seq(plan_id) == 2 * sum(counts)
        return sum(counts) / elapsed
    finally:
        await store.close()


async def main() -> None:
    """Print one line per (synchronous, concurrency) combination."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="run time of each case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp:
        for synchronous in ("FULL", "NORMAL"):
            for concurrency in (1, 100):
                rate = await measure(Path(tmp), synchronous, concurrency, args.seconds)
                print(
                    f"synchronous={synchronous:<6} committers={concurrency:>3}  "
                    f"{rate:>9,.0f} durable commits/s (1 task row + 2 events each)"
                )


if __name__ == "__main__":
    asyncio.run(main())
