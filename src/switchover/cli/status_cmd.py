"""``status`` and ``events``: what the store says about plans, tasks and their history."""

from __future__ import annotations

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
from switchover.cli.exits import Exit, exit_for_plan, exit_for_task
from switchover.cli.render import (
    event_line,
    plan_detail,
    plan_list,
    print_json,
    task_detail,
    tenant_history,
)
from switchover.domain.records import Plan, Target, Task
from switchover.domain.status import PlanStatus, TaskStatus

if TYPE_CHECKING:
    from switchover.service import Stranded
    from switchover.settings import Settings


@app.command()
def status(
    ctx: typer.Context,
    plan_id: Annotated[str | None, typer.Argument(help="A plan id (default: list plans).")] = None,
    tenant: TenantOption = None,
    task: TaskOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="Show every task.")] = False,
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
    """Show plans, one plan with its tasks, or one task with its stages and failure.

    Exits 0 when shown (3 when not found), whatever the status; with --exit-status, as 'run'
    would for that plan or task (0 COMPLETED or still running, 1 FAILED or CANCELLED, 5 PAUSED).

    Examples: switchover status big-move --status FAILED;
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
    conf = settings(opts)
    if history and tenant is not None:
        run_async(opts, _history(opts, conf, tenant, as_json))
    elif tenant is not None or task is not None:
        target = Target.tenant(tenant) if tenant is not None else Target.task(task or "")
        shown = run_async(opts, _task_status(opts, conf, target, as_json))
        if exit_status and shown.status is not TaskStatus.RUNNING:
            raise typer.Exit(int(exit_for_task(shown.status)))
    elif plan_id is None:
        run_async(opts, _plans(opts, conf, as_json))
    else:
        plan = run_async(opts, _plan_status(opts, conf, plan_id, show_all, statuses, as_json))
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
        from switchover.views import task_json

        print_json(out, {"tenant_id": tenant, "tasks": [task_json(t) for t in tasks]})
        return
    out.print(tenant_history(tenant, tasks))


async def _task_status(opts: Options, conf: Settings, target: Target, as_json: bool) -> Task:
    async with views(opts, conf) as q:
        detail = await q.task(target)
    if as_json:
        from switchover.views import task_json

        print_json(out, task_json(detail.task))
        return detail.task
    out.print(task_detail(detail.task))
    stranded_note(opts, detail.stranded)
    return detail.task


async def _plans(opts: Options, conf: Settings, as_json: bool) -> None:
    async with views(opts, conf) as q:
        summaries = await q.plans()
    if as_json:
        from switchover.views import plan_json

        print_json(
            out,
            [
                plan_json(s.plan, ()) | {"counts": {k.value: v for k, v in s.counts.items()}}
                for s in summaries
            ],
        )
    elif not summaries:
        where = opts.server or str(conf.store.absolute())
        out.print(f"no plans yet in {where}; submit one with 'switchover run PLAN_FILE'")
    else:
        out.print(plan_list(summaries))


async def _plan_status(
    opts: Options,
    conf: Settings,
    plan_id: str,
    show_all: bool,
    statuses: tuple[TaskStatus, ...],
    as_json: bool,
) -> Plan:
    async with views(opts, conf) as q:
        detail = await q.plan(
            plan_id,
            statuses=statuses or None,
            limit=None if (show_all or as_json) else 50,
        )
    if as_json:
        from switchover.views import plan_json

        print_json(out, plan_json(detail.plan, detail.tasks))
        return detail.plan
    out.print(plan_detail(detail))
    stranded_note(opts, detail.stranded)
    return detail.plan


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
    """Print a plan's event history (default: the most recent plan)."""
    opts = Options.of(ctx)
    as_json = opts.with_json(json_output)
    run_async(opts, _events(opts, settings(opts), plan, since, follow_, as_json))


async def _events(
    opts: Options, conf: Settings, plan_id: str | None, since: int, follow_: bool, as_json: bool
) -> None:
    async with views(opts, conf) as q:
        if plan_id is None:
            summaries = await q.plans()
            if not summaries:
                fail(opts, Exit.NOT_FOUND, "no plans yet")
            plan_id = summaries[0].plan.plan_id
        async for event in q.events(plan_id, since, follow=follow_):
            if as_json:
                print_json(out, event.to_dict())
            else:
                out.print(event_line(event), highlight=False)


@app.command()
def watch(
    ctx: typer.Context,
    plan_id: Annotated[str, typer.Argument(help="The plan to watch.")],
    json_output: JsonOption = False,
) -> None:
    """Attach the live display to a plan, from any terminal; Ctrl-C detaches (the plan runs on).

    Example: switchover --server http://127.0.0.1:8080 watch plan-2026-12-01

    Exit codes as for 'run' once the plan settles or pauses: 0 completed, 1 failed or
    cancelled, 5 paused.
    """
    opts = Options.of(ctx)
    as_json = opts.with_json(json_output)
    code = run_async(opts, _watch(opts, settings(opts), plan_id, as_json))
    raise typer.Exit(int(code))


async def _watch(opts: Options, conf: Settings, plan_id: str, as_json: bool) -> Exit:
    import asyncio
    import contextlib
    import signal

    from rich.live import Live

    from switchover.cli.follow import render
    from switchover.cli.run_cmd import plan_outcome
    from switchover.service import Progress, TaskProgress, plan_done

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
    async with views(opts, conf) as q:
        detail = await q.plan(plan_id, limit=None)
        progress = Progress(plan_id, status=detail.plan.status, last_seq=detail.last_seq)
        for task in detail.tasks:
            progress.tasks[task.task_id] = TaskProgress(
                task.tenant_id, task.status, task.current_stage
            )
        live = out.is_terminal and not as_json
        display = Live(render(progress, "watch"), console=out, refresh_per_second=4)
        if live:
            display.start()
        try:
            if not plan_done(progress):
                async for event in q.events(plan_id, progress.last_seq, follow=True):
                    progress.apply(event)
                    if as_json:
                        print_json(out, event.to_dict())
                    elif live:
                        display.update(render(progress, "watch"))
                    if plan_done(progress):
                        break
        except asyncio.CancelledError:
            if not detached:
                raise
        finally:
            if live:
                display.update(render(progress, "watch"))
                display.stop()
    if detached:
        err.print(
            f"detached from plan {plan_id}; it keeps running. Re-attach with "
            f"'{opts.command_line('watch', plan_id)}'",
            highlight=False,
        )
        return Exit.INTERRUPTED
    return plan_outcome(opts, progress, as_json)
