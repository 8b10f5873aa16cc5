"""The task lifecycle as pure functions: each transition's records and events, no engine."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from switchover.domain import lifecycle
from switchover.domain.commands import Resume, Retry, Rollback
from switchover.domain.config import TenantConfig
from switchover.domain.failure import FailureInfo
from switchover.domain.records import (
    BoundaryRequest,
    Checkpoint,
    PlanSpec,
    Target,
    Task,
    TenantSpec,
)
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ErrorType, InvalidTransitionError

NOW = 1_800_000_000.0
STAGES = ("asbc-gateway", "portal", "blue-green-gateway")
TARGET = Target.task("p1/t1")


def make_task(status: TaskStatus = TaskStatus.PENDING, **changes: object) -> Task:
    task = Task(
        task_id="p1/t1",
        plan_id="p1",
        tenant_id="t1",
        position=0,
        config=TenantConfig(tenant_id="t1", plan_id="p1", plan_version=20, deploy_unit_name="g"),
        previous=TenantConfig(tenant_id="t1", plan_id="p0", plan_version=19, deploy_unit_name="b"),
        status=status,
        created_at=NOW - 100,
        updated_at=NOW - 100,
        stages=STAGES,
    )
    return replace(task, **changes)  # type: ignore[arg-type]


def types(step: lifecycle.Step) -> list[str]:
    return [event.type.value for event in step.events]


def checkpoint(last: int, mode: ExecutionMode = ExecutionMode.NORMAL) -> Checkpoint:
    return Checkpoint(mode, last, STAGES[: last + 1], NOW - 50)


# ----------------------------------------------------------------------------- start


@pytest.mark.parametrize(
    ("before", "op", "status", "mode", "next_stage", "first_event", "retries"),
    [
        (make_task(), None, TaskStatus.RUNNING, ExecutionMode.NORMAL, 0, "TaskStarted", 0),
        (
            make_task(TaskStatus.PAUSED, checkpoint=checkpoint(0), requested=None),
            Resume(target=TARGET),
            TaskStatus.RUNNING,
            ExecutionMode.NORMAL,
            1,
            "TaskResumed",
            0,
        ),
        (
            make_task(TaskStatus.FAILED, checkpoint=checkpoint(1)),
            Retry(target=TARGET),
            TaskStatus.RUNNING,
            ExecutionMode.NORMAL,
            0,
            "TaskRetryStarted",
            1,
        ),
        (
            make_task(TaskStatus.FAILED, checkpoint=checkpoint(1)),
            Retry(target=TARGET, from_checkpoint=True),
            TaskStatus.RUNNING,
            ExecutionMode.NORMAL,
            2,
            "TaskRetryStarted",
            1,
        ),
        (
            make_task(TaskStatus.FAILED, checkpoint=checkpoint(1)),
            Rollback(target=TARGET),
            TaskStatus.ROLLING_BACK,
            ExecutionMode.ROLLBACK,
            0,
            "TaskRollingBack",
            0,
        ),
        (
            make_task(
                TaskStatus.ROLLBACK_FAILED,
                mode=ExecutionMode.ROLLBACK,
                checkpoint=checkpoint(0, ExecutionMode.ROLLBACK),
            ),
            Rollback(target=TARGET, from_checkpoint=True),
            TaskStatus.ROLLING_BACK,
            ExecutionMode.ROLLBACK,
            1,
            "TaskRollingBack",
            0,
        ),
    ],
)
def test_start_begins_each_kind_of_run_at_its_first_stage_to_run(
    before: Task,
    op: Resume | Retry | Rollback | None,
    status: TaskStatus,
    mode: ExecutionMode,
    next_stage: int,
    first_event: str,
    retries: int,
) -> None:
    step = lifecycle.start(replace(before, waiting_for="someone"), op, STAGES, NOW)
    assert step.task.status is status
    assert step.task.mode is mode
    assert step.task.next_stage == next_stage
    assert step.task.current_stage == STAGES[next_stage]
    assert step.task.retry_count == retries
    assert step.task.updated_at == NOW
    assert step.task.waiting_for is None
    assert types(step) == [first_event, "StageStarted"]
    assert step.events[-1].stage == STAGES[next_stage]
    assert all(event.at == NOW and event.task_id == "p1/t1" for event in step.events)


def test_a_retry_from_a_rollback_checkpoint_starts_over() -> None:
    """A forward retry never reuses a rollback's checkpoint."""
    task = make_task(TaskStatus.FAILED, checkpoint=checkpoint(1, ExecutionMode.ROLLBACK))
    step = lifecycle.start(task, Retry(target=TARGET, from_checkpoint=True), STAGES, NOW)
    assert step.task.checkpoint is None
    assert step.events[0].data["from_checkpoint"] is False


def test_a_rollback_records_the_version_it_writes() -> None:
    task = make_task(TaskStatus.FAILED)
    step = lifecycle.start(task, Rollback(target=TARGET, version=21), STAGES, NOW)
    assert step.task.run_version == 21
    assert step.events[0].data["version"] == 21
    assert step.events[0].data["previous_status"] == "FAILED"
    default = lifecycle.start(task, Rollback(target=TARGET), STAGES, NOW)
    assert default.task.run_version == 19


@pytest.mark.parametrize(
    ("status", "op"),
    [
        (TaskStatus.COMPLETED, Retry(target=TARGET)),
        (TaskStatus.ROLLED_BACK, Rollback(target=TARGET)),
        (TaskStatus.CANCELLED, Resume(target=TARGET)),
        (TaskStatus.RUNNING, None),
    ],
)
def test_start_from_a_status_the_table_forbids_is_refused(
    status: TaskStatus, op: Resume | Retry | Rollback | None
) -> None:
    with pytest.raises(InvalidTransitionError):
        lifecycle.start(make_task(status), op, STAGES, NOW)


# ----------------------------------------------------------------------------- stage outcomes


def running(**changes: object) -> Task:
    return make_task(TaskStatus.RUNNING, current_stage=STAGES[0], **changes)


def rolling_back(**changes: object) -> Task:
    return make_task(TaskStatus.ROLLING_BACK, mode=ExecutionMode.ROLLBACK, **changes)


PAUSE, CANCEL, BACK = BoundaryRequest.PAUSE, BoundaryRequest.CANCEL, ExecutionMode.ROLLBACK


@pytest.mark.parametrize(
    ("task", "index", "status", "events"),
    [
        (running(), 0, TaskStatus.RUNNING, ["StageCompleted", "StageStarted"]),
        (running(checkpoint=checkpoint(1)), 2, TaskStatus.COMPLETED, ["StageCompleted", "TaskCompleted"]),  # noqa: E501
        (running(requested=PAUSE), 0, TaskStatus.PAUSED, ["StageCompleted", "TaskPaused"]),
        (running(requested=CANCEL), 0, TaskStatus.CANCELLED, ["StageCompleted", "TaskCancelled"]),
        (rolling_back(requested=PAUSE), 0, TaskStatus.ROLLING_BACK, ["StageCompleted", "StageStarted"]),  # noqa: E501
        (rolling_back(checkpoint=checkpoint(1, BACK)), 2, TaskStatus.ROLLED_BACK, ["StageCompleted", "TaskRolledBack"]),  # noqa: E501
    ],
)  # fmt: skip
def test_a_completed_stage_moves_on_stops_or_finishes(
    task: Task, index: int, status: TaskStatus, events: list[str]
) -> None:
    step = lifecycle.stage_completed(task, index, NOW)
    assert step.task.status is status
    assert types(step) == events
    assert step.task.checkpoint is not None
    assert step.task.checkpoint.last_stage == index
    assert step.task.checkpoint.completed[-1] == STAGES[index]
    assert step.task.checkpoint.mode is task.mode
    assert step.task.requested is None or status is TaskStatus.ROLLING_BACK
    assert step.task.updated_at == NOW


def cause(error_type: ErrorType = ErrorType.BUSINESS_ERROR) -> FailureInfo:
    return FailureInfo(error_type, "it broke", STAGES[1], "portal-notify", True, {"code": "E1"})


def test_a_failed_forward_stage_fails_the_task_with_its_cause() -> None:
    step = lifecycle.stage_failed(running(), cause(), 1, NOW)
    assert step.task.status is TaskStatus.FAILED
    assert step.task.failure == cause()
    assert types(step) == ["StageFailed", "TaskFailed"]


@pytest.mark.parametrize(
    ("error_type", "recorded"),
    [
        (ErrorType.HEALTH_CHECK_FAILED, ErrorType.ROLLBACK_HEALTH_CHECK_FAILED),
        (ErrorType.BUSINESS_ERROR, ErrorType.ROLLBACK_PARTIAL_FAILED),
        (ErrorType.TIMEOUT_ERROR, ErrorType.ROLLBACK_PARTIAL_FAILED),
    ],
)
def test_a_failed_rollback_stage_records_the_rollback_error_and_stage_report(
    error_type: ErrorType, recorded: ErrorType
) -> None:
    task = make_task(TaskStatus.ROLLING_BACK, mode=ExecutionMode.ROLLBACK)
    step = lifecycle.stage_failed(task, cause(error_type), 1, NOW)
    assert step.task.status is TaskStatus.ROLLBACK_FAILED
    failure = step.task.failure
    assert failure is not None
    assert failure.error_type is recorded
    assert failure.details["stages"] == [
        {"stage": "asbc-gateway", "status": "succeeded"},
        {"stage": "portal", "status": "failed"},
        {"stage": "blue-green-gateway", "status": "not_run"},
    ]
    assert failure.details["cause"]["error_type"] == error_type.value
    assert types(step) == ["StageFailed", "TaskRollbackFailed"]


def test_a_stage_timing_out_under_a_cancel_cancels_the_task() -> None:
    step = lifecycle.stage_failed(
        running(requested=BoundaryRequest.CANCEL), cause(ErrorType.TIMEOUT_ERROR), 1, NOW
    )
    assert step.task.status is TaskStatus.CANCELLED
    assert step.task.failure == cause(ErrorType.TIMEOUT_ERROR)
    assert types(step) == ["StageFailed", "TaskCancelled"]
    other = lifecycle.stage_failed(running(requested=BoundaryRequest.CANCEL), cause(), 1, NOW)
    assert other.task.status is TaskStatus.FAILED  # only a timeout is the cancel's doing


# ----------------------------------------------------------------------------- recovery


def test_recovery_honours_a_pause_asked_before_the_crash() -> None:
    step = lifecycle.recover(running(requested=BoundaryRequest.PAUSE), STAGES, NOW)
    assert step.task.status is TaskStatus.PAUSED
    assert types(step) == ["TaskPaused"]


def test_recovery_restarts_the_interrupted_stage() -> None:
    step = lifecycle.recover(running(checkpoint=checkpoint(0)), STAGES, NOW)
    assert step.task.status is TaskStatus.RUNNING
    assert step.task.current_stage == STAGES[1]
    assert types(step) == ["StageStarted"]
    assert step.events[0].data["recovered"] is True


def test_recovery_of_a_task_whose_stages_all_completed_adds_nothing() -> None:
    task = running(checkpoint=checkpoint(2))
    assert lifecycle.recover(task, STAGES, NOW) == lifecycle.Step(task, ())


# ----------------------------------------------------------------------------- operator changes


@pytest.mark.parametrize("status", [TaskStatus.PENDING, TaskStatus.PAUSED, TaskStatus.FAILED])
def test_cancel_now_cancels_a_task_that_is_not_running(status: TaskStatus) -> None:
    step = lifecycle.cancel_now(make_task(status), NOW)
    assert step.task.status is TaskStatus.CANCELLED
    assert types(step) == ["TaskCancelled"]


@pytest.mark.parametrize(
    "status", [TaskStatus.COMPLETED, TaskStatus.ROLLED_BACK, TaskStatus.ROLLING_BACK]
)
def test_cancel_now_of_a_settled_or_rolling_back_task_is_refused(status: TaskStatus) -> None:
    with pytest.raises(InvalidTransitionError):
        lifecycle.cancel_now(make_task(status), NOW)


def test_a_boundary_request_stamps_the_task() -> None:
    asked = lifecycle.request_at_boundary(running(), BoundaryRequest.PAUSE, NOW)
    assert asked.requested is BoundaryRequest.PAUSE
    assert asked.updated_at == NOW
    assert lifecycle.request_at_boundary(asked, None, NOW + 1).requested is None


def test_waiting_names_the_holder_once_and_clears_without_an_event() -> None:
    step = lifecycle.waiting(make_task(), "store-b/p2/t1", NOW)
    assert step.task.waiting_for == "store-b/p2/t1"
    assert types(step) == ["TaskWaiting"]
    assert step.events[0].data == {"holder": "store-b/p2/t1"}
    cleared = lifecycle.waiting(step.task, None, NOW)
    assert cleared.task.waiting_for is None
    assert cleared.events == ()


# ----------------------------------------------------------------------------- created


@pytest.mark.parametrize("reason", [None, "CHG-7"])
def test_a_new_plan_is_running_with_a_pending_task_per_tenant_in_file_order(
    reason: str | None,
) -> None:
    def config(tenant: str, version: int) -> TenantConfig:
        return TenantConfig(tenant_id=tenant, plan_id="p1", plan_version=version)

    spec = PlanSpec(
        "p1",
        20,
        5,
        (TenantSpec(config("b", 20), config("b", 19)), TenantSpec(config("a", 20), None)),
    )
    plan, tasks, events = lifecycle.created(
        spec,
        lambda c: STAGES if c.tenant_id == "b" else STAGES[:1],
        NOW,
        actor="alice",
        reason=reason,
        binding={"redis": "r"},
        settings_file="ops.yaml",
    )
    assert (plan.plan_id, plan.status, plan.task_count, plan.max_concurrency) == (
        "p1",
        PlanStatus.RUNNING,
        2,
        5,
    )
    assert (plan.created_by, plan.reason, plan.binding, plan.settings_file) == (
        "alice",
        reason,
        {"redis": "r"},
        "ops.yaml",
    )
    assert [(t.task_id, t.position, t.status, t.stages) for t in tasks] == [
        ("p1/b", 0, TaskStatus.PENDING, STAGES),
        ("p1/a", 1, TaskStatus.PENDING, STAGES[:1]),
    ]
    assert all(t.created_at == t.updated_at == NOW for t in tasks)
    assert [e.type.value for e in events] == ["PlanCreated", "TaskCreated", "TaskCreated"]
    expected = {"version": 20, "max_concurrency": 5, "task_count": 2, "actor": "alice"}
    assert events[0].data == (expected if reason is None else {**expected, "reason": reason})
    assert [e.data for e in events[1:]] == [
        {"stages": list(STAGES), "rollback_ready": True},
        {"stages": list(STAGES[:1]), "rollback_ready": False},
    ]
