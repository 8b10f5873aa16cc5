"""Task and plan statuses, their transition tables, and the one function that applies them."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from switchover.errors import InvalidTransitionError


class TaskStatus(StrEnum):
    """Status of one tenant's task; values are persisted and never renamed."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"


class PlanStatus(StrEnum):
    """Status of a plan; values are persisted and never renamed."""

    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class ExecutionMode(StrEnum):
    """Whether a run applies the task's new config or, rolling back, its previous one."""

    NORMAL = "NORMAL"
    ROLLBACK = "ROLLBACK"


_T = TaskStatus

TASK_TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    _T.PENDING: frozenset({_T.RUNNING, _T.CANCELLED}),
    _T.RUNNING: frozenset({_T.COMPLETED, _T.FAILED, _T.PAUSED, _T.CANCELLED}),
    _T.PAUSED: frozenset({_T.RUNNING, _T.CANCELLED, _T.ROLLING_BACK}),
    _T.FAILED: frozenset({_T.RUNNING, _T.CANCELLED, _T.ROLLING_BACK}),
    _T.ROLLING_BACK: frozenset({_T.ROLLED_BACK, _T.ROLLBACK_FAILED}),
    _T.ROLLBACK_FAILED: frozenset({_T.ROLLING_BACK}),
    _T.COMPLETED: frozenset(),
    _T.CANCELLED: frozenset(),
    _T.ROLLED_BACK: frozenset(),
}
"""SPEC §5, as data: the only task status changes there are."""

_P = PlanStatus

PLAN_TRANSITIONS: Mapping[PlanStatus, frozenset[PlanStatus]] = {
    # A plan runs until every task settles; it can pause (operator or only paused tasks left).
    _P.RUNNING: frozenset({_P.PAUSED, _P.COMPLETED, _P.FAILED, _P.CANCELLED}),
    # A paused plan may still settle: its last running stage can finish the last tasks.
    _P.PAUSED: frozenset({_P.RUNNING, _P.COMPLETED, _P.FAILED, _P.CANCELLED}),
    # Retrying a failed task gives the plan forward progress again.
    _P.FAILED: frozenset({_P.RUNNING, _P.CANCELLED}),
    _P.COMPLETED: frozenset(),
    _P.CANCELLED: frozenset(),
}

FINAL_TASK_STATUSES = frozenset(s for s, targets in TASK_TRANSITIONS.items() if not targets)
"""COMPLETED, CANCELLED, ROLLED_BACK: no transition leaves them."""

ACTIVE_TASK_STATUSES = frozenset({_T.RUNNING, _T.PAUSED, _T.ROLLING_BACK})
"""Statuses that hold the tenant: at most one task per tenant is in one of these."""

SLOT_TASK_STATUSES = frozenset({_T.RUNNING, _T.ROLLING_BACK})
"""Statuses that hold one of the plan's concurrency slots."""

EXECUTING_TASK_STATUSES = SLOT_TASK_STATUSES
"""Statuses in which an engine is (or after a crash, should be) running the task's stages."""


def task_transition(task_id: str, current: TaskStatus, target: TaskStatus) -> TaskStatus:
    """Check one task status change against the table.

    Args:
        task_id: the task, named in the error.
        current: its status now.
        target: the status requested.

    Returns:
        ``target`` when the table allows it.

    Raises:
        InvalidTransitionError: the table does not allow ``current`` → ``target``.
    """
    if target not in TASK_TRANSITIONS[current]:
        raise InvalidTransitionError("task", task_id, current.value, target.value)
    return target


def plan_transition(plan_id: str, current: PlanStatus, target: PlanStatus) -> PlanStatus:
    """Check one plan status change against the table (see ``task_transition``)."""
    if target not in PLAN_TRANSITIONS[current]:
        raise InvalidTransitionError("plan", plan_id, current.value, target.value)
    return target


def derive_plan_status(
    current: PlanStatus, counts: Mapping[TaskStatus, int], *, operator_paused: bool
) -> PlanStatus:
    """The status a plan should have given its tasks (SPEC §5).

    RUNNING while any task can still make forward progress (PENDING or RUNNING; a PENDING task
    of an operator-paused plan waits for resume), PAUSED when an operator paused the plan or
    only paused tasks are left, COMPLETED when every task completed, FAILED when every task
    settled and at least one did not complete. CANCELLED and COMPLETED plans keep their status.
    Rollback statuses count as settled-but-not-completed: rollback never drives the plan.
    """
    if current in (PlanStatus.CANCELLED, PlanStatus.COMPLETED):
        return current
    pending = counts.get(TaskStatus.PENDING, 0)
    running = counts.get(TaskStatus.RUNNING, 0)
    paused = counts.get(TaskStatus.PAUSED, 0)
    if operator_paused and (pending or running or paused):
        return PlanStatus.PAUSED
    if pending or running:
        return PlanStatus.RUNNING
    if paused:
        return PlanStatus.PAUSED
    total = sum(counts.values())
    if counts.get(TaskStatus.COMPLETED, 0) == total:
        return PlanStatus.COMPLETED
    return PlanStatus.FAILED
