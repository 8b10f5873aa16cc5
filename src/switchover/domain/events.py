"""Events: the append-only history of every state change, numbered per plan without gaps."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec

from switchover.domain.failure import FailureInfo


class EventType(StrEnum):
    """Past-tense names of what happened; values are persisted and never renamed."""

    PLAN_CREATED = "PlanCreated"
    PLAN_PAUSED = "PlanPaused"
    PLAN_RESUMED = "PlanResumed"
    PLAN_COMPLETED = "PlanCompleted"
    PLAN_FAILED = "PlanFailed"
    PLAN_CANCELLED = "PlanCancelled"
    TASK_CREATED = "TaskCreated"
    TASK_WAITING = "TaskWaiting"
    TASK_STARTED = "TaskStarted"
    STAGE_STARTED = "StageStarted"
    STAGE_COMPLETED = "StageCompleted"
    STAGE_FAILED = "StageFailed"
    TASK_PAUSED = "TaskPaused"
    TASK_RESUMED = "TaskResumed"
    TASK_COMPLETED = "TaskCompleted"
    TASK_FAILED = "TaskFailed"
    TASK_CANCELLED = "TaskCancelled"
    TASK_RETRY_STARTED = "TaskRetryStarted"
    TASK_ROLLING_BACK = "TaskRollingBack"
    TASK_ROLLED_BACK = "TaskRolledBack"
    TASK_ROLLBACK_FAILED = "TaskRollbackFailed"
    TASK_PROGRESS = "TaskProgress"
    STEP_WARNING = "StepWarning"
    OPERATION_ACCEPTED = "OperationAccepted"
    PLAN_WAVE_STARTED = "PlanWaveStarted"
    PLAN_WAVE_BAKING = "PlanWaveBaking"
    PLAN_AWAITING_APPROVAL = "PlanAwaitingApproval"
    PLAN_HALTED = "PlanHalted"


class Trigger(StrEnum):
    """What caused an event (cf. AppConfig's ``TriggeredBy``)."""

    OPERATOR = "operator"
    ENGINE = "engine"
    HEALTH_CHECK = "health_check"
    ERROR = "error"


_OPERATOR_EVENTS = frozenset(
    {
        EventType.PLAN_CREATED,
        EventType.OPERATION_ACCEPTED,
        EventType.TASK_PAUSED,
        EventType.TASK_RESUMED,
        EventType.TASK_CANCELLED,
        EventType.TASK_RETRY_STARTED,
        EventType.TASK_ROLLING_BACK,
        EventType.PLAN_PAUSED,
        EventType.PLAN_RESUMED,
        EventType.PLAN_CANCELLED,
    }
)
_HEALTH_CHECK_ERRORS = frozenset({"HEALTH_CHECK_FAILED", "ROLLBACK_HEALTH_CHECK_FAILED"})


class Event(msgspec.Struct, frozen=True):
    """One event. ``seq`` is 0 until the store assigns the plan's next number on commit."""

    plan_id: str
    type: EventType
    at: float
    task_id: str | None = None
    tenant_id: str | None = None
    status: str | None = None
    stage: str | None = None
    failure: FailureInfo | None = None
    data: Mapping[str, Any] = msgspec.field(default_factory=dict)
    seq: int = 0

    @property
    def triggered_by(self) -> Trigger:
        """What caused this event: an operator's command, the engine, a health check, an error.

        A failure is an error (a health check's when the check failed); a status change an
        operator asks for (pause, resume, cancel, retry, rollback, submission) is the
        operator's; everything else (admission, stages, completion) is the engine's.
        """
        if self.failure is not None:
            failed = self.failure.error_type.value in _HEALTH_CHECK_ERRORS
            return Trigger.HEALTH_CHECK if failed else Trigger.ERROR
        if self.type in _OPERATOR_EVENTS and not self.data.get("recovered"):
            return Trigger.OPERATOR
        return Trigger.ENGINE
