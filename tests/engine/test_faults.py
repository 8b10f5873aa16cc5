"""The engine under faults: held starts, deposed engines, tenant claims, stuck stages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from msgspec.structs import replace

from switchover.domain.records import Lease, Target, Task
from switchover.domain.rollout import Policy
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.engine.engine import Engine
from switchover.errors import ErrorType, LeaseLostError, OperationRefusedError
from switchover.steps.locks import LocalTenantLocks
from switchover.stores.memory import MemoryStore
from switchover.stores.sqlite import SqliteStore
from tests.engine.conftest import Harness, NoDiscovery, engine_settings
from tests.support.clock import FakeClock
from tests.support.stages import Fail, Gate, Real, Script, ScriptedBuilder, make_spec


def _engine(
    store: MemoryStore,
    script: Script,
    clock: FakeClock,
    *,
    locks: LocalTenantLocks | None = None,
    **engine: object,
) -> Engine:
    return Engine(
        store,
        ScriptedBuilder(script),
        settings=engine_settings(**engine),
        discovery=NoDiscovery(),
        clock=clock,
        locks=locks,
    )


@asynccontextmanager
async def _running(
    store: MemoryStore, script: Script, clock: FakeClock, **engine: object
) -> AsyncIterator[Engine]:
    """A started engine on ``store``; on exit it is stopped and the clock closed."""
    started = _engine(store, script, clock, **engine)  # type: ignore[arg-type]
    await started.start()
    try:
        yield started
    finally:
        await started.stop()
        await clock.aclose()


async def _settled(engine: Engine) -> None:
    async with asyncio.timeout(5):
        await engine.wait_idle()


async def _stored(store: MemoryStore, task_id: str = "p1/t1") -> Task:
    task = await store.get_task(task_id)
    assert task is not None
    return task


async def _strand_a_rollback(harness: Harness) -> Gate:
    """t1 FAILED, then rolled back until its second rollback stage, where its engine stops."""
    harness.script.set("t1", "beta", Fail())
    await harness.engine.submit_plan(make_spec(["t1"]))
    await harness.settle()
    gate = Gate()
    harness.script.set("t1", "beta", gate, mode=ExecutionMode.ROLLBACK)
    await harness.engine.rollback(Target.tenant("t1"))
    await asyncio.wait_for(gate.entered.wait(), 5)
    await harness.engine.stop()
    task = await harness.task("p1/t1")
    assert task.status is TaskStatus.ROLLING_BACK
    assert task.checkpoint is not None
    assert task.checkpoint.completed == ("alpha",)
    return gate


async def test_a_held_engine_that_refuses_changes_nothing(harness: Harness) -> None:
    """A refused operation on a held engine runs no stage and appends no event."""
    await _strand_a_rollback(harness)
    before_events = await harness.events()
    before_task = await harness.task("p1/t1")
    calls = len(harness.script.calls)

    engine = harness.new_engine()
    await engine.start(hold=True)
    try:
        for refused in (
            engine.rollback(Target.tenant("t1")),
            engine.retry(Target.tenant("t1")),
            engine.cancel(Target.tenant("t1")),
        ):
            with pytest.raises(OperationRefusedError):
                await refused
        await asyncio.sleep(0.05)
    finally:
        await engine.stop()

    assert await harness.events() == before_events
    assert await harness.task("p1/t1") == before_task
    assert len(harness.script.calls) == calls


async def test_resume_continues_an_interrupted_rollback_from_its_checkpoint(
    harness: Harness,
) -> None:
    """resume --tenant on a stranded ROLLING_BACK task finishes it; done stages do not rerun."""
    await _strand_a_rollback(harness)
    engine = harness.new_engine()
    await engine.start(hold=True)
    try:
        accepted = await engine.resume(Target.tenant("t1"))
        assert accepted.message == "its rollback continues"
        engine.proceed()
        await engine.wait_idle()
    finally:
        await engine.stop()
    task = await harness.task("p1/t1")
    assert task.status is TaskStatus.ROLLED_BACK
    rollback_stages = harness.script.stages_run("t1", ExecutionMode.ROLLBACK)
    assert rollback_stages == ["alpha", "beta", "beta", "gamma"]  # beta interrupted, run again
    assert (await harness.plan()).status is PlanStatus.FAILED  # a rollback never moves a plan


async def test_resume_of_a_failed_plan_continues_its_interrupted_rollbacks(
    harness: Harness,
) -> None:
    """resume --plan on a settled plan is accepted when one of its rollbacks was cut off."""
    await _strand_a_rollback(harness)
    engine = harness.new_engine()
    await engine.start(hold=True)
    try:
        accepted = await engine.resume(Target.plan("p1"))
        assert accepted.task_ids == ("p1/t1",)
        engine.proceed()
        await engine.wait_idle()
    finally:
        await engine.stop()
    assert (await harness.task("p1/t1")).status is TaskStatus.ROLLED_BACK
    with pytest.raises(OperationRefusedError):
        await harness.new_engine().resume(Target.plan("p1"))


async def test_a_deposed_engine_stops_and_writes_nothing_more(harness: Harness) -> None:
    """After another engine takes the lease, the old one's commits are refused and it stops."""
    gate = Gate()
    harness.script.set("t1", "alpha", gate)
    await harness.engine.submit_plan(make_spec(["t1"]))
    await asyncio.wait_for(gate.entered.wait(), 5)
    lease = await harness.store.get_lease()
    assert lease is not None
    usurper = Lease("usurper", "elsewhere", 1, time.time() + 60)
    assert await harness.store.swap_lease(lease.owner, usurper) is not None
    seq = await harness.store.last_seq("p1")

    gate.open()
    with pytest.raises(Exception, match="engine stopped"):
        async with asyncio.timeout(5):
            await harness.engine.wait_idle()

    assert isinstance(harness.engine.fatal, LeaseLostError)
    assert await harness.store.last_seq("p1") == seq  # its StageCompleted was refused
    assert harness.script.stages_run("t1") == ["alpha"]  # beta never touched a target
    assert (await harness.task("p1/t1")).status is TaskStatus.RUNNING  # the usurper's to finish
    await harness.engine.stop()  # never raises what stopped it


async def test_an_engine_frozen_past_its_lease_claims_no_tenant_on_waking(
    tmp_path: Path,
) -> None:
    """Frozen while another engine took over: waking, it must not claim a tenant again.

    Both engines on one store claim as the same holder, so a claim by the woken one would be
    granted with a newer token, and the running engine's next write to the tenant refused.
    A durable store commits after the next task is admitted, so only the lease check before
    the claim can stop it.
    """
    store, script, locks = SqliteStore(tmp_path / "frozen.db"), Script(), LocalTenantLocks()
    gate = Gate()
    script.set("t1", "gamma", gate)
    await store.open()
    engine = Engine(
        store,
        ScriptedBuilder(script),
        settings=engine_settings(lease_ttl=0.3),
        discovery=NoDiscovery(),
        locks=locks,
    )
    await engine.start()
    try:
        await engine.submit_plan(make_spec(["t1", "t2"], max_concurrency=1))
        await asyncio.wait_for(gate.entered.wait(), 5)
        lease = await store.get_lease()
        assert lease is not None
        taken = await store.swap_lease(
            lease.owner, Lease("usurper", "elsewhere", 1, time.time() + 60)
        )
        assert taken is not None
        holder = f"{await store.identity()}/p1/t2#{taken.epoch}"
        usurpers = await locks.claim("t2", holder, 30)  # the engine that took over runs t2
        gate.open()
        time.sleep(0.5)  # noqa: ASYNC251 - frozen: its lease expires, every timer is overdue
        async with asyncio.timeout(5):
            while engine.fatal is None:  # noqa: ASYNC110 - the engine has no event for this
                await asyncio.sleep(0.02)
        assert isinstance(engine.fatal, LeaseLostError)
        assert await locks.renew(usurpers, 30)  # type: ignore[arg-type]  # still its claim
        assert script.stages_run("t2") == []
    finally:
        await engine.stop()
        await store.close()


async def test_the_lease_loop_notices_a_takeover_while_a_stage_runs() -> None:
    """An engine whose lease is taken mid-stage stops without waiting for the stage to end."""
    store, script, clock = MemoryStore(), Script(), FakeClock()
    gate = Gate()
    script.set("t1", "alpha", gate)
    engine = _engine(store, script, clock, lease_ttl=0.3)
    await engine.start()
    try:
        await engine.submit_plan(make_spec(["t1"]))
        await asyncio.wait_for(gate.entered.wait(), 5)
        lease = await store.get_lease()
        assert lease is not None
        await store.swap_lease(lease.owner, Lease("usurper", "elsewhere", 1, time.time() + 60))
        async with asyncio.timeout(5):
            while engine.fatal is None:  # noqa: ASYNC110 - the engine has no event for this
                await asyncio.sleep(0.02)
        assert isinstance(engine.fatal, LeaseLostError)
    finally:
        await engine.stop()
        await clock.aclose()


async def test_a_task_waits_pending_while_another_store_holds_its_tenant() -> None:
    """Two stores, shared claims: the second task of a tenant waits, naming the holder."""
    script, clock, locks = Script(), FakeClock(), LocalTenantLocks()
    first_store, second_store = MemoryStore(), MemoryStore()
    gate = Gate()
    script.set("t1", "alpha", gate)
    first = _engine(first_store, script, clock, locks=locks)
    second = _engine(second_store, script, clock, locks=locks)
    await first.start()
    await second.start()
    try:
        await first.submit_plan(make_spec(["t1"], plan_id="a"))
        await asyncio.wait_for(gate.entered.wait(), 5)
        await second.submit_plan(make_spec(["t1", "t2"], plan_id="b", version=21))
        async with asyncio.timeout(5):
            while (await second_store.get_task("b/t2")).status is not TaskStatus.COMPLETED:  # type: ignore[union-attr]  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        waiting = await second_store.get_task("b/t1")
        assert waiting is not None
        assert waiting.status is TaskStatus.PENDING
        lease = await first_store.get_lease()
        assert lease is not None
        holder = f"{await first_store.identity()}/a/t1#{lease.epoch}"  # its lease's generation
        assert waiting.waiting_for == holder
        events = [e for e in await second_store.read_events("b") if e.task_id == "b/t1"]
        assert [e.type.value for e in events][-1] == "TaskWaiting"
        assert events[-1].data["holder"] == holder

        gate.open()
        async with asyncio.timeout(5):
            await first.wait_idle()
            await second.wait_idle()
        done = await second_store.get_task("b/t1")
        assert done is not None
        assert done.status is TaskStatus.COMPLETED
        assert done.waiting_for is None
        first_done = await first_store.get_task("a/t1")
        assert first_done is not None
        assert first_done.updated_at <= done.updated_at
        assert locks._held == {}  # every claim was given back
    finally:
        await first.stop()
        await second.stop()
        await clock.aclose()


async def test_a_waiting_task_goes_back_in_line_when_its_plan_is_paused() -> None:
    """Pausing the plan of a task waiting for its tenant puts it back in the queue."""
    script, clock, locks = Script(), FakeClock(), LocalTenantLocks()
    other = await locks.claim("t1", "someone-else", 30)
    store = MemoryStore()
    engine = _engine(store, script, clock, locks=locks)
    await engine.start()
    try:
        await engine.submit_plan(make_spec(["t1"]))
        async with asyncio.timeout(5):
            while (await store.get_task("p1/t1")).waiting_for is None:  # type: ignore[union-attr]  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await engine.pause(Target.plan("p1"))
        async with asyncio.timeout(5):
            await engine.wait_idle()
        task = await store.get_task("p1/t1")
        assert task is not None
        assert task.status is TaskStatus.PENDING
        assert task.waiting_for is None
        await locks.release(other)  # type: ignore[arg-type]
        await engine.resume(Target.plan("p1"))
        async with asyncio.timeout(5):
            await engine.wait_idle()
        done = await store.get_task("p1/t1")
        assert done is not None
        assert done.status is TaskStatus.COMPLETED
    finally:
        await engine.stop()
        await clock.aclose()


async def test_a_recovered_task_whose_tenant_was_taken_fails_with_conflict() -> None:
    """A task found RUNNING whose tenant another holder claimed meanwhile writes nothing."""
    script, clock, locks = Script(), FakeClock(), LocalTenantLocks()
    store = MemoryStore()
    gate = Gate()
    script.set("t1", "alpha", gate)
    engine = _engine(store, script, clock, locks=locks)
    await engine.start()
    await engine.submit_plan(make_spec(["t1"]))
    await asyncio.wait_for(gate.entered.wait(), 5)
    await engine.stop()
    for fence in list(locks._held.values()):
        await locks.release(fence)
    await locks.claim("t1", "another-operator/b/t1", 30)

    async with _running(store, script, clock, locks=locks) as again:
        await _settled(again)
    task = await _stored(store)
    assert task.status is TaskStatus.FAILED
    assert task.failure is not None
    assert task.failure.error_type is ErrorType.CONFLICT
    assert task.failure.step == "claim"
    assert "another-operator/b/t1" in task.failure.message


async def test_a_stage_past_its_deadline_fails_with_timeout() -> None:
    """A stage that never ends fails TIMEOUT_ERROR at engine.stage_deadline."""
    store, script, clock = MemoryStore(), Script(), FakeClock()
    script.set("t1", "beta", Gate())
    async with _running(store, script, clock, stage_deadline=0.2) as engine:
        await engine.submit_plan(make_spec(["t1"]))
        await _settled(engine)
    task = await _stored(store)
    assert task.status is TaskStatus.FAILED
    assert task.failure is not None
    assert task.failure.error_type is ErrorType.TIMEOUT_ERROR
    assert (task.failure.stage, task.failure.step) == ("beta", "scripted")
    assert "engine.stage_deadline" in task.failure.message


async def test_a_task_past_its_deadline_fails_with_timeout_naming_stage_and_deadline() -> None:
    """Stages that each finish in time still cannot make a run outlast the task deadline."""
    store, script, clock = MemoryStore(), Script(), FakeClock()
    for stage in ("alpha", "beta", "gamma"):
        script.set("t1", stage, Real(0.15))
    async with _running(store, script, clock, task_deadline=0.25) as engine:
        await engine.submit_plan(make_spec(["t1"]))
        await _settled(engine)
    task = await _stored(store)
    assert task.status is TaskStatus.FAILED
    assert task.failure is not None
    assert task.failure.error_type is ErrorType.TIMEOUT_ERROR
    assert task.failure.stage == "beta"
    assert "did not finish within 0.25s (task deadline), at stage beta" in task.failure.message
    assert task.failure.details["task_deadline"] == 0.25


async def test_a_plan_overrides_the_stage_deadline() -> None:
    store, script, clock = MemoryStore(), Script(), FakeClock()
    script.set("t1", "alpha", Gate())
    async with _running(store, script, clock, stage_deadline=60) as engine:
        spec = replace(make_spec(["t1"]), policy=Policy(stage_deadline=0.2))
        await engine.submit_plan(spec)
        await _settled(engine)
    task = await _stored(store)
    assert task.failure is not None
    assert task.failure.error_type is ErrorType.TIMEOUT_ERROR
    assert "within 0.2s (the plan's deadlines.stage)" in task.failure.message


async def test_a_cancel_of_a_stuck_task_takes_effect_at_the_stage_deadline() -> None:
    """Cancel waits for a boundary; a stage that never ends reaches its deadline instead."""
    store, script, clock = MemoryStore(), Script(), FakeClock()
    gate = Gate()
    script.set("t1", "beta", gate)
    async with _running(store, script, clock, stage_deadline=0.3) as engine:
        await engine.submit_plan(make_spec(["t1"]))
        await asyncio.wait_for(gate.entered.wait(), 5)
        await engine.cancel(Target.tenant("t1"))
        await _settled(engine)
    task = await _stored(store)
    assert task.status is TaskStatus.CANCELLED
    assert task.failure is not None
    assert task.failure.error_type is ErrorType.TIMEOUT_ERROR
    assert task.failure.stage == "beta"
    types = [
        e.type.value
        for e in await store.read_events("p1", 0, 1_000_000)
        if e.task_id == "p1/t1" and e.type.value != "TaskProgress"
    ]
    assert types[-2:] == ["StageFailed", "TaskCancelled"]


async def test_the_held_engine_answers_a_request_only_when_told(harness: Harness) -> None:
    """A held engine neither admits nor serves control requests until it proceeds."""
    await harness.engine.stop()
    engine = harness.new_engine()
    await engine.start(hold=True)
    try:
        await engine.submit_plan(make_spec(["t1"]))
        await asyncio.sleep(0.05)
        task = await harness.task("p1/t1")
        assert task.status is TaskStatus.PENDING
        assert engine.held
        engine.proceed()
        await engine.wait_idle()
        assert (await harness.task("p1/t1")).status is TaskStatus.COMPLETED
    finally:
        await engine.stop()
