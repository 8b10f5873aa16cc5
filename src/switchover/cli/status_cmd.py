"""``status`` and ``events``: what the store says about plans, tasks and their history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from switchover.cli.app import (
    JsonOption,
    Options,
    PlanOption,
    TaskOption,
    TenantOption,
    app,
    err,
    fail,
    out,
    run_async,
    settings,
    views,
)
from switchover.cli.console import print_json, write_line
from switchover.cli.exits import Exit, exit_for_plan, exit_for_task
from switchover.domain.status import PlanStatus, TaskStatus

if TYPE_CHECKING:
    from switchover.domain.events import Event
    from switchover.domain.records import Plan, Target, Task
    from switchover.service import PlanTree, StageSpan, Stranded, Views
    from switchover.settings import Settings

AllOption = Annotated[
    bool, typer.Option("--all", help="List every task of every group, settled ones too.")
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=0,
        help="List at most N tasks of each status group, settled ones too (default: 5 of "
        "each unsettled group; settled groups counted only).",
        show_default=False,
    ),
]

WATCH_POLL = 1.0
"""Seconds between two reads of a watched plan."""


def tree_shape(opts: Options, show_all: bool, limit: int | None) -> tuple[int | None, bool]:
    """How many tasks a plan tree lists per group (None: all), and whether settled groups
    are listed: ``--all``, ``--limit N``, or 5 of each unsettled group."""
    if show_all and limit is not None:
        fail(opts, Exit.INVALID, "name at most one of --all or --limit")
    if show_all:
        return None, True
    if limit is not None:
        return limit, True
    return 5, False


@app.command()
def status(
    ctx: typer.Context,
    plan_id: Annotated[str | None, typer.Argument(help="A plan id (default: list plans).")] = None,
    tenant: TenantOption = None,
    task: TaskOption = None,
    show_all: AllOption = False,
    limit: LimitOption = None,
    status_filter: Annotated[
        str | None,
        typer.Option(
            "--status", help="With a plan: only tasks with these statuses, e.g. FAILED,PAUSED."
        ),
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="With --tenant: its tasks across every plan.")
    ] = False,
    exit_status: Annotated[
        bool,
        typer.Option(
            "--exit-status",
            help="Exit as 'run' would for the plan or task shown: 1 FAILED/CANCELLED, 5 PAUSED.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Show plans, one plan as a tree of its tasks, or one task with its stages and failure.

    A plan's tree groups its tasks by status, what needs a look first (FAILED and
    ROLLBACK_FAILED, then RUNNING and ROLLING_BACK, PAUSED, PENDING, then the settled ones),
    each task with its stages, how long each took, and for a failed one the cause and the
    instances that failed. Each group lists 5 tasks and counts the rest; settled groups are
    counted only (--limit N, --all or --status to list them). Not a terminal: plain text.

    Exits 0 when shown (3 when not found, naming close matches), whatever the status; with
    --exit-status, as 'run' would for that plan or task (0 COMPLETED or still running, 1
    FAILED or CANCELLED, 5 PAUSED).

    Examples: switchover status big-move --status FAILED;
    switchover status big-move --limit 20;
    switchover status --tenant t-0042 --history
    """
    opts = Options.of(ctx)
    as_json = opts.with_json(json_output)
    for option, value in (("--tenant", tenant), ("--task", task)):
        if value is not None and not value.strip():
            fail(opts, Exit.INVALID, f"{option} needs an id, not an empty string")
    if tenant is not None and task is not None:
        fail(opts, Exit.INVALID, "name at most one of --tenant or --task")
    if history and tenant is None:
        fail(opts, Exit.INVALID, "--history lists a tenant's tasks: add --tenant T")
    statuses = _statuses(opts, status_filter)
    if statuses and plan_id is None:
        fail(opts, Exit.INVALID, "--status filters the tasks of a plan: name the plan")
    shape = tree_shape(opts, show_all, limit)
    conf = settings(opts)
    if history and tenant is not None:
        run_async(opts, _history(opts, conf, tenant, as_json))
    elif tenant is not None or task is not None:
        from switchover.domain.records import Target

        target = Target.tenant(tenant) if tenant is not None else Target.task(task or "")
        shown = run_async(opts, _task_status(opts, conf, target, as_json))
        if exit_status and shown.status is not TaskStatus.RUNNING:
            raise typer.Exit(int(exit_for_task(shown.status)))
    elif plan_id is None:
        run_async(opts, _plans(opts, conf, as_json))
    else:
        plan = run_async(opts, _plan_status(opts, conf, plan_id, shape, statuses, as_json))
        if exit_status and plan.status is not PlanStatus.RUNNING:
            raise typer.Exit(int(exit_for_plan(plan.status)))


def _statuses(opts: Options, text: str | None) -> tuple[TaskStatus, ...]:
    if text is None:
        return ()
    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    known = {s.value for s in TaskStatus}
    if not names or any(name not in known for name in names):
        fail(opts, Exit.INVALID, f"--status {text!r}: expected among {', '.join(sorted(known))}")
    return tuple(TaskStatus(name) for name in names)


async def _history(opts: Options, conf: Settings, tenant: str, as_json: bool) -> None:
    async with views(opts, conf) as q:
        tasks = await q.tenant_history(tenant)
    if as_json:
        from switchover.views import history_json

        print_json(out, history_json(tenant, tasks))
        return
    from switchover.cli.render import tenant_history

    out.print(tenant_history(tenant, tasks))


async def _task_status(opts: Options, conf: Settings, target: Target, as_json: bool) -> Task:
    async with views(opts, conf) as q:
        detail = await q.task(target)
        stages = None if as_json else await _stages(q, detail.task)
    if as_json:
        from switchover.views import task_json

        print_json(out, task_json(detail.task))
        return detail.task
    from switchover.cli.render import task_detail

    out.print(task_detail(detail.task, stages))
    stranded_note(opts, detail.stranded)
    return detail.task


async def _plans(opts: Options, conf: Settings, as_json: bool) -> None:
    async with views(opts, conf) as q:
        summaries = await q.plans()
    if as_json:
        from switchover.views import plans_json

        print_json(out, plans_json(summaries))
    elif not summaries:
        where = opts.server or str(conf.store.absolute())
        # A path or URL is shown as it is: no markup ("[b]") in it.
        out.print(
            f"no plans yet in {where}; submit one with 'switchover run PLAN_FILE'", markup=False
        )
    else:
        from switchover.cli.render import plan_list

        out.print(plan_list(summaries))


async def _stages(q: Views, task: Task) -> Sequence[StageSpan] | None:
    """The task's stage timeline; None when the task has not run."""
    from switchover.service import task_stages

    return await task_stages(q, task) if task.status is not TaskStatus.PENDING else None


async def _plan_status(
    opts: Options,
    conf: Settings,
    plan_id: str,
    shape: tuple[int | None, bool],
    statuses: tuple[TaskStatus, ...],
    as_json: bool,
) -> Plan:
    if not as_json:
        from switchover.cli.render import plan_tree_view

        tree = await _tree(opts, conf, plan_id, shape, statuses)
        out.print(plan_tree_view(tree), soft_wrap=False)
        stranded_note(opts, tree.detail.stranded)
        return tree.detail.plan
    async with views(opts, conf) as q:
        detail = await q.plan(plan_id, statuses=statuses or None, limit=None)
    from switchover.views import plan_detail_json

    print_json(out, plan_detail_json(detail))
    return detail.plan


async def _tree(
    opts: Options,
    conf: Settings,
    plan_id: str,
    shape: tuple[int | None, bool],
    statuses: tuple[TaskStatus, ...] = (),
) -> PlanTree:
    from switchover.service import plan_tree

    limit, settled = shape
    async with views(opts, conf) as q:
        return await plan_tree(q, plan_id, limit=limit, statuses=statuses or None, settled=settled)


def stranded_note(opts: Options, stranded: Stranded | None) -> None:
    """Say that work was left executing by a stopped engine, and the command that continues it."""
    if stranded is None:
        return
    if stranded.task_id is not None:
        hint = opts.command_line("resume", "--task", stranded.task_id)
    else:
        hint = opts.command_line("resume", "--plan", stranded.plan_id)
    err.print(
        f"[yellow]note: no engine is running; {stranded.count} task(s) were left executing by "
        "an engine that stopped. They continue from their checkpoints when an engine starts "
        f"(e.g. '{hint}').[/]",
        highlight=False,
    )


@app.command()
def events(
    ctx: typer.Context,
    plan: PlanOption = None,
    since: Annotated[int, typer.Option(help="Only events after this sequence number.")] = 0,
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Print a plan's event history (default: the most recent plan).

    Examples: switchover events --plan big-move --since 120;
    switchover events --plan big-move --follow --json
    """
    opts = Options.of(ctx)
    as_json = opts.with_json(json_output)
    run_async(opts, _events(opts, settings(opts), plan, since, follow_, as_json))


async def _events(
    opts: Options, conf: Settings, plan_id: str | None, since: int, follow_: bool, as_json: bool
) -> None:
    show = _event_printer(as_json, follow_)
    async with views(opts, conf) as q:
        if plan_id is None:
            summaries = await q.plans()
            if not summaries:
                fail(opts, Exit.NOT_FOUND, "no plans yet")
            plan_id = summaries[0].plan.plan_id
        async for event in q.events(plan_id, since, follow=follow_):
            show(event)


def _event_printer(as_json: bool, follow_: bool) -> Callable[[Event], None]:
    """How ``events`` prints one event: a JSON line, a styled line on a terminal, else a plain
    line written as it is (flushed at once only when following)."""
    if as_json:
        from switchover.views import event_json

        return lambda event: print_json(out, event_json(event), flush=follow_)
    from switchover.cli.render import event_line, event_plain

    if out.is_terminal:
        return lambda event: out.print(event_line(event), highlight=False)
    return lambda event: write_line(out, event_plain(event), flush=follow_)


@app.command()
def watch(
    ctx: typer.Context,
    plan_id: Annotated[str, typer.Argument(help="The plan to watch.")],
    show_all: AllOption = False,
    limit: LimitOption = None,
    json_output: JsonOption = False,
) -> None:
    """Follow a plan live, from any terminal, as the tree 'status PLAN' shows; Ctrl-C
    detaches (the plan runs on).

    Example: switchover --server http://127.0.0.1:8080 watch plan-2026-12-01

    Not a terminal: a counts line as they change (at most every 5 s) and the final tree; with
    --json, the plan's events as JSON lines. Exit codes as for 'run' once the plan settles or
    pauses: 0 completed, 1 failed or cancelled, 5 paused.
    """
    opts = Options.of(ctx)
    as_json = opts.with_json(json_output)
    shape = tree_shape(opts, show_all, limit)
    code = run_async(opts, _watch(opts, settings(opts), plan_id, shape, as_json))
    raise typer.Exit(int(code))


async def _watch(
    opts: Options, conf: Settings, plan_id: str, shape: tuple[int | None, bool], as_json: bool
) -> Exit:
    import asyncio
    import contextlib
    import signal
    import time

    from rich.text import Text

    from switchover.cli.follow import live
    from switchover.cli.render import counts_line, plan_tree_view
    from switchover.cli.run_cmd import plan_outcome
    from switchover.service import plan_tree

    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    detached = False

    def detach() -> None:
        nonlocal detached
        detached = True
        if current is not None:
            current.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, detach)
    shown = out.is_terminal and not as_json
    # JSON lines are the events; the tree is read only to know when the plan is done.
    limit, settled = shape if not as_json else (0, False)
    async with views(opts, conf) as q:
        tree = await plan_tree(q, plan_id, limit=limit, settled=settled)
        since = tree.detail.last_seq
        said, said_at = "", 0.0
        try:
            with live(out, plan_tree_view(tree), enabled=shown) as display:
                try:
                    while not tree.done():
                        await asyncio.sleep(WATCH_POLL)
                        if as_json:
                            since = await _print_events(q, plan_id, since)
                        tree = await plan_tree(q, plan_id, limit=limit, settled=settled)
                        if display is not None:
                            display.update(plan_tree_view(tree), refresh=True)
                        elif not as_json and time.monotonic() - said_at > 5:
                            line = counts_line(tree.counts())
                            if line.plain != said:
                                said, said_at = line.plain, time.monotonic()
                                out.print(Text.assemble(f"{plan_id} ", line))
                    if as_json:
                        await _print_events(q, plan_id, since)
                finally:
                    if display is not None:
                        display.update(plan_tree_view(tree))  # drawn once more as it stops
        except asyncio.CancelledError:
            if not detached:
                raise
    if detached:
        err.print(
            f"detached from plan {plan_id}; it keeps running. Re-attach with "
            f"'{opts.command_line('watch', plan_id)}'",
            highlight=False,
        )
        return Exit.INTERRUPTED
    if not shown and not as_json:
        out.print(plan_tree_view(tree), soft_wrap=False)
    return plan_outcome(opts, tree, as_json)


async def _print_events(q: Views, plan_id: str, since: int) -> int:
    """Print the plan's events after ``since`` as JSON lines; the last one's number."""
    from switchover.views import event_json

    async for event in q.events(plan_id, since):
        print_json(out, event_json(event))
        since = event.seq
    return since
