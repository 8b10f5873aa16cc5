"""Pure domain: statuses and transitions, records, events, failures, plan-file input."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchover._lazy import lazy_exports

if TYPE_CHECKING:
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
    from switchover.domain.records import Checkpoint, Plan, PlanSpec, Target, Task, TenantSpec
    from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus

_EXPORTS = {
    "Accepted": "switchover.domain.commands",
    "Cancel": "switchover.domain.commands",
    "Command": "switchover.domain.commands",
    "Outcome": "switchover.domain.commands",
    "Pause": "switchover.domain.commands",
    "Refused": "switchover.domain.commands",
    "Resume": "switchover.domain.commands",
    "Retry": "switchover.domain.commands",
    "Rollback": "switchover.domain.commands",
    "SubmitPlan": "switchover.domain.commands",
    "NetworkEndpoint": "switchover.domain.config",
    "TenantConfig": "switchover.domain.config",
    "Event": "switchover.domain.events",
    "EventType": "switchover.domain.events",
    "FailureInfo": "switchover.domain.failure",
    "parse_plan_data": "switchover.domain.planfile",
    "parse_plan_text": "switchover.domain.planfile",
    "Checkpoint": "switchover.domain.records",
    "Plan": "switchover.domain.records",
    "PlanSpec": "switchover.domain.records",
    "Target": "switchover.domain.records",
    "Task": "switchover.domain.records",
    "TenantSpec": "switchover.domain.records",
    "ExecutionMode": "switchover.domain.status",
    "PlanStatus": "switchover.domain.status",
    "TaskStatus": "switchover.domain.status",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)
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
