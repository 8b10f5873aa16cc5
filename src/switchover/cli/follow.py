"""Showing followed work: a live display on a terminal, lines or JSON lines otherwise."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from switchover.cli.render import counts_line, event_line, failure_line, styled
from switchover.domain.events import EventType
from switchover.domain.status import EXECUTING_TASK_STATUSES, FINAL_TASK_STATUSES, TaskStatus

if TYPE_CHECKING:
    from switchover.service import Operations, Progress, Watch

_SETTLED_TASK = FINAL_TASK_STATUSES | {TaskStatus.FAILED, TaskStatus.ROLLBACK_FAILED}


def render(progress: Progress, title: str) -> RenderableType:
    """The live display of a followed plan."""
    counts = progress.counts()
    total = len(progress.tasks)
    settled = sum(n for s, n in counts.items() if s in _SETTLED_TASK)
    elapsed = time.monotonic() - progress.started_at
    head = Text.assemble(
        (f"{title} ", "bold"),
        (progress.plan_id, "bold"),
        "  ",
        styled(progress.status.value),
        f"  {settled}/{total} settled  {elapsed:5.1f}s",
    )
    parts: list[RenderableType] = [
        head,
        ProgressBar(total=max(total, 1), completed=settled, width=60),
        counts_line(counts),
    ]
    if progress.note:
        parts.append(Text(progress.note, style="yellow"))
    running = [v for v in progress.tasks.values() if v.status in EXECUTING_TASK_STATUSES]
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
    for tenant, failure in progress.failures:
        parts.append(Text(f"✗ {tenant}: {failure_line(failure)}", style="red"))
    for line in progress.warnings:
        parts.append(Text(f"! {line}", style="yellow"))
    return Group(*parts)


async def show(
    operator: Operations,
    watch: Watch,
    *,
    console: Console,
    notes: Console,
    json_lines: bool,
    title: str,
) -> Progress:
    """Follow ``watch`` to its end, showing progress; the plan as its events left it.

    On a terminal: a live display, redrawn at every poll. Otherwise: failures and warnings as
    they happen and a summary line every 5 s (or every event as a JSON line with
    ``json_lines``). Notes about engines (a takeover) go to ``notes``.
    """
    from switchover.service import Progress

    live = console.is_terminal and not json_lines
    last_summary = time.monotonic()
    warned: Counter[str] = Counter()
    shown_note: str | None = None
    progress = Progress(watch.plan_id)
    display = Live(render(progress, title), console=console, refresh_per_second=4) if live else None
    if display is not None:
        display.start()
    try:
        updates = operator.follow(
            watch.plan_id, watch.done, since=watch.since, snapshot=watch.whole_plan
        )
        async for progress, update in updates:
            for event in update.events:
                if json_lines:
                    console.print_json(data=event.to_dict(), indent=None, highlight=False)
                elif not live and event.type is EventType.STEP_WARNING:
                    # The same warning for 10,000 tenants is one line, and a count at the end.
                    message = str(event.data.get("message", ""))
                    warned[message] += 1
                    if warned[message] == 1:
                        console.print(event_line(event))
                elif not live and event.failure is not None:
                    console.print(event_line(event))
            for note in update.notes:
                notes.print(f"[yellow]note: {note}[/]", highlight=False)
            if not live and not json_lines and progress.note != shown_note:
                shown_note = progress.note
                if shown_note:
                    console.print(Text(f"{watch.plan_id}: {shown_note}", style="yellow"))
            if display is not None:
                display.update(render(progress, title))
            elif not json_lines and time.monotonic() - last_summary > 5:
                last_summary = time.monotonic()
                console.print(Text.assemble(f"{watch.plan_id} ", counts_line(progress.counts())))
    finally:
        if display is not None:
            display.update(render(progress, title))
            display.stop()
        for message, count in warned.items():
            if count > 1:
                console.print(
                    Text(f"! {count} tasks warned: {message}", style="yellow"), highlight=False
                )
    return progress
