"""Pure domain: statuses and transitions, records, events, failures, plan-file input."""

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.planfile import parse_plan_data, parse_plan_text
from switchover.domain.records import (
    Checkpoint,
    ControlAction,
    Plan,
    PlanSpec,
    Target,
    Task,
    TenantSpec,
)
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus

__all__ = [
    "Checkpoint",
    "ControlAction",
    "Event",
    "EventType",
    "ExecutionMode",
    "FailureInfo",
    "NetworkEndpoint",
    "Plan",
    "PlanSpec",
    "PlanStatus",
    "Target",
    "Task",
    "TaskStatus",
    "TenantConfig",
    "TenantSpec",
    "parse_plan_data",
    "parse_plan_text",
]
