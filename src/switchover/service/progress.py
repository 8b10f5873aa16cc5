"""A followed plan as its events tell it (``Progress``), when a follower stops (``Done``),
and how to follow an accepted command (``Watch``) to what it came to (``Result``)."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from switchover.domain.commands import Accepted, Cancel, Command, Pause, Resume
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Plan, TargetKind, Task
from switchover.domain.status import EXECUTING_TASK_STATUSES, PlanStatus, TaskStatus
from switchover.service.views import SETTLED_PLAN


@dataclass
class TaskProgress:
    """What a follower knows of one task, from events."""

    tenant_id: str
    status: TaskStatus
    stage: str | None = None
    since: float = 0.0
    started: bool = False


_STARTS = (EventType.TASK_RETRY_STARTED, EventType.TASK_ROLLING_BACK, EventType.TASK_RESUMED)


@dataclass
class Progress:
    """A plan as seen through its event stream.

    Its tasks are added with ``track`` and changed by ``apply`` only: the counts by status and
    the executing tasks are kept as they change, so that a display redrawn several times a
    second costs the same for 10 tasks as for 100,000.
    """

    plan_id: str
    status: PlanStatus = PlanStatus.RUNNING
    tasks: dict[str, TaskProgress] = field(default_factory=dict)
    """Read only: what is known of each task."""
    failures: deque[tuple[str, FailureInfo]] = field(default_factory=lambda: deque(maxlen=6))
    warnings: deque[str] = field(default_factory=lambda: deque(maxlen=3))
    last_seq: int = 0
    started_at: float = field(default_factory=time.monotonic)
    note: str | None = None
    """What the plan waits for (a bake, an approval) or why it halted, from its events."""
    _counts: Counter[TaskStatus] = field(default_factory=Counter, repr=False)
    _executing: dict[str, TaskProgress] = field(default_factory=dict, repr=False)

    def track(self, task_id: str, view: TaskProgress) -> None:
        """Know ``task_id`` as ``view`` (replacing what was known of it)."""
        old = self.tasks.get(task_id)
        if old is not None:
            self._counts[old.status] -= 1
        self.tasks[task_id] = view
        self._counted(task_id, view)

    def _counted(self, task_id: str, view: TaskProgress) -> None:
        self._counts[view.status] += 1
        if view.status in EXECUTING_TASK_STATUSES:
            self._executing[task_id] = view
        else:
            self._executing.pop(task_id, None)

    def apply(self, event: Event) -> None:
        """Update the view with one event."""
        self.last_seq = event.seq
        if event.task_id is None:
            if event.status:
                self.status = PlanStatus(event.status)
            self.note = _plan_note(event, self.note)
            return
        view = self.tasks.get(event.task_id)
        if view is None:
            view = TaskProgress(event.tenant_id or "", TaskStatus(event.status or "PENDING"))
            self.track(event.task_id, view)
        if event.status and event.status != view.status:  # a StrEnum equals its value
            self._counts[view.status] -= 1
            view.status = TaskStatus(event.status)
            self._counted(event.task_id, view)
        if event.type is EventType.STAGE_STARTED:
            view.stage, view.since = event.stage, time.monotonic()
        if event.type in _STARTS:
            view.started = True
        if view.status not in EXECUTING_TASK_STATUSES:
            view.stage = None
        if event.failure and event.type in (
            EventType.TASK_FAILED,
            EventType.TASK_ROLLBACK_FAILED,
        ):
            self.failures.append((view.tenant_id, event.failure))
        if event.type is EventType.STEP_WARNING:
            self.warnings.append(f"{view.tenant_id}: {event.data.get('message', '')}")

    def counts(self) -> Counter[TaskStatus]:
        """Tasks by status (statuses no task has are left out)."""
        return +self._counts

    def executing(self) -> bool:
        """Whether any task is executing."""
        return bool(self._executing)

    def running(self) -> list[TaskProgress]:
        """The executing tasks."""
        return list(self._executing.values())


def _plan_note(event: Event, note: str | None) -> str | None:
    data = event.data
    match event.type:
        case EventType.PLAN_WAVE_BAKING:
            return f"wave {int(data['wave']) - 1} settled; baking {data['bake']:g}s"
        case EventType.PLAN_AWAITING_APPROVAL:
            return (
                f"waiting for approval of wave {data['wave']} of {data['of']}: "
                f"switchover promote --plan {event.plan_id}"
            )
        case EventType.PLAN_HALTED:
            return f"halted: {data['reason']}"
        case EventType.PLAN_WAVE_STARTED:
            return f"wave {data['wave']} of {data['of']}"
        case EventType.PLAN_RESUMED:
            return None
    return note


Done = Callable[[Progress], bool]


def plan_done(progress: Progress) -> bool:
    """A followed plan is done when it settled, or paused, with nothing executing."""
    if progress.status in SETTLED_PLAN or progress.status is PlanStatus.PAUSED:
        return not progress.executing()
    return False


def tasks_started_and_settled(task_ids: set[str], executing: set[str] | None = None) -> Done:
    """For resume/retry/rollback: each task's run started and then stopped executing.

    ``executing`` names tasks that were already executing when the command was accepted (an
    interrupted run that continues): for them, stopping is enough.
    """
    running = executing or set()

    def done(progress: Progress) -> bool:
        return all(
            (v := progress.tasks.get(t)) is not None
            and (v.started or t in running)
            and v.status not in EXECUTING_TASK_STATUSES
            for t in task_ids
        )

    return done


def tasks_stopped(task_ids: set[str]) -> Done:
    """For pause/cancel: none of the tasks is RUNNING any more."""

    def done(progress: Progress) -> bool:
        return all(
            (v := progress.tasks.get(t)) is None or v.status is not TaskStatus.RUNNING
            for t in task_ids
        )

    return done


@dataclass(frozen=True, slots=True)
class Update:
    """One poll of a followed plan: the new events, notes about engines, and whether done."""

    events: list[Event]
    notes: list[str]
    done: bool


@dataclass(frozen=True, slots=True)
class Watch:
    """How to follow an accepted command: which plan, until when, from which event."""

    plan_id: str
    done: Done
    since: int
    whole_plan: bool
    """The command concerns the plan as such (e.g. resume of a running plan)."""


@dataclass(frozen=True, slots=True)
class Result:
    """What an accepted command came to, once followed: the plan, and its tasks as stored."""

    command: Command
    plan: Plan | None
    tasks: list[Task]
    whole_plan: bool


def watch_for(
    command: Command, accepted: Accepted, since: int, plan: Plan | None, executing: set[str]
) -> Watch:
    """How to follow an accepted command, given its plan and the tasks executing right after.

    A resume of an unsettled plan is followed as the whole plan; pause and cancel until the
    tasks stopped running; resume, retry and rollback of tasks until each run started and
    stopped (a task already executing, i.e. continued, only has to stop).
    """
    settled = plan is not None and plan.status in SETTLED_PLAN
    task_ids = set(accepted.task_ids)
    if command.target.kind is TargetKind.PLAN and isinstance(command, Resume) and not settled:
        return Watch(accepted.plan_id, plan_done, since, whole_plan=True)
    if isinstance(command, Pause | Cancel):
        done = tasks_stopped(task_ids)
    else:
        done = tasks_started_and_settled(task_ids, executing & task_ids)
    whole = command.target.kind is TargetKind.PLAN and not (isinstance(command, Resume) and settled)
    return Watch(accepted.plan_id, done, since, whole_plan=whole)
