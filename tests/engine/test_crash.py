"""kill -9 of an engine mid-plan: a new engine finishes it; nothing lost, no stage twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from switchover.domain.events import EventType
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.stores.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
TENANTS = 80

pytestmark = pytest.mark.slow


async def start_driver(store: Path, *, submit: bool) -> asyncio.subprocess.Process:
    args = [sys.executable, "-m", "tests.support.crash_driver", str(store), str(TENANTS)]
    if submit:
        args.append("--submit")
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    assert line.strip() == b"ready"
    return proc


async def completed_stages(path: Path) -> int:
    store = SqliteStore(path)
    await store.open()
    try:
        events = await store.read_events("crash", 0, 1_000_000)
    finally:
        await store.close()
    return sum(1 for e in events if e.type is EventType.STAGE_COMPLETED)


async def test_killed_engine_is_finished_by_a_new_one_without_repeats(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    kills = 0
    proc = await start_driver(path, submit=True)
    for wait in (0.15, 0.3, 0.25):
        await asyncio.sleep(wait)
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        await proc.wait()
        proc = await start_driver(path, submit=False)
    assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
    assert kills >= 2, "the plan finished before the engine could be killed twice"

    store = SqliteStore(path)
    await store.open()
    try:
        plan = await store.get_plan("crash")
        tasks = await store.list_tasks("crash")
        events = await store.read_events("crash", 0, 1_000_000)
    finally:
        await store.close()
    assert plan is not None
    assert plan.status is PlanStatus.COMPLETED
    assert len(tasks) == TENANTS
    assert {t.status for t in tasks} == {TaskStatus.COMPLETED}
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    completed = Counter((e.task_id, e.stage) for e in events if e.type is EventType.STAGE_COMPLETED)
    assert len(completed) == TENANTS * 3
    assert set(completed.values()) == {1}, "a stage completed twice in one forward run"
    finished = Counter(e.task_id for e in events if e.type is EventType.TASK_COMPLETED)
    assert set(finished.values()) == {1}
    assert len(finished) == TENANTS
    recovered = [e for e in events if e.type is EventType.STAGE_STARTED and e.data.get("recovered")]
    assert recovered, "no stage was restarted after a kill"
