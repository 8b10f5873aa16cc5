"""The views ``Queries`` answer (and a server's ``RemoteQueries``): plain records, no I/O.

Also the status orders every view shares: what a follower stops at, what a plan page lists first.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from switchover.domain.records import Plan, Task
from switchover.domain.status import PlanStatus, TaskStatus

SETTLED_PLAN = frozenset({PlanStatus.COMPLETED, PlanStatus.FAILED, PlanStatus.CANCELLED})
"""Plan statuses a follower of the whole plan stops at."""

ATTENTION_ORDER: tuple[tuple[TaskStatus, ...], ...] = (
    (TaskStatus.FAILED, TaskStatus.ROLLBACK_FAILED),
    (TaskStatus.RUNNING, TaskStatus.ROLLING_BACK),
    (TaskStatus.PAUSED,),
    (TaskStatus.PENDING,),
    (TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.ROLLED_BACK),
)
"""The order a plan page lists tasks in when no filter is given: what needs a look first."""


class Stranded(msgspec.Struct, frozen=True):
    """Tasks an engine left executing when it stopped, with no live engine to continue them.

    ``task_id`` is set when the view is of one task: the command to continue names it.
    """

    count: int
    plan_id: str
    task_id: str | None = None


class PlanDetail(msgspec.Struct, frozen=True):
    """One plan: its counts by status, one page of its tasks, and how many match the filter."""

    plan: Plan
    counts: Mapping[TaskStatus, int]
    tasks: list[Task]
    matching: int
    stranded: Stranded | None
    last_seq: int = 0
    """The plan's last event when the page was read (read before the tasks)."""
    failures: list[tuple[str, str | None, int]] = msgspec.field(default_factory=list)
    """Failed tasks by error type and stage, most first."""


class TaskDetail(msgspec.Struct, frozen=True):
    """One task as stored, and whether it was left executing by an engine that stopped."""

    task: Task
    stranded: Stranded | None
