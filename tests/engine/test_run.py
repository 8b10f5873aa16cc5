"""Running plans: stage order, admission, exclusion, failures, events."""

from __future__ import annotations

import asyncio

from switchover.domain.events import EventType
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.errors import ErrorType
from tests.engine.conftest import Harness
from tests.support.stages import Boom, Fail, Gate, Sleep, make_spec


async def test_plan_runs_every_stage_in_order_and_completes(harness: Harness) -> None:
    await harness.engine.submit_plan(make_spec(3))
    await harness.settle()
    assert set((await harness.statuses()).values()) == {TaskStatus.COMPLETED}
    assert (await harness.plan()).status is PlanStatus.COMPLETED
    assert harness.script.stages_run("t001") == ["alpha", "beta", "gamma"]
    assert await harness.types(task_id="p1/t001") == [
        "TaskCreated",
        "TaskStarted",
        "StageStarted",
        "StageCompleted",
        "StageStarted",
        "StageCompleted",
        "StageStarted",
        "StageCompleted",
        "TaskCompleted",
    ]
    types = await harness.types()
    assert types[0] == "PlanCreated"
    assert types[-1] == "PlanCompleted"


async def test_event_sequence_numbers_start_at_one_without_gaps(harness: Harness) -> None:
    await harness.engine.submit_plan(make_spec(20, max_concurrency=4))
    await harness.settle()
    seqs = [e.seq for e in await harness.events()]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_checkpoint_records_the_last_completed_stage(harness: Harness) -> None:
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    checkpoint = (await harness.task("p1/t000")).checkpoint
    assert checkpoint is not None
    assert checkpoint.last_stage == 2
    assert checkpoint.completed == ("alpha", "beta", "gamma")


async def test_concurrency_never_exceeds_max_and_admission_is_fifo(harness: Harness) -> None:
    for i in range(8):
        harness.script.set(f"t{i:03d}", "alpha", Sleep(5 + (i % 3)))
    await harness.engine.submit_plan(make_spec(8, max_concurrency=3))
    await harness.settle()
    assert harness.script.max_running == 3
    started = [e.tenant_id for e in await harness.events() if e.type is EventType.TASK_STARTED]
    assert started == [f"t{i:03d}" for i in range(8)]


async def test_a_tenant_busy_in_another_plan_waits_pending(harness: Harness) -> None:
    gate = Gate()
    harness.script.set("shared", "beta", gate)
    await harness.engine.submit_plan(make_spec(["shared"], plan_id="p1"))
    await gate.entered.wait()
    await harness.engine.submit_plan(make_spec(["shared", "other"], plan_id="p2"))
    await harness.engine.wait_idle(["p2/other"])
    await asyncio.sleep(0.01)
    assert (await harness.task("p2/shared")).status is TaskStatus.PENDING
    assert (await harness.task("p2/other")).status is TaskStatus.COMPLETED
    gate.open()
    await harness.settle()
    assert (await harness.task("p2/shared")).status is TaskStatus.COMPLETED
    first_done = [e for e in await harness.events("p1") if e.type is EventType.TASK_COMPLETED]
    second_start = [
        e
        for e in await harness.events("p2")
        if e.type is EventType.TASK_STARTED and e.tenant_id == "shared"
    ]
    assert first_done[0].at <= second_start[0].at


async def test_a_failing_step_fails_the_stage_and_task_with_where_and_why(
    harness: Harness,
) -> None:
    harness.script.set("t001", "beta", Fail(ErrorType.BUSINESS_ERROR, "portal said no"))
    await harness.engine.submit_plan(make_spec(3))
    await harness.settle()
    task = await harness.task("p1/t001")
    assert task.status is TaskStatus.FAILED
    assert task.failure is not None
    assert task.failure.error_type is ErrorType.BUSINESS_ERROR
    assert (task.failure.stage, task.failure.step) == ("beta", "scripted")
    assert task.failure.message == "portal said no"
    assert harness.script.stages_run("t001") == ["alpha", "beta"]
    assert (await harness.plan()).status is PlanStatus.FAILED
    failed = [e for e in await harness.events() if e.type is EventType.STAGE_FAILED]
    assert failed[0].failure is not None
    assert failed[0].stage == "beta"


async def test_an_unexpected_exception_in_a_step_is_a_system_error(harness: Harness) -> None:
    harness.script.set("t000", "alpha", Boom())
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    task = await harness.task("p1/t000")
    assert task.failure is not None
    assert task.failure.error_type is ErrorType.SYSTEM_ERROR
    assert "scripted bug" in task.failure.message


async def test_heartbeat_progress_events_while_a_stage_runs(harness: Harness) -> None:
    harness.script.set("t000", "beta", Sleep(35))
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    beats = [e for e in await harness.events() if e.type is EventType.TASK_PROGRESS]
    assert len(beats) >= 3
    assert {e.stage for e in beats} == {"beta"}


async def test_no_progress_events_for_quick_tasks(harness: Harness) -> None:
    await harness.engine.submit_plan(make_spec(5))
    await harness.settle()
    assert EventType.TASK_PROGRESS.value not in await harness.types()


async def test_the_previous_config_snapshot_is_kept_unchanged(harness: Harness) -> None:
    spec = make_spec(1)
    await harness.engine.submit_plan(spec)
    await harness.settle()
    assert (await harness.task("p1/t000")).previous == spec.tenants[0].previous


async def test_submitting_the_same_plan_id_twice_is_a_conflict(harness: Harness) -> None:
    from switchover.errors import ConflictError

    await harness.engine.submit_plan(make_spec(1))
    try:
        await harness.engine.submit_plan(make_spec(2))
    except ConflictError:
        pass
    else:
        raise AssertionError("expected ConflictError")
    assert len(await harness.store.list_tasks("p1")) == 1
