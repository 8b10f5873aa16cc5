"""What each step of a task's life does, as pure functions: records in, records and events out.

Given a task (and the time), each function returns the task as it becomes and the events that
describe the change, or raises the refusal (``InvalidTransitionError`` from the transition
table). No I/O and no engine state: the engine, the runner and the operations apply what these
return through their one write path, so the rules of a run live in one place and are tested
here directly. Every change stamps ``updated_at``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, assert_never

import msgspec
from msgspec.structs import replace

from switchover.domain.commands import (
    DEFAULT_ACTOR,
    Accepted,
    Command,
    QueuedCommand,
    Resume,
    Retry,
    Rollback,
    command_name,
)
from switchover.domain.config import TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import (
    BoundaryRequest,
    Checkpoint,
    Plan,
    PlanSpec,
    TargetKind,
    Task,
)
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus, task_transition
from switchover.errors import ErrorType, InvalidTransitionError

PLAN_EVENTS: Mapping[PlanStatus, EventType] = {
    PlanStatus.RUNNING: EventType.PLAN_RESUMED,
    PlanStatus.PAUSED: EventType.PLAN_PAUSED,
    PlanStatus.COMPLETED: EventType.PLAN_COMPLETED,
    PlanStatus.FAILED: EventType.PLAN_FAILED,
    PlanStatus.CANCELLED: EventType.PLAN_CANCELLED,
}
"""The event announcing each plan status."""


def created(
    spec: PlanSpec,
    stage_names: Callable[[TenantConfig], tuple[str, ...]],
    now: float,
    *,
    actor: str = DEFAULT_ACTOR,
    reason: str | None = None,
    binding: Mapping[str, str] | None = None,
    settings_file: str | None = None,
) -> tuple[Plan, list[Task], list[Event]]:
    """A new plan's records and first events: the plan RUNNING, a PENDING task per tenant
    (with the stages ``stage_names`` gives its config), ``PlanCreated`` and a ``TaskCreated``
    per task."""
    plan = Plan(
        plan_id=spec.plan_id,
        version=spec.version,
        max_concurrency=spec.max_concurrency,
        status=PlanStatus.RUNNING,
        task_count=len(spec.tenants),
        created_at=now,
        updated_at=now,
        binding=dict(binding or {}),
        settings_file=settings_file,
        created_by=actor,
        reason=reason,
        policy=spec.policy,
    )
    tasks: list[Task] = []
    events = [
        Event(
            plan_id=plan.plan_id,
            type=EventType.PLAN_CREATED,
            at=now,
            status=plan.status.value,
            data={
                "version": spec.version,
                "max_concurrency": spec.max_concurrency,
                "task_count": len(spec.tenants),
                "actor": actor,
                **({"reason": reason} if reason else {}),
            },
        )
    ]
    for position, tenant in enumerate(spec.tenants):
        config = tenant.config
        stages = stage_names(config)
        task = Task(
            task_id=f"{plan.plan_id}/{config.tenant_id}",
            plan_id=plan.plan_id,
            tenant_id=config.tenant_id,
            position=position,
            config=config,
            previous=tenant.previous,
            status=TaskStatus.PENDING,
            created_at=now,
            updated_at=now,
            stages=stages,
        )
        tasks.append(task)
        events.append(
            Event(
                plan_id=plan.plan_id,
                type=EventType.TASK_CREATED,
                at=now,
                task_id=task.task_id,
                tenant_id=task.tenant_id,
                status=task.status.value,
                data={"stages": list(stages), "rollback_ready": task.previous is not None},
            )
        )
    return plan, tasks, events


class Step(msgspec.Struct, frozen=True):
    """One step of a task's life: the task as it becomes and the events describing it."""

    task: Task
    events: tuple[Event, ...]


def advance(task: Task, now: float, **changes: Any) -> Task:
    """``task`` with ``changes`` and ``updated_at = now``; a status change must be allowed.

    Raises:
        InvalidTransitionError: the transition table does not allow the status change.
        TypeError: a change names no field of Task.
    """
    status = changes.get("status")
    if status is not None and status is not task.status:
        task_transition(task.task_id, task.status, status)
    return replace(task, updated_at=now, **changes)


def task_event(
    kind: EventType,
    task: Task,
    now: float,
    *,
    stage: str | None = None,
    failure: FailureInfo | None = None,
    data: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Event:
    """An event about ``task`` (its status as given); data is ``data`` plus ``fields``."""
    return Event(
        plan_id=task.plan_id,
        type=kind,
        at=now,
        task_id=task.task_id,
        tenant_id=task.tenant_id,
        status=task.status.value,
        stage=stage,
        failure=failure,
        data={**(data or {}), **fields},
    )


def plan_event(plan: Plan, now: float, **data: Any) -> Event:
    """The event announcing the plan's (new) status."""
    return Event(
        plan_id=plan.plan_id,
        type=PLAN_EVENTS[plan.status],
        at=now,
        status=plan.status.value,
        data=data,
    )


def _asked_by(command: Command) -> dict[str, Any]:
    """The audit fields of an event a command caused: who asked, and why (when said)."""
    found: dict[str, Any] = {"actor": command.actor}
    if command.reason:
        found["reason"] = command.reason
    return found


AUDITED_TASK_IDS = 100
"""The most task ids an ``OperationAccepted`` event lists (the count is always there)."""


def operation_event(command: Command, accepted: Accepted, now: float) -> Event:
    """The audit record of an accepted command: what, on which target, by whom, and why."""
    data: dict[str, Any] = {
        "operation": command_name(command),
        "target": str(command.target),
        "message": accepted.message,
        "task_count": len(accepted.task_ids),
        "task_ids": list(accepted.task_ids[:AUDITED_TASK_IDS]),
        **_asked_by(command),
    }
    if isinstance(command, Retry | Rollback) and command.from_checkpoint:
        data["from_checkpoint"] = True
    if isinstance(command, Rollback) and command.version is not None:
        data["version"] = command.version
    one = command.target.kind is not TargetKind.PLAN and len(accepted.task_ids) == 1
    task_id = accepted.task_ids[0] if one else None
    tenant_id = task_id.rpartition("/")[2] if task_id is not None else None
    return Event(
        plan_id=accepted.plan_id,
        type=EventType.OPERATION_ACCEPTED,
        at=now,
        task_id=task_id,
        tenant_id=tenant_id,
        data=data,
    )


# ----------------------------------------------------------------------------- starting a run


def start(task: Task, op: QueuedCommand | None, stages: Sequence[str], now: float) -> Step:
    """An admitted task starts: a fresh forward run (``op`` None) or an accepted command's.

    Args:
        task: the task as cached (PENDING for a fresh start; PAUSED, FAILED or
            ROLLBACK_FAILED for a command's).
        op: the accepted resume, retry or rollback, or None.
        stages: the stage names of the run that starts (the previous config's for a rollback);
            ignored by a resume, which continues the run it paused.
        now: the time.

    Returns:
        The task RUNNING or ROLLING_BACK at its first stage to run, with the start event and
        that stage's ``StageStarted``.
    """
    names = tuple(stages)
    if op is None and task.status is not TaskStatus.PENDING:
        # Only a PENDING task is admitted; any other start is a command's.
        raise InvalidTransitionError("task", task.task_id, task.status.value, "RUNNING")
    if op is None:
        started = advance(
            task,
            now,
            status=TaskStatus.RUNNING,
            stages=names,
            mode=ExecutionMode.NORMAL,
            current_stage=names[0] if names else None,
            waiting_for=None,
        )
        events = [task_event(EventType.TASK_STARTED, started, now, stages=list(names))]
    elif isinstance(op, Resume):
        started = advance(task, now, status=TaskStatus.RUNNING, requested=None, waiting_for=None)
        events = [
            task_event(
                EventType.TASK_RESUMED,
                started,
                now,
                next_stage=started.next_stage,
                **_asked_by(op),
            )
        ]
    elif isinstance(op, Retry):
        keep = (
            op.from_checkpoint
            and task.checkpoint is not None
            and task.checkpoint.mode is ExecutionMode.NORMAL
        )
        started = advance(
            task,
            now,
            status=TaskStatus.RUNNING,
            mode=ExecutionMode.NORMAL,
            stages=names,
            checkpoint=task.checkpoint if keep else None,
            retry_count=task.retry_count + 1,
            failure=None,
            requested=None,
            waiting_for=None,
        )
        events = [
            task_event(
                EventType.TASK_RETRY_STARTED,
                started,
                now,
                attempt=started.retry_count,
                from_checkpoint=keep,
                start_stage=started.next_stage,
                **_asked_by(op),
            )
        ]
    elif isinstance(op, Rollback):
        keep = (
            op.from_checkpoint
            and task.mode is ExecutionMode.ROLLBACK
            and task.checkpoint is not None
            and task.checkpoint.mode is ExecutionMode.ROLLBACK
        )
        started = advance(
            task,
            now,
            status=TaskStatus.ROLLING_BACK,
            mode=ExecutionMode.ROLLBACK,
            stages=names,
            checkpoint=task.checkpoint if keep else None,
            version_override=op.version if op.version is not None else task.version_override,
            failure=None,
            requested=None,
            waiting_for=None,
        )
        events = [
            task_event(
                EventType.TASK_ROLLING_BACK,
                started,
                now,
                version=started.run_version,
                stages=list(names),
                previous_status=task.status.value,
                **_asked_by(op),
            )
        ]
    else:
        assert_never(op)
    index = started.next_stage
    if index < len(started.stages):
        if started.current_stage != started.stages[index]:
            started = replace(started, current_stage=started.stages[index])
        events.append(
            task_event(
                EventType.STAGE_STARTED, started, now, stage=started.stages[index], index=index
            )
        )
    return Step(started, tuple(events))


def recover(task: Task, stages: Sequence[str], now: float) -> Step:
    """A task found executing after a crash: stop at the boundary asked for, or restart.

    Returns:
        Stopped (PAUSED or CANCELLED) when a pause or cancel was asked before the crash;
        otherwise the task at its interrupted stage with a ``StageStarted`` marked
        ``recovered`` (no events when every stage had completed).
    """
    stopped = stop_at_boundary(task, None, now)
    if stopped is not None:
        return stopped
    index = task.next_stage
    if index >= len(stages):
        return Step(task, ())
    names = tuple(stages)
    restarted = advance(task, now, stages=names, current_stage=names[index])
    event = task_event(
        EventType.STAGE_STARTED, restarted, now, stage=names[index], index=index, recovered=True
    )
    return Step(restarted, (event,))


# ----------------------------------------------------------------------------- stage outcomes


def stage_completed(task: Task, index: int, now: float) -> Step:
    """Stage ``index`` succeeded: finish the run, stop at this boundary, or start the next.

    A pause or cancel asked meanwhile is applied here (never during a rollback); the stage's
    checkpoint commits with whatever follows it.
    """
    names = task.stages
    done = task.checkpoint.completed if task.checkpoint else ()
    checkpoint = Checkpoint(task.mode, index, (*done, names[index]), now)
    completed = task_event(EventType.STAGE_COMPLETED, task, now, stage=names[index], index=index)
    if index + 1 == len(names):
        return succeeded(task, checkpoint, now, (completed,))
    stopped = stop_at_boundary(task, checkpoint, now, completed)
    if stopped is not None:
        return stopped
    following = advance(task, now, checkpoint=checkpoint, current_stage=names[index + 1])
    started = task_event(
        EventType.STAGE_STARTED, following, now, stage=names[index + 1], index=index + 1
    )
    return Step(following, (completed, started))


def stop_at_boundary(
    task: Task, checkpoint: Checkpoint | None, now: float, *before: Event
) -> Step | None:
    """Apply a pending pause or cancel at a stage boundary; None when the run goes on."""
    if task.mode is ExecutionMode.ROLLBACK or task.requested is None:
        return None
    if task.requested is BoundaryRequest.CANCEL:
        status, kind = TaskStatus.CANCELLED, EventType.TASK_CANCELLED
    else:
        status, kind = TaskStatus.PAUSED, EventType.TASK_PAUSED
    stopped = advance(
        task,
        now,
        status=status,
        requested=None,
        current_stage=None,
        checkpoint=checkpoint or task.checkpoint,
    )
    return Step(stopped, (*before, task_event(kind, stopped, now, next_stage=stopped.next_stage)))


def succeeded(
    task: Task, checkpoint: Checkpoint | None, now: float, before: Sequence[Event] = ()
) -> Step:
    """Every stage of the run succeeded: COMPLETED, or ROLLED_BACK for a rollback."""
    rollback = task.mode is ExecutionMode.ROLLBACK
    done = advance(
        task,
        now,
        status=TaskStatus.ROLLED_BACK if rollback else TaskStatus.COMPLETED,
        checkpoint=checkpoint,
        current_stage=None,
        requested=None,
    )
    kind = EventType.TASK_ROLLED_BACK if rollback else EventType.TASK_COMPLETED
    return Step(done, (*before, task_event(kind, done, now, version=done.run_version)))


def stage_failed(task: Task, cause: FailureInfo, index: int, now: float) -> Step:
    """Stage ``index`` failed with ``cause`` (after its steps' retries).

    A forward run records the cause (FAILED); a rollback records ROLLBACK_HEALTH_CHECK_FAILED
    or ROLLBACK_PARTIAL_FAILED with the per-stage report (ROLLBACK_FAILED). A stage that ran
    out of time while a cancel was waiting for its boundary ends the task CANCELLED instead,
    the cause kept on it.
    """
    if (
        cause.error_type is ErrorType.TIMEOUT_ERROR
        and task.mode is ExecutionMode.NORMAL
        and task.requested is BoundaryRequest.CANCEL
    ):
        stopped = advance(
            task,
            now,
            status=TaskStatus.CANCELLED,
            requested=None,
            current_stage=None,
            failure=cause,
        )
        return Step(
            stopped,
            (
                task_event(EventType.STAGE_FAILED, stopped, now, stage=cause.stage, failure=cause),
                task_event(
                    EventType.TASK_CANCELLED,
                    stopped,
                    now,
                    failure=cause,
                    next_stage=stopped.next_stage,
                ),
            ),
        )
    rollback = task.mode is ExecutionMode.ROLLBACK
    failure = task_failure(task.mode, cause, task.stages, index)
    failed = advance(
        task,
        now,
        status=TaskStatus.ROLLBACK_FAILED if rollback else TaskStatus.FAILED,
        failure=failure,
        current_stage=None,
        requested=None,
    )
    kind = EventType.TASK_ROLLBACK_FAILED if rollback else EventType.TASK_FAILED
    events = [task_event(kind, failed, now, failure=failure)]
    if cause.stage is not None:
        events.insert(
            0, task_event(EventType.STAGE_FAILED, failed, now, stage=cause.stage, failure=cause)
        )
    return Step(failed, tuple(events))


def stage_report(names: Sequence[str], failed_index: int) -> list[dict[str, str]]:
    """Per-stage outcome of a run that failed at ``failed_index``."""
    report = []
    for index, name in enumerate(names):
        if index < failed_index:
            status = "succeeded"
        elif index == failed_index:
            status = "failed"
        else:
            status = "not_run"
        report.append({"stage": name, "status": status})
    return report


def task_failure(
    mode: ExecutionMode, cause: FailureInfo, names: Sequence[str], failed_index: int
) -> FailureInfo:
    """The FailureInfo the task records when stage ``failed_index`` failed with ``cause``.

    Forward runs record the cause as is. Rollbacks record ROLLBACK_HEALTH_CHECK_FAILED when
    the verify never observed the old version, and ROLLBACK_PARTIAL_FAILED for any other
    failure; both carry the per-stage report and the original cause in ``details`` (SPEC §7).
    """
    if mode is ExecutionMode.NORMAL:
        return cause
    health = cause.error_type in (
        ErrorType.HEALTH_CHECK_FAILED,
        ErrorType.ROLLBACK_HEALTH_CHECK_FAILED,
    )
    error_type = (
        ErrorType.ROLLBACK_HEALTH_CHECK_FAILED if health else ErrorType.ROLLBACK_PARTIAL_FAILED
    )
    prefix = "rollback health check failed" if health else "rollback partially failed"
    return FailureInfo(
        error_type=error_type,
        message=f"{prefix} at stage {cause.stage}: {cause.message}",
        stage=cause.stage,
        step=cause.step,
        retryable=True,
        details={
            "stages": stage_report(names, failed_index),
            "cause": {  # details are JSON-safe data
                "error_type": cause.error_type.value,
                "message": cause.message,
                "stage": cause.stage,
                "step": cause.step,
                "retryable": cause.retryable,
                "details": dict(cause.details),
            },
        },
    )


# ----------------------------------------------------------------------------- operator changes


def request_at_boundary(task: Task, request: BoundaryRequest | None, now: float) -> Task:
    """Ask a running task to pause or cancel at its next stage boundary (None: withdraw)."""
    return advance(task, now, requested=request)


def cancel_now(task: Task, now: float) -> Step:
    """Cancel a task that is not running (PENDING, PAUSED or FAILED) at once.

    Raises:
        InvalidTransitionError: its status cannot become CANCELLED.
    """
    done = advance(task, now, status=TaskStatus.CANCELLED, requested=None, current_stage=None)
    return Step(done, (task_event(EventType.TASK_CANCELLED, done, now),))


def waiting(task: Task, holder: str | None, now: float) -> Step:
    """An admitted task waits for its tenant's claim (``holder`` has it; None: no longer)."""
    waited = advance(task, now, waiting_for=holder)
    if holder is None:
        return Step(waited, ())
    return Step(waited, (task_event(EventType.TASK_WAITING, waited, now, holder=holder),))
