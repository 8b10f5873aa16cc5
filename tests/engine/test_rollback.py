"""Rollback (SPEC §7): the forward stages again, from the previous config, in ROLLBACK mode."""

from __future__ import annotations

import pytest

from switchover.domain.events import EventType
from switchover.domain.records import Target
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ErrorType, OperationRefusedError
from tests.engine.conftest import Harness
from tests.support.stages import Fail, Gate, make_spec

ROLLBACK = ExecutionMode.ROLLBACK


async def failed_task(harness: Harness, **spec: object) -> None:
    harness.script.set("t000", "gamma", Fail())
    await harness.engine.submit_plan(make_spec(1, **spec))  # type: ignore[arg-type]
    await harness.settle()
    assert (await harness.task("p1/t000")).status is TaskStatus.FAILED


async def test_rollback_reruns_stages_forward_with_the_previous_config(harness: Harness) -> None:
    await failed_task(harness)
    accepted = await harness.engine.rollback(Target.tenant("t000"))
    assert "version 19" in accepted.message
    await harness.settle()
    task = await harness.task("p1/t000")
    assert task.status is TaskStatus.ROLLED_BACK
    calls = [c for c in harness.script.calls if c.mode is ROLLBACK]
    assert [c.stage for c in calls] == ["alpha", "beta", "gamma"]
    assert {(c.version, c.unit) for c in calls} == {(19, "blue")}
    types = await harness.types(task_id="p1/t000")
    assert types[-1] == "TaskRolledBack"
    assert "TaskRollingBack" in types
    assert harness.engine.metrics["rollback_success"] == 1


async def test_rollback_never_changes_the_plan_status(harness: Harness) -> None:
    await failed_task(harness)
    assert (await harness.plan()).status is PlanStatus.FAILED
    plan_events_before = [e for e in await harness.events() if e.task_id is None]
    await harness.engine.rollback(Target.task("p1/t000"))
    await harness.settle()
    assert (await harness.plan()).status is PlanStatus.FAILED
    assert [e for e in await harness.events() if e.task_id is None] == plan_events_before


async def test_explicit_version_overrides_the_previous_version(harness: Harness) -> None:
    await failed_task(harness)
    await harness.engine.rollback(Target.task("p1/t000"), version=21)
    await harness.settle()
    versions = {c.version for c in harness.script.calls if c.mode is ROLLBACK}
    assert versions == {21}


async def test_rollback_of_a_paused_task(harness: Harness) -> None:
    gate = Gate()
    harness.script.set("t000", "alpha", gate)
    await harness.engine.submit_plan(make_spec(1))
    await gate.entered.wait()
    await harness.engine.pause(Target.task("p1/t000"))
    gate.open()
    await harness.settle()
    assert (await harness.plan()).status is PlanStatus.PAUSED
    await harness.engine.rollback(Target.task("p1/t000"))
    await harness.settle()
    assert (await harness.task("p1/t000")).status is TaskStatus.ROLLED_BACK
    assert (await harness.plan()).status is PlanStatus.PAUSED


@pytest.mark.parametrize("status", ["COMPLETED", "RUNNING", "PENDING"])
async def test_rollback_precondition_status_refused_and_nothing_changes(
    harness: Harness, status: str
) -> None:
    gate = Gate()
    if status != "COMPLETED":
        harness.script.set("t000", "alpha", gate)
    await harness.engine.submit_plan(make_spec(2, max_concurrency=1))
    if status == "COMPLETED":
        await harness.settle()
        target = "p1/t000"
    else:
        await gate.entered.wait()
        target = "p1/t000" if status == "RUNNING" else "p1/t001"
    before = await harness.events()
    with pytest.raises(OperationRefusedError) as refused:
        await harness.engine.rollback(Target.task(target))
    assert refused.value.error_type is ErrorType.ROLLBACK_PRECONDITION_FAILED
    assert status in str(refused.value)
    assert await harness.events() == before
    gate.open()
    await harness.settle()


async def test_rollback_without_previous_config_is_refused(harness: Harness) -> None:
    await failed_task(harness, previous_version=None)
    before = await harness.events()
    with pytest.raises(OperationRefusedError) as refused:
        await harness.engine.rollback(Target.task("p1/t000"))
    assert refused.value.error_type is ErrorType.ROLLBACK_PRECONDITION_FAILED
    assert "no previous config" in str(refused.value)
    assert await harness.events() == before
    assert (await harness.task("p1/t000")).status is TaskStatus.FAILED


async def test_verify_failure_during_rollback_is_a_rollback_health_check_failure(
    harness: Harness,
) -> None:
    await failed_task(harness)
    harness.script.set(
        "t000", "beta", Fail(ErrorType.HEALTH_CHECK_FAILED, "v19 not seen"), mode=ROLLBACK
    )
    await harness.engine.rollback(Target.task("p1/t000"))
    await harness.settle()
    task = await harness.task("p1/t000")
    assert task.status is TaskStatus.ROLLBACK_FAILED
    assert task.failure is not None
    assert task.failure.error_type is ErrorType.ROLLBACK_HEALTH_CHECK_FAILED
    assert "v19 not seen" in task.failure.message
    assert harness.engine.metrics["rollback_failed"] == 1
    assert (await harness.types(task_id="p1/t000"))[-1] == "TaskRollbackFailed"


async def test_other_rollback_failure_is_partial_with_per_stage_detail(harness: Harness) -> None:
    await failed_task(harness)
    harness.script.set("t000", "beta", Fail(ErrorType.NETWORK_ERROR, "refused"), mode=ROLLBACK)
    await harness.engine.rollback(Target.task("p1/t000"))
    await harness.settle()
    failure = (await harness.task("p1/t000")).failure
    assert failure is not None
    assert failure.error_type is ErrorType.ROLLBACK_PARTIAL_FAILED
    assert failure.details["stages"] == [
        {"stage": "alpha", "status": "succeeded"},
        {"stage": "beta", "status": "failed"},
        {"stage": "gamma", "status": "not_run"},
    ]
    assert failure.details["cause"]["error_type"] == "NETWORK_ERROR"
    event = next(e for e in await harness.events() if e.type is EventType.TASK_ROLLBACK_FAILED)
    assert event.failure == failure


async def test_a_failed_rollback_can_be_rolled_back_again(harness: Harness) -> None:
    await failed_task(harness)
    harness.script.set("t000", "beta", Fail(), mode=ROLLBACK)
    await harness.engine.rollback(Target.task("p1/t000"))
    await harness.settle()
    assert (await harness.task("p1/t000")).status is TaskStatus.ROLLBACK_FAILED
    await harness.engine.rollback(Target.task("p1/t000"))
    await harness.settle()
    assert (await harness.task("p1/t000")).status is TaskStatus.ROLLED_BACK


async def test_retry_of_a_failed_rollback_reruns_the_rollback(harness: Harness) -> None:
    await failed_task(harness)
    harness.script.set("t000", "beta", Fail(), mode=ROLLBACK)
    await harness.engine.rollback(Target.task("p1/t000"), version=7)
    await harness.settle()
    await harness.engine.retry(Target.task("p1/t000"))
    await harness.settle()
    task = await harness.task("p1/t000")
    assert task.status is TaskStatus.ROLLED_BACK
    assert {c.version for c in harness.script.calls if c.mode is ROLLBACK} == {7}


async def test_rolled_back_is_final(harness: Harness) -> None:
    await failed_task(harness)
    await harness.engine.rollback(Target.task("p1/t000"))
    await harness.settle()
    for operation in ("retry", "rollback", "resume", "pause", "cancel"):
        with pytest.raises(OperationRefusedError):
            await getattr(harness.engine, operation)(Target.task("p1/t000"))
    assert (await harness.task("p1/t000")).status is TaskStatus.ROLLED_BACK
