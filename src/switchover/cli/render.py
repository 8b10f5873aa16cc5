"""How plans, tasks and events look on a terminal, and as JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Task
from switchover.domain.rollout import describe
from switchover.domain.status import TaskStatus

if TYPE_CHECKING:
    from switchover.service import PlanDetail
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
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def print_json(console: Console, data: Any) -> None:
    """One JSON document on one line (so output can be piped to ``jq``)."""
    console.print_json(json.dumps(data), indent=None, highlight=False)


def counts_line(counts: Counter[TaskStatus]) -> Text:
    """``3 COMPLETED · 1 FAILED`` in status order, with colours."""
    text = Text()
    for status in TASK_ORDER:
        if counts.get(status):
            if text:
                text.append(" · ")
            text.append(f"{counts[status]} ")
            text.append_text(styled(status.value))
    return text or Text("no tasks", style="dim")


def failure_line(failure: FailureInfo) -> str:
    """``BUSINESS_ERROR at portal/notify: message``."""
    where = "/".join(p for p in (failure.stage, failure.step) if p)
    return f"{failure.error_type.value}{f' at {where}' if where else ''}: {failure.message}"


def plan_list(summaries: Sequence[PlanSummary]) -> Table:
    """Every plan, most recent first, with its tasks by status."""
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


def plan_detail(detail: PlanDetail) -> Group:
    """A plan's header, its counts and a page of its tasks (failed and unfinished first)."""
    plan, counts, shown = detail.plan, Counter(detail.counts), detail.tasks
    header = Text.assemble(
        ("plan ", "bold"),
        (plan.plan_id, "bold"),
        "  ",
        styled(plan.status.value),
        f"  version {plan.version}  max concurrency {plan.max_concurrency}",
        "  (operator paused)" if plan.operator_paused else "",
    )
    submitted = Text(f"submitted {when(plan.created_at)}", style="dim")
    if plan.created_by:
        submitted.append(f" by {plan.created_by}")
    if plan.reason:
        submitted.append(f": {plan.reason}")
    table = Table(expand=False)
    for column in ("task", "status", "stages", "retries", "failure"):
        table.add_column(column, overflow="fold")
    for task in shown:
        table.add_row(
            task.task_id,
            styled(task.status.value),
            progress(task),
            str(task.retry_count),
            failure_line(task.failure) if task.failure else "",
        )
    parts: list[RenderableType] = [header, submitted]
    waiting = describe(plan.policy, plan.rollout)
    if waiting:
        parts.append(
            Text(waiting, style="yellow" if plan.rollout.gate or plan.rollout.halted else "")
        )
    parts.append(counts_line(counts))
    if detail.failures:
        causes = "; ".join(
            f"{count} {kind}" + (f" at {stage}" if stage else "")
            for kind, stage, count in detail.failures[:6]
        )
        parts.append(Text(f"failures: {causes}", style="red"))
    parts.append(table)
    if detail.matching > len(shown):
        parts.append(Text(f"… {detail.matching - len(shown)} more (use --all)", style="dim"))
    return Group(*parts)


def task_detail(task: Task) -> Group:
    """Everything about one task: status, stage progress, checkpoint, failure and snapshot."""
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
    stages = Table(show_header=True, expand=False)
    stages.add_column("#")
    stages.add_column("stage")
    stages.add_column("state")
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
        stages.add_row(str(index), name, state)
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


def event_line(event: Event) -> Text:
    """One event as a line: ``#12 10:00:01 StageCompleted t-1 RUNNING portal``."""
    text = Text(f"#{event.seq:<6} {when(event.at)[11:]} ")
    text.append(f"{event.type.value:<18}", style="bold")
    if event.tenant_id:
        text.append(f" {event.tenant_id}")
    if event.status:
        text.append(" ")
        text.append_text(styled(event.status))
    if event.stage:
        text.append(f" {event.stage}")
    if event.failure:
        text.append(f"  {failure_line(event.failure)}", style="red")
    if event.type is EventType.OPERATION_ACCEPTED:
        text.append(f" {event.data.get('operation')} {event.data.get('target')}")
    message = event.data.get("message")
    if message:
        text.append(f"  {message}", style="yellow")
    actor = event.data.get("actor")
    if actor:
        reason = event.data.get("reason")
        text.append(f"  by {actor}" + (f" ({reason})" if reason else ""), style="dim")
    return text


def tenant_history(tenant_id: str, tasks: Sequence[Task]) -> Table:
    """A tenant's tasks across plans, most recent first."""
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
