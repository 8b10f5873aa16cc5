"""Pause, resume, cancel and retry, by task, tenant and plan; refusals change nothing."""

from __future__ import annotations

import pytest

from switchover.domain.events import EventType
from switchover.domain.records import Target
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.errors import ErrorType, NotFoundError, OperationRefusedError
from tests.engine.conftest import Harness
from tests.support.stages import Fail, Gate, Warn, make_spec


async def test_pause_applies_at_the_next_stage_boundary_and_resume_continues(
    harness: Harness,
) -> None:
    gate = Gate()
    harness.script.set("t000", "alpha", gate)
    await harness.engine.submit_plan(make_spec(1))
    await gate.entered.wait()
    accepted = await harness.engine.pause(Target.task("p1/t000"))
    assert "next stage boundary" in accepted.message
    assert (await harness.task("p1/t000")).status is TaskStatus.RUNNING
    gate.open()
    await harness.settle()
    paused = await harness.task("p1/t000")
    assert paused.status is TaskStatus.PAUSED
    assert paused.next_stage == 1
    assert (await harness.plan()).status is PlanStatus.PAUSED

    await harness.engine.resume(Target.tenant("t000"))
    await harness.settle()
    assert (await harness.task("p1/t000")).status is TaskStatus.COMPLETED
    assert harness.script.stages_run("t000") == ["alpha", "beta", "gamma"]
    assert (await harness.plan()).status is PlanStatus.COMPLETED
    types = await harness.types(task_id="p1/t000")
    assert types.index("TaskPaused") < types.index("TaskResumed")


async def test_plan_pause_stops_admission_and_pauses_running_tasks(harness: Harness) -> None:
    gates = {f"t{i:03d}": Gate() for i in range(2)}
    for tenant, gate in gates.items():
        harness.script.set(tenant, "alpha", gate)
    await harness.engine.submit_plan(make_spec(5, max_concurrency=2))
    for gate in gates.values():
        await gate.entered.wait()
    await harness.engine.pause(Target.plan("p1"))
    assert (await harness.plan()).status is PlanStatus.PAUSED
    for gate in gates.values():
        gate.open()
    await harness.settle()
    statuses = await harness.statuses()
    assert statuses == {
        "t000": TaskStatus.PAUSED,
        "t001": TaskStatus.PAUSED,
        "t002": TaskStatus.PENDING,
        "t003": TaskStatus.PENDING,
        "t004": TaskStatus.PENDING,
    }
    await harness.engine.resume(Target.plan("p1"))
    await harness.settle()
    assert set((await harness.statuses()).values()) == {TaskStatus.COMPLETED}
    plan_events = [e.type for e in await harness.events() if e.task_id is None]
    assert plan_events == [
        EventType.PLAN_CREATED,
        EventType.PLAN_PAUSED,
        EventType.OPERATION_ACCEPTED,
        EventType.PLAN_RESUMED,
        EventType.OPERATION_ACCEPTED,
        EventType.PLAN_COMPLETED,
    ]


async def test_cancel_running_waits_for_boundary_pending_cancels_at_once(
    harness: Harness,
) -> None:
    gate = Gate()
    harness.script.set("t000", "beta", gate)
    await harness.engine.submit_plan(make_spec(2, max_concurrency=1))
    await gate.entered.wait()
    await harness.engine.cancel(Target.task("p1/t001"))
    assert (await harness.task("p1/t001")).status is TaskStatus.CANCELLED
    await harness.engine.cancel(Target.task("p1/t000"))
    assert (await harness.task("p1/t000")).status is TaskStatus.RUNNING
    gate.open()
    await harness.settle()
    cancelled = await harness.task("p1/t000")
    assert cancelled.status is TaskStatus.CANCELLED
    assert harness.script.stages_run("t000") == ["alpha", "beta"]
    assert (await harness.plan()).status is PlanStatus.FAILED


async def test_plan_cancel_cancels_everything_and_the_plan(harness: Harness) -> None:
    gate = Gate()
    harness.script.set("t000", "alpha", gate)
    await harness.engine.submit_plan(make_spec(4, max_concurrency=1))
    await gate.entered.wait()
    await harness.engine.cancel(Target.plan("p1"))
    assert (await harness.plan()).status is PlanStatus.CANCELLED
    gate.open()
    await harness.settle()
    assert set((await harness.statuses()).values()) == {TaskStatus.CANCELLED}
    assert harness.script.stages_run("t001") == []
    assert (await harness.plan()).status is PlanStatus.CANCELLED


async def test_retry_fresh_reruns_every_stage(harness: Harness) -> None:
    harness.script.set("t000", "beta", Fail())
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    assert (await harness.plan()).status is PlanStatus.FAILED
    await harness.engine.retry(Target.tenant("t000"))
    await harness.settle()
    task = await harness.task("p1/t000")
    assert task.status is TaskStatus.COMPLETED
    assert task.retry_count == 1
    assert harness.script.stages_run("t000") == ["alpha", "beta", "alpha", "beta", "gamma"]
    assert (await harness.plan()).status is PlanStatus.COMPLETED
    assert "TaskRetryStarted" in await harness.types(task_id="p1/t000")


async def test_retry_from_checkpoint_skips_completed_stages(harness: Harness) -> None:
    harness.script.set("t000", "gamma", Fail())
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    await harness.engine.retry(Target.task("p1/t000"), from_checkpoint=True)
    await harness.settle()
    assert (await harness.task("p1/t000")).status is TaskStatus.COMPLETED
    assert harness.script.stages_run("t000") == ["alpha", "beta", "gamma", "gamma"]


async def test_retries_are_bounded_by_max_retries(harness: Harness) -> None:
    harness.script.set("t000", "alpha", Fail(), Fail(), Fail(), Fail())
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    for _ in range(3):
        await harness.engine.retry(Target.task("p1/t000"))
        await harness.settle()
    before = await harness.events()
    with pytest.raises(OperationRefusedError) as refused:
        await harness.engine.retry(Target.task("p1/t000"))
    assert refused.value.error_type is ErrorType.INVALID_STATE
    assert "all 3 retries" in str(refused.value)
    assert await harness.events() == before


@pytest.mark.parametrize("operation", ["pause", "resume", "retry"])
async def test_operations_on_a_completed_task_are_refused_and_change_nothing(
    harness: Harness, operation: str
) -> None:
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    before = await harness.events()
    with pytest.raises(OperationRefusedError) as refused:
        await getattr(harness.engine, operation)(Target.task("p1/t000"))
    assert refused.value.error_type is ErrorType.INVALID_STATE
    assert "COMPLETED" in str(refused.value)
    assert await harness.events() == before
    assert (await harness.task("p1/t000")).status is TaskStatus.COMPLETED


async def test_cancel_of_a_completed_task_is_refused(harness: Harness) -> None:
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    with pytest.raises(OperationRefusedError, match="COMPLETED"):
        await harness.engine.cancel(Target.task("p1/t000"))


async def test_unknown_task_tenant_and_plan_are_not_found(harness: Harness) -> None:
    with pytest.raises(NotFoundError, match="task 'nope'"):
        await harness.engine.pause(Target.task("nope"))
    with pytest.raises(NotFoundError, match="tenant 'ghost'"):
        await harness.engine.retry(Target.tenant("ghost"))
    with pytest.raises(NotFoundError, match="plan 'zzz'"):
        await harness.engine.cancel(Target.plan("zzz"))


async def test_retry_is_refused_while_the_tenant_is_busy_elsewhere(harness: Harness) -> None:
    harness.script.set("shared", "alpha", Fail())
    await harness.engine.submit_plan(make_spec(["shared"], plan_id="p1"))
    await harness.settle()
    gate = Gate()
    harness.script.set("shared", "alpha", gate)
    await harness.engine.submit_plan(make_spec(["shared"], plan_id="p2"))
    await gate.entered.wait()
    with pytest.raises(OperationRefusedError) as refused:
        await harness.engine.retry(Target.task("p1/shared"))
    assert refused.value.error_type is ErrorType.TENANT_BUSY
    assert "p2/shared" in str(refused.value)
    gate.open()
    await harness.settle()


async def test_tenant_target_finds_the_most_recent_task(harness: Harness) -> None:
    await harness.engine.submit_plan(make_spec(["a"], plan_id="p1"))
    await harness.settle()
    await harness.engine.submit_plan(make_spec(["a"], plan_id="p2"))
    await harness.settle()
    assert (await harness.engine.find_task("a")).task_id == "p2/a"


async def test_a_paused_task_gives_its_slot_back(harness: Harness) -> None:
    gate = Gate()
    harness.script.set("t000", "alpha", gate)
    await harness.engine.submit_plan(make_spec(3, max_concurrency=1))
    await gate.entered.wait()
    await harness.engine.pause(Target.task("p1/t000"))
    gate.open()
    await harness.settle()
    statuses = await harness.statuses()
    assert statuses["t000"] is TaskStatus.PAUSED
    assert statuses["t001"] is TaskStatus.COMPLETED
    assert statuses["t002"] is TaskStatus.COMPLETED
    assert (await harness.plan()).status is PlanStatus.PAUSED


async def test_resume_waits_for_a_free_slot(harness: Harness) -> None:
    first, second = Gate(), Gate()
    harness.script.set("t000", "alpha", first)
    harness.script.set("t001", "alpha", second)
    await harness.engine.submit_plan(make_spec(2, max_concurrency=1))
    await first.entered.wait()
    await harness.engine.pause(Target.task("p1/t000"))
    first.open()
    await second.entered.wait()
    await harness.engine.resume(Target.task("p1/t000"))
    assert (await harness.task("p1/t000")).status is TaskStatus.PAUSED
    assert harness.script.max_running == 1
    second.open()
    await harness.settle()
    assert set((await harness.statuses()).values()) == {TaskStatus.COMPLETED}
    assert harness.script.max_running == 1


async def test_step_warning_is_recorded_as_an_event(harness: Harness) -> None:
    harness.script.set("t000", "beta", Warn("check not configured; skipped"))
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    warnings = [e for e in await harness.events() if e.type is EventType.STEP_WARNING]
    assert len(warnings) == 1
    assert warnings[0].stage == "beta"
    assert warnings[0].data == {"message": "check not configured; skipped", "hint": "configure it"}
    assert (await harness.task("p1/t000")).status is TaskStatus.COMPLETED


async def test_resume_of_a_running_plan_or_task_is_accepted_and_harmless(
    harness: Harness,
) -> None:
    gate = Gate()
    harness.script.set("t000", "alpha", gate)
    await harness.engine.submit_plan(make_spec(1))
    await gate.entered.wait()
    before = await harness.events()
    assert (await harness.engine.resume(Target.plan("p1"))).message.startswith("plan resumed")
    assert (await harness.engine.resume(Target.task("p1/t000"))).message == "already running"
    gate.open()
    await harness.settle()
    assert (await harness.task("p1/t000")).status is TaskStatus.COMPLETED
    events = await harness.events()
    assert events[: len(before)] == before
    assert "PlanResumed" not in [e.type.value for e in events]


async def test_resume_of_a_finished_plan_is_refused(harness: Harness) -> None:
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    with pytest.raises(OperationRefusedError, match="COMPLETED; only a PAUSED or RUNNING"):
        await harness.engine.resume(Target.plan("p1"))


async def test_warning_details_may_use_any_key_even_stage(harness: Harness) -> None:
    details = (("stage", "ob-service"), ("step", "agent-readiness"), ("failure", "none"))
    harness.script.set("t000", "gamma", Warn("not configured; skipped", details))
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    warning = next(e for e in await harness.events() if e.type is EventType.STEP_WARNING)
    assert warning.stage == "gamma"
    assert warning.data == {
        "stage": "ob-service",
        "step": "agent-readiness",
        "failure": "none",
        "message": "not configured; skipped",
    }
    assert (await harness.task("p1/t000")).status is TaskStatus.COMPLETED
