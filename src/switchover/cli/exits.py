"""Exit codes of the ``switchover`` command, and which error gets which (the only such table)."""

from __future__ import annotations

from enum import IntEnum

from switchover.domain.status import PlanStatus, TaskStatus
from switchover.errors import ErrorType, SwitchoverError


class Exit(IntEnum):
    """Documented exit codes."""

    OK = 0
    """Success: the plan completed, the operation did what was asked."""
    FAILED = 1
    """The work ended badly: plan FAILED or CANCELLED, task FAILED or ROLLBACK_FAILED."""
    INVALID = 2
    """Invalid input: plan file, settings or command line."""
    NOT_FOUND = 3
    """No such plan, task or tenant."""
    REFUSED = 4
    """Refused, nothing changed: wrong status, no previous config, tenant busy, conflict."""
    PAUSED = 5
    """The plan or task is paused and can be resumed."""
    UNAVAILABLE = 6
    """The store, the engine or a dependency failed; or an internal error."""
    INTERRUPTED = 130
    """Interrupted twice: exited at once; unfinished work resumes when an engine starts."""


_BY_ERROR = {
    ErrorType.VALIDATION_ERROR: Exit.INVALID,
    ErrorType.NOT_FOUND: Exit.NOT_FOUND,
    ErrorType.INVALID_STATE: Exit.REFUSED,
    ErrorType.TENANT_BUSY: Exit.REFUSED,
    ErrorType.CONFLICT: Exit.REFUSED,
    ErrorType.ROLLBACK_PRECONDITION_FAILED: Exit.REFUSED,
    ErrorType.UNAUTHORIZED: Exit.INVALID,
    ErrorType.FORBIDDEN: Exit.REFUSED,
}


def exit_for_error(error: SwitchoverError) -> Exit:
    """The exit code for an error that ended a command."""
    return _BY_ERROR.get(error.error_type, Exit.UNAVAILABLE)


def exit_for_plan(status: PlanStatus) -> Exit:
    """The exit code for a followed plan that reached ``status``."""
    if status is PlanStatus.COMPLETED:
        return Exit.OK
    if status is PlanStatus.PAUSED:
        return Exit.PAUSED
    if status is PlanStatus.RUNNING:
        return Exit.UNAVAILABLE
    return Exit.FAILED


def exit_for_task(status: TaskStatus) -> Exit:
    """The exit code for a followed task that settled in ``status``."""
    if status in (TaskStatus.COMPLETED, TaskStatus.ROLLED_BACK, TaskStatus.CANCELLED):
        return Exit.OK
    if status is TaskStatus.PAUSED:
        return Exit.PAUSED
    if status in (TaskStatus.FAILED, TaskStatus.ROLLBACK_FAILED):
        return Exit.FAILED
    return Exit.UNAVAILABLE
