"""The plan tree of ``status PLAN`` and ``watch``: a plan's tasks grouped by status, what
needs attention first, with the stage timeline of the first tasks listed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

import msgspec

from switchover.domain.events import Event, EventType
from switchover.domain.records import Task
from switchover.domain.status import EXECUTING_TASK_STATUSES, ExecutionMode, PlanStatus, TaskStatus
from switchover.service.views import ATTENTION_ORDER, SETTLED_PLAN, PlanDetail

if TYPE_CHECKING:
    from switchover.service.protocols import Views


class StageState(StrEnum):
    """Where one stage of a task's current run stands."""

    DONE = "done"
    FAILED = "failed"
    RUNNING = "running"
    NOT_RUN = "not run"


class StageSpan(msgspec.Struct, frozen=True):
    """One stage of a task's current run: where it stands (from the task) and when it started
    and ended (from the task's events; None where they do not say)."""

    name: str
    state: StageState
    started_at: float | None = None
    ended_at: float | None = None


class TaskBranch(msgspec.Struct, frozen=True):
    """A task shown in a plan tree, and its stage timeline (None: not read for this view)."""

    task: Task
    stages: tuple[StageSpan, ...] | None = None


class TaskGroup(msgspec.Struct, frozen=True):
    """A plan's tasks with one status: how many, and the first of them (in submission order)."""

    status: TaskStatus
    count: int
    tasks: tuple[TaskBranch, ...] = ()

    @property
    def hidden(self) -> int:
        """How many of the group's tasks are not shown."""
        return max(self.count - len(self.tasks), 0)


class PlanTree(msgspec.Struct, frozen=True):
    """A plan as ``status PLAN`` and ``watch`` show it: its detail (counts, rollout, failure
    causes) and its tasks grouped by status, what needs attention first (``TREE_ORDER``)."""

    detail: PlanDetail
    groups: tuple[TaskGroup, ...]

    @property
    def plan_id(self) -> str:
        """The plan's id."""
        return self.detail.plan.plan_id

    @property
    def status(self) -> PlanStatus:
        """The plan's status."""
        return self.detail.plan.status

    def counts(self) -> Counter[TaskStatus]:
        """The plan's tasks by status, in status order."""
        counts = self.detail.counts
        return Counter({status: counts[status] for status in TaskStatus if counts.get(status)})

    def done(self) -> bool:
        """Whether a watcher of the plan stops here: as ``plan_done``, the plan settled or
        paused with nothing executing."""
        status = self.detail.plan.status
        executing = sum(self.detail.counts.get(s, 0) for s in EXECUTING_TASK_STATUSES)
        return (status in SETTLED_PLAN or status is PlanStatus.PAUSED) and not executing


TREE_ORDER: tuple[TaskStatus, ...] = tuple(s for group in ATTENTION_ORDER for s in group)
"""The order of a plan tree's groups: failed, executing, paused, pending, then settled."""

SETTLED_GROUPS = frozenset(ATTENTION_ORDER[-1])
"""Groups a plan tree counts without listing unless asked to (COMPLETED, CANCELLED,
ROLLED_BACK)."""

TIMELINE_TASKS = 25
"""The most tasks of one plan tree whose stage timeline is read (one store call each)."""

_TIMELINE_PAGE = 500
_TIMELINE_PAGES = 4
"""A task's events are read for its timeline in pages, at most this many."""

_FAILED_TASK = frozenset({TaskStatus.FAILED, TaskStatus.ROLLBACK_FAILED})
_STAGE_ENDS = frozenset({EventType.STAGE_COMPLETED, EventType.STAGE_FAILED})


async def plan_tree(
    views: Views,
    plan_id: str,
    *,
    limit: int | None = 5,
    statuses: Collection[TaskStatus] | None = None,
    settled: bool = False,
) -> PlanTree:
    """A plan as a tree, from any ``Views`` (a store's ``Queries`` or a server's).

    Each group lists its first ``limit`` tasks (None: all). A settled group is only counted
    unless ``settled`` is set or ``statuses`` names it; with ``statuses``, only those groups.
    The first ``TIMELINE_TASKS`` listed tasks that have run get their stage timeline.

    The reads are bounded whatever the plan's size: the plan with its counts, one page per
    group listed, and one read of events per timeline (more only for a long history).

    Raises:
        NotFoundError: no such plan (with the plan ids it may have meant).
    """
    head = await views.plan(plan_id, limit=0)
    groups: list[TaskGroup] = []
    timelines = TIMELINE_TASKS
    for status in TREE_ORDER:
        count = head.counts.get(status, 0)
        named = statuses is not None and status in statuses
        if not count or (statuses is not None and not named):
            continue
        if limit == 0 or not (named or settled or status not in SETTLED_GROUPS):
            groups.append(TaskGroup(status, count))
            continue
        page = await views.tasks(plan_id, statuses=(status,), limit=limit)
        shown: list[TaskBranch] = []
        for task in page:
            stages = None
            if timelines > 0 and task.status is not TaskStatus.PENDING:
                timelines -= 1
                stages = await task_stages(views, task)
            shown.append(TaskBranch(task, stages))
        groups.append(TaskGroup(status, count, tuple(shown)))
    return PlanTree(head, tuple(groups))


async def task_stages(views: Views, task: Task) -> tuple[StageSpan, ...]:
    """The stage timeline of ``task`` (``stage_timeline``), from its events (one read, more
    only for a long history).

    Raises:
        NotFoundError: no such task.
    """
    return stage_timeline(task, await _task_history(views, task.task_id))


async def _task_history(views: Views, task_id: str) -> list[Event]:
    events: list[Event] = []
    for _ in range(_TIMELINE_PAGES):
        since = events[-1].seq if events else 0
        page = await views.task_events(task_id, since=since, limit=_TIMELINE_PAGE)
        events += page
        if len(page) < _TIMELINE_PAGE:
            break
    return events


def stage_timeline(task: Task, events: Sequence[Event]) -> tuple[StageSpan, ...]:
    """Each stage of the task's current run: its state, from the task (checkpoint, current
    stage, failure), and when its latest run started and ended, from the task's events."""
    if task.mode is ExecutionMode.ROLLBACK:
        # A rollback's stages share their names with the forward run's: only its events count.
        starts = [i for i, e in enumerate(events) if e.type is EventType.TASK_ROLLING_BACK]
        events = events[starts[0] :] if starts else []
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    for event in events:
        if event.stage is None:
            continue
        if event.type is EventType.STAGE_STARTED:
            started[event.stage] = event.at
            ended.pop(event.stage, None)
        elif event.type in _STAGE_ENDS and event.stage in started:
            ended[event.stage] = event.at
    checkpoint = task.checkpoint
    done = set(checkpoint.completed) if checkpoint and checkpoint.mode is task.mode else set()
    failure = task.failure
    failed = failure.stage if failure is not None and task.status in _FAILED_TASK else None
    spans: list[StageSpan] = []
    for name in task.stages:
        if name in done:
            state = StageState.DONE
        elif name == failed:
            state = StageState.FAILED
        elif name == task.current_stage and task.status in EXECUTING_TASK_STATUSES:
            state = StageState.RUNNING
        else:
            spans.append(StageSpan(name, StageState.NOT_RUN))
            continue
        end = None if state is StageState.RUNNING else ended.get(name)
        spans.append(StageSpan(name, state, started.get(name), end))
    return tuple(spans)
