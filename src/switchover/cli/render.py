"""How plans, tasks and events look on a terminal, and as JSON."""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.control import strip_control_codes
from rich.text import Text

from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Plan, Task
from switchover.domain.rollout import describe
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus

if TYPE_CHECKING:
    from rich.table import Table
    from rich.tree import Tree

    from switchover.service import PlanDetail, PlanTree, StageSpan, TaskBranch
    from switchover.stores.protocol import PlanSummary

STATUS_STYLE = {
    "PENDING": "dim",
    "RUNNING": "cyan",
    "PAUSED": "yellow",
    "COMPLETED": "green",
    "FAILED": "bold red",
    "CANCELLED": "magenta",
    "ROLLING_BACK": "cyan",
    "ROLLED_BACK": "blue",
    "ROLLBACK_FAILED": "bold red",
}

TASK_ORDER = list(TaskStatus)


def styled(status: str) -> Text:
    """A status word in its colour."""
    return Text(status, style=STATUS_STYLE.get(status, ""))


def when(timestamp: float) -> str:
    """Local wall time of a timestamp, to the second."""
    return _when(int(timestamp // 1))


@functools.lru_cache(maxsize=64)  # an event log's lines share their seconds
def _when(second: int) -> str:
    return dt.datetime.fromtimestamp(second).strftime("%Y-%m-%d %H:%M:%S")


def counts_line(counts: Counter[TaskStatus]) -> Text:
    """``3 COMPLETED · 1 FAILED`` in status order, with colours."""
    text = Text()
    for status in TASK_ORDER:
        if counts.get(status):
            if text:
                text.append(" · ")
            text.append(f"{counts[status]:,} ")
            text.append_text(styled(status.value))
    return text or Text("no tasks", style="dim")


def failure_line(failure: FailureInfo) -> str:
    """``BUSINESS_ERROR at portal/notify: message``."""
    where = "/".join(p for p in (failure.stage, failure.step) if p)
    return f"{failure.error_type.value}{f' at {where}' if where else ''}: {failure.message}"


def plan_list(summaries: Sequence[PlanSummary]) -> Table:
    """Every plan, most recent first, with its tasks by status."""
    from rich.table import Table

    table = Table(title="plans", title_justify="left", expand=False)
    for column in ("plan", "status", "version", "tasks", "created", "by"):
        table.add_column(column)
    for summary in summaries:
        plan = summary.plan
        table.add_row(
            plan.plan_id,
            styled(plan.status.value),
            str(plan.version),
            counts_line(Counter(summary.counts)),
            when(plan.created_at),
            plan.created_by or "",
        )
    return table


def progress(task: Task) -> str:
    """``2/3 blue-green-gateway`` (completed stages of the current run, and the current one)."""
    done = len(task.checkpoint.completed) if task.checkpoint else 0
    total = len(task.stages)
    label = f"{done}/{total}"
    if task.current_stage:
        label += f" {task.current_stage}"
    if task.mode.value == "ROLLBACK":
        label += " (rollback)"
    return label


def duration(seconds: float) -> str:
    """A length of time for people: ``0.4s``, ``12s``, ``3m 07s``, ``2h 05m``."""
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _rollout_line(plan: Plan) -> Text | None:
    """Where the plan's waves and failure budget stand, or None when it has neither."""
    parts: list[str] = []
    waiting = describe(plan.policy, plan.rollout)
    if waiting:
        parts.append(waiting)
    budget = plan.policy.budget if plan.policy is not None else None
    if budget is not None:
        state = "overridden" if plan.rollout.overridden else f"halts at {budget.limits()}"
        parts.append(f"failure budget: {plan.rollout.failures:,} failed, {state}")
    if not parts:
        return None
    alarm = plan.rollout.gate is not None or plan.rollout.halted is not None
    return Text(" · ".join(parts), style="yellow" if alarm else "")


def _plan_label(detail: PlanDetail, now: float) -> Group:
    """The root of a plan tree: status, counts, rollout, when and by whom, failure causes."""
    plan, counts = detail.plan, Counter(detail.counts)
    lines: list[RenderableType] = [
        Text.assemble(
            ("plan ", "bold"),
            (plan.plan_id, "bold"),
            "  ",
            styled(plan.status.value),
            f"  version {plan.version}  max concurrency {plan.max_concurrency}",
            "  (operator paused)" if plan.operator_paused else "",
        ),
        Text.assemble(f"{sum(counts.values()):,} tasks: ", counts_line(counts)),
    ]
    rollout = _rollout_line(plan)
    if rollout is not None:
        lines.append(rollout)
    settled = plan.status in _SETTLED_PLAN
    took = (plan.updated_at if settled else now) - plan.created_at
    started = Text(f"started {when(plan.created_at)}, ", style="dim")
    started.append(f"took {duration(took)}" if settled else f"running for {duration(took)}")
    if plan.created_by:
        started.append(f", by {plan.created_by}")
        if plan.reason:
            started.append(f": {plan.reason}")
    elif plan.reason:
        started.append(f": {plan.reason}")
    lines.append(started)
    if detail.failures:
        causes = "; ".join(
            f"{count:,} {kind}" + (f" at {stage}" if stage else "")
            for kind, stage, count in detail.failures[:6]
        )
        lines.append(Text(f"failures: {causes}", style="red"))
    return Group(*lines)


def _task_label(task: Task) -> Text:
    """``t-0042  FAILED  2/4 stages  retries 1``, with what the task waits for."""
    label = Text.assemble((task.tenant_id, "bold"), "  ", styled(task.status.value))
    if task.stages:
        done = len(task.checkpoint.completed) if task.checkpoint else 0
        label.append(f"  {done}/{len(task.stages)} stages")
    if task.mode is ExecutionMode.ROLLBACK:
        label.append(f"  rollback to v{task.run_version}", style="blue")
    if task.retry_count:
        label.append(f"  retries {task.retry_count}")
    if task.requested is not None:
        label.append(f"  {task.requested.value.lower()} requested", style="yellow")
    if task.waiting_for:
        label.append(f"  waiting for the tenant, held by {task.waiting_for}", style="yellow")
    return label


_MARKS = {  # by ``service.StageState`` (imported only where a command needs the service)
    "done": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "running": ("▸", "cyan"),
    "not run": ("·", "dim"),
}
_SETTLED_PLAN = frozenset({PlanStatus.COMPLETED, PlanStatus.FAILED, PlanStatus.CANCELLED})


def stage_line(span: StageSpan, now: float) -> Text:
    """``✓ portal  0.4s``: a stage's mark, name, how long it took (or runs) and its result."""
    state = span.state.value
    mark, style = _MARKS[state]
    line = Text.assemble((mark, style), " ", span.name)
    if span.started_at is not None and state != "not run":
        end = now if state == "running" else span.ended_at
        if end is not None:
            line.append(f"  {duration(end - span.started_at)}")
    if state != "done":
        line.append(f"  {state}", style=style)
    return line


def failing_parts(failure: FailureInfo, most: int = 5) -> list[str]:
    """What failed, one line each, from a failure's details: the instances that never
    matched, the numbers an ASBC refused, the instance that answered badly."""
    details: Mapping[str, Any] = failure.details
    cause = details.get("cause")
    if isinstance(cause, Mapping) and isinstance(cause.get("details"), Mapping):
        details = cause["details"]  # a failed rollback: its own cause's details
    parts: list[str] = []
    for probe in details.get("instances") or ():
        if isinstance(probe, Mapping) and not probe.get("matched"):
            parts.append(f"{probe.get('instance')}: last reported {probe.get('last_reported')}")
    for number in details.get("failed") or ():
        if isinstance(number, Mapping):
            parts.append(f"number {number.get('number')}: {number.get('message')}")
    if not parts and details.get("instance"):
        answer = ", ".join(
            f"{key} {details[key]}" for key in ("status", "code", "message") if key in details
        )
        parts.append(f"{details['instance']}: {answer}" if answer else str(details["instance"]))
    if len(parts) > most:
        parts = [*parts[:most], f"… and {len(parts) - most} more"]
    return parts


def _task_branch(node: Tree, shown: TaskBranch, now: float) -> None:
    task = shown.task
    for span in shown.stages or ():
        node.add(stage_line(span, now))
    failure = task.failure
    if failure is not None and task.status is not TaskStatus.ROLLED_BACK:
        cause = node.add(Text(f"✗ {failure_line(failure)}", style="red"))
        for part in failing_parts(failure):
            cause.add(Text(part, style="red"))


def plan_tree_view(tree: PlanTree, *, now: float | None = None) -> Tree:
    """A plan as a tree: the plan, its tasks by status (what needs attention first), each
    shown task's stages with their durations and, for a failed one, the cause.

    A group lists the tasks the view read and ends with ``… and N more STATUS``; a group the
    view only counted (a settled one, by default) is its status and count.

    Args:
        tree: the plan tree (``service.plan_tree``).
        now: the wall-clock time running stages are measured to (default: now).
    """
    from rich.tree import Tree

    at = time.time() if now is None else now
    root = Tree(_plan_label(tree.detail, at), guide_style="dim")
    for group in tree.groups:
        branch = root.add(Text.assemble(styled(group.status.value), f" {group.count:,}"))
        for shown in group.tasks:
            _task_branch(branch.add(_task_label(shown.task)), shown, at)
        if group.tasks and group.hidden:
            more = f"… and {group.hidden:,} more {group.status.value}"
            branch.add(Text(more, style="dim"))
    return root


def task_detail(
    task: Task, spans: Sequence[StageSpan] | None = None, *, now: float | None = None
) -> Group:
    """Everything about one task: status, stage progress, checkpoint, failure and snapshot;
    with ``spans`` (its stage timeline), how long each stage took or has been running."""
    previous = f"yes (v{task.previous.plan_version})" if task.previous else "none"
    lines: list[RenderableType] = [
        Text.assemble(("task ", "bold"), (task.task_id, "bold"), "  ", styled(task.status.value)),
        Text(f"tenant {task.tenant_id}  plan {task.plan_id}  mode {task.mode.value}"),
        Text(
            f"version {task.run_version}  retries {task.retry_count}  previous config: {previous}"
        ),
    ]
    if task.waiting_for:
        lines.append(
            Text(f"waiting for the tenant: its claim is held by {task.waiting_for}", "yellow")
        )
    from rich.table import Table

    stages = Table(show_header=True, expand=False)
    stages.add_column("#")
    stages.add_column("stage")
    stages.add_column("state")
    if spans is not None:
        stages.add_column("took", justify="right")
    timed = {span.name: span for span in spans or ()}
    at = time.time() if now is None else now
    done = set(task.checkpoint.completed) if task.checkpoint else set()
    failed_stage = task.failure.stage if task.failure else None
    for index, name in enumerate(task.stages):
        if name in done:
            state = Text("done", style="green")
        elif name == task.current_stage:
            state = Text("running", style="cyan")
        elif name == failed_stage:
            state = Text("failed", style="bold red")
        else:
            state = Text("—", style="dim")
        if spans is None:
            stages.add_row(str(index), name, state)
            continue
        span = timed.get(name)
        took = ""
        if span is not None and span.started_at is not None:
            end = at if span.state.value == "running" else span.ended_at
            took = duration(end - span.started_at) if end is not None else ""
        stages.add_row(str(index), name, state, took)
    lines.append(stages)
    if task.checkpoint:
        lines.append(
            Text(
                f"checkpoint: stage {task.checkpoint.last_stage} "
                f"({task.checkpoint.completed[-1]}) at {when(task.checkpoint.at)}"
            )
        )
    else:
        lines.append(Text("checkpoint: none", style="dim"))
    if task.requested:
        lines.append(Text(f"requested: {task.requested.value} at next stage boundary"))
    if task.failure:
        lines.append(Text(f"failure: {failure_line(task.failure)}", style="red"))
        for key, value in task.failure.details.items():
            lines.append(Text(f"  {key}: {json.dumps(value)}", style="dim"))
    return Group(*lines)


def event_parts(event: Event) -> list[tuple[str, str]]:
    """One event's line as pieces of text, each with its style (see ``event_line``)."""
    parts = [(f"#{event.seq:<6} {when(event.at)[11:]} ", ""), (f"{event.type.value:<18}", "bold")]
    if event.tenant_id:
        parts.append((f" {event.tenant_id}", ""))
    if event.status:
        parts += [(" ", ""), (event.status, STATUS_STYLE.get(event.status, ""))]
    if event.stage:
        parts.append((f" {event.stage}", ""))
    if event.failure:
        parts.append((f"  {failure_line(event.failure)}", "red"))
    if event.type is EventType.OPERATION_ACCEPTED:
        parts.append((f" {event.data.get('operation')} {event.data.get('target')}", ""))
    message = event.data.get("message")
    if message:
        parts.append((f"  {message}", "yellow"))
    actor = event.data.get("actor")
    if actor:
        reason = event.data.get("reason")
        parts.append((f"  by {actor}" + (f" ({reason})" if reason else ""), "dim"))
    return parts


def event_line(event: Event) -> Text:
    """One event as a line: ``#12 10:00:01 StageCompleted t-1 RUNNING portal``."""
    return Text.assemble(*event_parts(event))


def event_plain(event: Event) -> str:
    """``event_line`` without styles or control characters: for a pipe or a file."""
    return strip_control_codes("".join(text for text, _ in event_parts(event)))


def tenant_history(tenant_id: str, tasks: Sequence[Task]) -> Table:
    """A tenant's tasks across plans, most recent first."""
    from rich.table import Table

    table = Table(title=f"tenant {tenant_id}", title_justify="left", expand=False)
    for column in ("task", "status", "version", "created", "stages", "failure"):
        table.add_column(column, overflow="fold")
    for task in tasks:
        table.add_row(
            task.task_id,
            styled(task.status.value),
            str(task.run_version),
            when(task.created_at),
            progress(task),
            failure_line(task.failure) if task.failure else "",
        )
    return table
