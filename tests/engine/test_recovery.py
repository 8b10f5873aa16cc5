"""Recovery after the engine stops mid-stage, the lease, and control requests from elsewhere."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from switchover.domain import lifecycle
from switchover.domain.commands import (
    Accepted,
    ControlRequest,
    Pause,
    Refused,
    Rollback,
    SubmitPlan,
)
from switchover.domain.events import EventType
from switchover.domain.records import Lease, Target
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.engine.lease import HOST
from switchover.errors import EngineBusyError, ErrorType
from switchover.stages.base import forward_stages
from tests.engine.conftest import Harness
from tests.support.stages import Gate, make_spec


async def test_a_new_engine_continues_from_the_checkpoint(harness: Harness) -> None:
    gate = Gate()
    harness.script.set("t000", "beta", gate)
    await harness.engine.submit_plan(make_spec(2, max_concurrency=2))
    await gate.entered.wait()
    await harness.engine.stop()  # like a crash: beta was mid-way
    assert (await harness.task("p1/t000")).status is TaskStatus.RUNNING

    second = harness.new_engine()
    await second.start()
    try:
        await second.wait_idle()
    finally:
        await second.stop()
    assert (await harness.task("p1/t000")).status is TaskStatus.COMPLETED
    assert harness.script.stages_run("t000") == ["alpha", "beta", "beta", "gamma"]
    completed = [
        e.stage
        for e in await harness.events()
        if e.type is EventType.STAGE_COMPLETED and e.task_id == "p1/t000"
    ]
    assert completed == ["alpha", "beta", "gamma"]
    assert (await harness.plan()).status is PlanStatus.COMPLETED
    seqs = [e.seq for e in await harness.events()]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_a_pending_pause_is_honoured_after_recovery(harness: Harness) -> None:
    gate = Gate()
    harness.script.set("t000", "alpha", gate)
    await harness.engine.submit_plan(make_spec(1))
    await gate.entered.wait()
    await harness.engine.pause(Target.task("p1/t000"))
    await harness.engine.stop()
    second = harness.new_engine()
    await second.start()
    try:
        await second.wait_idle()
    finally:
        await second.stop()
    task = await harness.task("p1/t000")
    assert task.status is TaskStatus.PAUSED
    assert harness.script.stages_run("t000") == ["alpha"]


async def test_a_second_live_engine_on_the_same_store_is_refused(harness: Harness) -> None:
    other = harness.new_engine()
    with pytest.raises(EngineBusyError, match="another engine"):
        await other.start()


async def test_the_lease_of_a_dead_process_is_taken_over_at_once(harness: Harness) -> None:
    await harness.engine.stop()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import os; print(os.getpid())", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    stale = Lease("ghost", HOST, int(out), time.time() + 60)
    assert await harness.store.swap_lease(None, stale)
    engine = harness.new_engine()
    await engine.start()
    try:
        lease = await harness.store.get_lease()
        assert lease is not None
        assert lease.owner == engine.owner
    finally:
        await engine.stop()


async def test_control_requests_are_performed_by_the_live_engine(harness: Harness) -> None:
    gate = Gate()
    harness.script.set("t000", "alpha", gate)
    await harness.engine.submit_plan(make_spec(1))
    await gate.entered.wait()
    request = ControlRequest("c1", Pause(target=Target.tenant("t000")), time.time())
    await harness.store.submit_control(request)
    refused = ControlRequest("c2", Rollback(target=Target.tenant("t000")), time.time())
    await harness.store.submit_control(refused)
    for _ in range(200):
        done = await harness.store.get_control("c2")
        if done is not None and done.outcome is not None:
            break
        await asyncio.sleep(0.01)
    first = await harness.store.get_control("c1")
    second = await harness.store.get_control("c2")
    assert first is not None
    assert isinstance(first.outcome, Accepted)
    assert second is not None
    assert isinstance(second.outcome, Refused)
    assert second.outcome.error_type is ErrorType.ROLLBACK_PRECONDITION_FAILED
    assert second.outcome.task_id == "p1/t000"
    assert second.outcome.status == "RUNNING"
    gate.open()
    await harness.settle()
    assert (await harness.task("p1/t000")).status is TaskStatus.PAUSED


async def test_a_plan_created_elsewhere_is_adopted_on_submit_request(harness: Harness) -> None:
    from tests.support.stages import ScriptedBuilder

    plan, tasks, events = lifecycle.created(
        make_spec(2, plan_id="p9"), forward_stages(ScriptedBuilder(harness.script)), time.time()
    )
    await harness.store.create_plan(plan, tasks, events)
    await harness.store.submit_control(
        ControlRequest("s1", SubmitPlan(target=Target.plan("p9")), time.time())
    )
    for _ in range(200):
        if (await harness.plan("p9")).status is PlanStatus.COMPLETED:
            break
        await asyncio.sleep(0.01)
    assert (await harness.plan("p9")).status is PlanStatus.COMPLETED
