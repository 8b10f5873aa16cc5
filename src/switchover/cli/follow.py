"""Showing followed work: a live display on a terminal, lines or JSON lines otherwise.

One live display at a time is on screen (``live``). It is redrawn only when its owner updates
it, from the event loop, so nothing else writes to the terminal in the middle of a frame; a
note printed while it is up (``notify``: a Ctrl-C, an engine takeover) goes above it and stays
there, and the display leaves exactly one frame, its last, when it ends (``leave_screen`` ends
it before an exit at once).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from switchover.cli.console import print_json
from switchover.cli.render import counts_line, event_line, failure_line, styled
from switchover.domain.events import EventType
from switchover.domain.status import FINAL_TASK_STATUSES, TaskStatus

if TYPE_CHECKING:
    from switchover.service import Operations, Progress, Watch

_SETTLED_TASK = FINAL_TASK_STATUSES | {TaskStatus.FAILED, TaskStatus.ROLLBACK_FAILED}

_on_screen: list[Live] = []
"""The live display on the terminal, if one is up."""


@contextmanager
def live(console: Console, first: RenderableType, *, enabled: bool = True) -> Iterator[Live | None]:
    """A live display showing ``first`` on ``console`` for the block (None when not
    ``enabled`` or ``console`` is no terminal); ``update(..., refresh=True)`` redraws it.
    When the block ends it is drawn once more, and that last frame stays."""
    if not (enabled and console.is_terminal):
        yield None
        return
    display = Live(first, console=console, auto_refresh=False)
    display.start(refresh=True)
    _on_screen.append(display)
    try:
        yield display
    finally:
        _on_screen.remove(display)
        display.stop()


def notify(notes: Console, message: RenderableType) -> None:
    """Print ``message`` now: above the live display when one is up on the same terminal (the
    next frame is drawn below it, so it stays), else on ``notes``."""
    if _on_screen and notes.is_terminal:
        _on_screen[-1].console.print(message)
    else:
        notes.print(message)


def on_screen() -> bool:
    """Whether a live display is up."""
    return bool(_on_screen)


def leave_screen() -> None:
    """End the live display now, leaving its last frame (before exiting at once)."""
    for display in _on_screen:
        display.stop()


BAR_WIDTH = 60
RUNNING_SHOWN = 8
"""Executing tasks listed by name in the live display; the rest are counted."""


def render(progress: Progress, title: str) -> RenderableType:
    """The live display of a followed plan.

    Plain lines of styled text: it is redrawn several times a second, in the event loop the
    engine also runs in, so it is built from the follower's running tallies (no pass over the
    tasks) and without tables, whose layout costs more than everything else here.
    """
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
    filled = BAR_WIDTH * settled // max(total, 1)
    bar = Text.assemble(
        ("━" * filled, "bar.finished" if settled == total else "bar.complete"),
        ("━" * (BAR_WIDTH - filled), "bar.back"),
        "  ",
        counts_line(counts),
    )
    parts: list[RenderableType] = [head, bar]
    if progress.note:
        parts.append(Text(progress.note, style="yellow"))
    running = progress.running()
    if running:
        shown = sorted(running, key=lambda v: v.since)[:RUNNING_SHOWN]
        width = max(len("running"), *(len(v.tenant_id) for v in shown))
        stage_width = max(len("stage"), *(len(v.stage or "") for v in shown))
        lines = Text()
        lines.append(f"{'running':<{width}}  {'stage':<{stage_width}}    for", style="bold")
        now = time.monotonic()
        for view in shown:
            took = f"{now - view.since:4.1f}s" if view.since else ""
            lines.append("\n")
            lines.append(f"{view.tenant_id:<{width}}", style="cyan")
            lines.append(f"  {view.stage or '':<{stage_width}}  {took:>5}")
        if len(running) > RUNNING_SHOWN:
            lines.append(f"\n… {len(running) - RUNNING_SHOWN} more")
        parts.append(lines)
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
    from switchover.views import event_json

    shown = console.is_terminal and not json_lines
    last_summary = time.monotonic()
    warned: Counter[str] = Counter()
    shown_note: str | None = None
    progress = Progress(watch.plan_id)
    with live(console, render(progress, title), enabled=shown) as display:
        try:
            updates = operator.follow(
                watch.plan_id, watch.done, since=watch.since, snapshot=watch.whole_plan
            )
            async for progress, update in updates:
                for event in update.events:
                    if json_lines:
                        print_json(console, event_json(event))
                    elif not shown and event.type is EventType.STEP_WARNING:
                        # The same warning for 10,000 tenants is one line, and a count at the end.
                        message = str(event.data.get("message", ""))
                        warned[message] += 1
                        if warned[message] == 1:
                            console.print(event_line(event))
                    elif not shown and event.failure is not None:
                        console.print(event_line(event))
                for note in update.notes:
                    notify(notes, Text(f"note: {note}", style="yellow"))
                if not shown and not json_lines and progress.note != shown_note:
                    shown_note = progress.note
                    if shown_note:
                        console.print(Text(f"{watch.plan_id}: {shown_note}", style="yellow"))
                if display is not None:
                    display.update(render(progress, title), refresh=True)
                elif not json_lines and time.monotonic() - last_summary > 5:
                    last_summary = time.monotonic()
                    summary = Text.assemble(f"{watch.plan_id} ", counts_line(progress.counts()))
                    console.print(summary)
        finally:
            if display is not None:
                display.update(render(progress, title))  # drawn once more as it stops
    for message, count in warned.items():
        if count > 1:
            console.print(
                Text(f"! {count} tasks warned: {message}", style="yellow"), highlight=False
            )
    return progress
