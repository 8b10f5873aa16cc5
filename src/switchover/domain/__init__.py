"""Pure domain: statuses and transitions, records, events, failures, plan-file input."""

from switchover.domain.commands import (
    Accepted,
    Cancel,
    Command,
    Outcome,
    Pause,
    Refused,
    Resume,
    Retry,
    Rollback,
    SubmitPlan,
)
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.planfile import parse_plan_data, parse_plan_text
from switchover.domain.records import (
    Checkpoint,
    Plan,
    PlanSpec,
    Target,
    Task,
    TenantSpec,
)
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus

__all__ = [
    "Accepted",
    "Cancel",
    "Checkpoint",
    "Command",
    "Event",
    "EventType",
    "ExecutionMode",
    "FailureInfo",
    "NetworkEndpoint",
    "Outcome",
    "Pause",
    "Plan",
    "PlanSpec",
    "PlanStatus",
    "Refused",
    "Resume",
    "Retry",
    "Rollback",
    "SubmitPlan",
    "Target",
    "Task",
    "TaskStatus",
    "TenantConfig",
    "TenantSpec",
    "parse_plan_data",
    "parse_plan_text",
]
