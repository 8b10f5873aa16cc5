"""Following work to its end: tail the store's events and show live progress."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from switchover.cli.render import counts_line, event_line, failure_line, styled
from switchover.domain.events import Event, EventType
from switchover.domain.status import (
    EXECUTING_TASK_STATUSES,
    FINAL_TASK_STATUSES,
    PlanStatus,
    TaskStatus,
)
from switchover.engine.session import Session

_SETTLED_PLAN = (PlanStatus.COMPLETED, PlanStatus.FAILED, PlanStatus.CANCELLED)
_STARTS = (EventType.TASK_RETRY_STARTED, EventType.TASK_ROLLING_BACK, EventType.TASK_RESUMED)
_DONE = (
    TaskStatus.COMPLETED,
    TaskStatus.ROLLED_BACK,
    TaskStatus.CANCELLED,
    TaskStatus.ROLLED_BACK,
)


@dataclass
class TaskView:
    """What the follower knows of one task, from events."""

    tenant_id: str
    status: TaskStatus
    stage: str | None = None
    since: float = 0.0
    started: bool = False


@dataclass
class PlanView:
    """A plan as seen through its event stream."""

    plan_id: str
    status: PlanStatus = PlanStatus.RUNNING
    tasks: dict[str, TaskView] = field(default_factory=dict)
    failures: deque[str] = field(default_factory=lambda: deque(maxlen=6))
    warnings: deque[str] = field(default_factory=lambda: deque(maxlen=3))
    last_seq: int = 0
    started_at: float = field(default_factory=time.monotonic)

    def apply(self, event: Event) -> None:
        """Update the view with one event."""
        self.last_seq = event.seq
        if event.task_id is None:
            if event.status:
                self.status = PlanStatus(event.status)
            return
        view = self.tasks.get(event.task_id)
        if view is None:
            view = self.tasks[event.task_id] = TaskView(
                event.tenant_id or "", TaskStatus(event.status or "PENDING")
            )
        if event.status:
            view.status = TaskStatus(event.status)
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
            self.failures.append(f"{view.tenant_id}: {failure_line(event.failure)}")
        if event.type is EventType.STEP_WARNING:
            self.warnings.append(f"{view.tenant_id}: {event.data.get('message', '')}")

    def counts(self) -> Counter[TaskStatus]:
        """Tasks by status."""
        return Counter(view.status for view in self.tasks.values())

    def render(self, title: str) -> RenderableType:
        """The live display."""
        counts = self.counts()
        total = len(self.tasks)
        settled = sum(
            n
            for s, n in counts.items()
            if s in FINAL_TASK_STATUSES or s in (TaskStatus.FAILED, TaskStatus.ROLLBACK_FAILED)
        )
        elapsed = time.monotonic() - self.started_at
        head = Text.assemble(
            (f"{title} ", "bold"),
            (self.plan_id, "bold"),
            "  ",
            styled(self.status.value),
            f"  {settled}/{total} settled  {elapsed:5.1f}s",
        )
        parts: list[RenderableType] = [
            head,
            ProgressBar(total=max(total, 1), completed=settled, width=60),
            counts_line(counts),
        ]
        running = [v for v in self.tasks.values() if v.status in EXECUTING_TASK_STATUSES]
        if running:
            table = Table(show_header=True, box=None, pad_edge=False)
            table.add_column("running", style="cyan")
            table.add_column("stage")
            table.add_column("for", justify="right")
            now = time.monotonic()
            for view in sorted(running, key=lambda v: v.since)[:8]:
                table.add_row(
                    view.tenant_id,
                    view.stage or "",
                    f"{now - view.since:4.1f}s" if view.since else "",
                )
            if len(running) > 8:
                table.add_row(f"… {len(running) - 8} more", "", "")
            parts.append(table)
        for line in self.failures:
            parts.append(Text(f"✗ {line}", style="red"))
        for line in self.warnings:
            parts.append(Text(f"! {line}", style="yellow"))
        return Group(*parts)


Done = Callable[[PlanView], bool]


def plan_done(view: PlanView) -> bool:
    """A followed plan is done when it settled, or is paused with nothing executing."""
    if view.status in _SETTLED_PLAN:
        return not any(v.status in EXECUTING_TASK_STATUSES for v in view.tasks.values())
    if view.status is PlanStatus.PAUSED:
        return not any(v.status in EXECUTING_TASK_STATUSES for v in view.tasks.values())
    return False


def tasks_started_and_settled(task_ids: set[str], executing: set[str] | None = None) -> Done:
    """For resume/retry/rollback: each task's run started and then stopped executing.

    ``executing`` names tasks that were already executing when the operation was accepted (an
    interrupted run that continues): for them, stopping is enough.
    """
    running = executing or set()

    def done(view: PlanView) -> bool:
        return all(
            (v := view.tasks.get(t)) is not None
            and (v.started or t in running)
            and v.status not in EXECUTING_TASK_STATUSES
            for t in task_ids
        )

    return done


def tasks_stopped(task_ids: set[str]) -> Done:
    """For pause/cancel: none of the tasks is RUNNING any more."""

    def done(view: PlanView) -> bool:
        return all(
            (v := view.tasks.get(t)) is None or v.status is not TaskStatus.RUNNING for t in task_ids
        )

    return done


async def follow(
    session: Session,
    plan_id: str,
    done: Done,
    *,
    console: Console,
    json_lines: bool,
    title: str,
    since: int = 0,
    view: PlanView | None = None,
    notes: Console | None = None,
) -> PlanView:
    """Tail the plan's events until ``done(view)``; show progress (or JSON lines) meanwhile.

    Whenever the engine doing the work goes away, this command takes it over (or, when its
    own engine was deposed, follows the engine that took over): followed work is never left
    without an engine.

    Raises:
        EngineUnavailableError: this command's engine stopped for another reason.
    """
    if view is None:
        view = PlanView(plan_id)
        plan = await session.store.get_plan(plan_id)
        if plan is not None:
            view.status = plan.status
        for task in await session.store.list_tasks(plan_id):
            view.tasks[task.task_id] = TaskView(task.tenant_id, task.status, task.current_stage)
    view.last_seq = max(view.last_seq, since)
    live = console.is_terminal and not json_lines
    last_summary = time.monotonic()
    if notes is None:
        notes = Console(stderr=True, soft_wrap=True)

    async def step() -> bool:
        nonlocal last_summary
        for event in await session.store.read_events(plan_id, view.last_seq, 5000):
            view.apply(event)
            if json_lines:
                console.print_json(data=event.to_dict(), indent=None, highlight=False)
            elif not live and (event.failure is not None or event.type is EventType.STEP_WARNING):
                console.print(event_line(event))
        if done(view):
            return True
        note = await session.keep_alive()
        if note is not None:
            notes.print(f"[yellow]note: {note}[/]", highlight=False)
        if not live and not json_lines and time.monotonic() - last_summary > 5:
            last_summary = time.monotonic()
            console.print(Text.assemble(f"{plan_id} ", counts_line(view.counts())))
        return False

    if live:
        with Live(view.render(title), console=console, refresh_per_second=4) as display:
            while not await step():
                display.update(view.render(title))
                await asyncio.sleep(0.2)
            display.update(view.render(title))
    else:
        # The store is shared with other processes: polling it is the notification mechanism.
        while not await step():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    return view
