"""The operations — pause, resume, cancel, retry, rollback — and ``config show``, ``fleet``,
``demo``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from switchover.cli.app import (
    JsonOption,
    Options,
    PlanOption,
    ReasonOption,
    TaskOption,
    TenantOption,
    actor,
    app,
    config_app,
    err,
    fail,
    one_target,
    operations,
    out,
    run_async,
    settings,
)
from switchover.cli.bulk_cmd import StatusOption, TenantsFileOption, operate_bulk, selection_of
from switchover.cli.console import print_json
from switchover.cli.exits import Exit, exit_for_error, exit_for_plan, exit_for_task
from switchover.cli.run_cmd import (
    PAUSING,
    drain,
    follow_plan,
    install_detach,
    install_interrupt,
    pause_of,
)
from switchover.domain.status import PlanStatus
from switchover.errors import SwitchoverError

if TYPE_CHECKING:
    from switchover.domain.commands import Accepted, Cancel, Command, Pause, Resume
    from switchover.domain.records import Target
    from switchover.service import Operations, Result
    from switchover.settings import Settings

ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Even when a newer task switched the tenant, or it drifted."),
]
WaitOption = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Follow the resulting work to its end.")
]


def _operate(ctx: typer.Context, command: Command, json_output: bool, wait: bool) -> None:
    opts = Options.of(ctx)
    as_json = opts.with_json(json_output)
    code = run_async(opts, _operate_async(opts, settings(opts), command, as_json, wait))
    raise typer.Exit(int(code))


async def _operate_async(
    opts: Options, conf: Settings, command: Command, as_json: bool, wait: bool
) -> Exit:
    from switchover.cli.follow import show
    from switchover.domain.commands import Resume, command_name

    async with operations(opts, conf) as op:
        accepted, watch = await op.perform(command, wait=wait)
        if as_json:
            from switchover.views import accepted_json

            head = {"ok": True, "accepted": accepted.message}
            print_json(out, head | accepted_json(accepted, watch.since))
        else:
            out.print(f"{command_name(command)} {command.target}: {accepted.message}")
        if not wait:
            return Exit.OK
        if watch.whole_plan and isinstance(command, Resume):
            code = await follow_plan(opts, op, watch.plan_id, as_json, since=watch.since)
        else:
            _on_ctrl_c(opts, op, command, accepted, watch.plan_id)
            await show(
                op,
                watch,
                console=out,
                notes=err,
                json_lines=as_json,
                title=command_name(command),
            )
            code = _report(await op.result(command, accepted, watch), as_json)
        await drain(op, as_json)
        return code


def _on_ctrl_c(
    opts: Options, op: Operations, command: Command, accepted: Accepted, plan_id: str
) -> None:
    """What Ctrl-C does while an operation's work is followed.

    Against a server it detaches (the work goes on there). Otherwise the first Ctrl-C says
    at once what happens next — a retried or resumed task is paused at its next stage
    boundary; a rollback, a pause or a cancel goes on to its boundary — and a second exits.
    """
    from switchover.domain.commands import Resume, Retry, Rollback, command_name
    from switchover.domain.records import Target

    if opts.server is not None:
        install_detach(opts, plan_id)
        return
    tasks = sorted(accepted.task_ids)
    if isinstance(command, Retry | Resume):
        install_interrupt(pause_of(opts, op, [Target.task(t) for t in tasks]), PAUSING)
    elif isinstance(command, Rollback):
        hint = opts.command_line("resume", "--task", tasks[0]) if tasks else "switchover resume"
        install_interrupt(
            None,
            "Ctrl-C: a rollback is not paused; it goes on to its end. Press Ctrl-C again to "
            f"exit at once (it continues from its checkpoint when an engine starts: '{hint}').",
        )
    else:
        install_interrupt(
            None,
            f"Ctrl-C: the {command_name(command)} waits for the next stage boundary. Press "
            "Ctrl-C again to exit at once.",
        )


def _report(result: Result, as_json: bool) -> Exit:
    """Print what a followed command came to; its exit code."""
    from switchover.domain.commands import Cancel, Pause, Resume

    stopping = isinstance(result.command, Pause | Cancel)
    if result.whole_plan:
        plan = result.plan
        resumed = isinstance(result.command, Resume)
        code = exit_for_plan(plan.status if plan else PlanStatus.FAILED) if resumed else Exit.OK
        if not as_json and plan is not None:
            out.print(f"plan {plan.plan_id} is {plan.status.value}")
        return code
    worst = Exit.OK
    for task in result.tasks:
        code = Exit.OK if stopping else exit_for_task(task.status)
        worst = max(worst, code)
        if as_json:
            from switchover.views import task_json

            print_json(out, task_json(task) | {"exit_code": int(code)})
        else:
            line = f"task {task.task_id} is {task.status.value}"
            if task.failure:
                line += f": {task.failure.error_type.value}: {task.failure.message}"
            out.print(line, highlight=False)
    return worst


def _kind(name: str) -> type[Pause | Resume | Cancel]:
    from switchover.domain.commands import COMMAND_NAMES, Cancel, Pause, Resume

    return {COMMAND_NAMES[k]: k for k in (Pause, Resume, Cancel)}[name]


def _plan_or_task_command(name: str, summary: str) -> None:
    """Register ``pause``/``resume``/``cancel``: same targets, same options."""

    def command(
        ctx: typer.Context,
        plan: PlanOption = None,
        tenant: TenantOption = None,
        task: TaskOption = None,
        status: StatusOption = None,
        tenants_file: TenantsFileOption = None,
        reason: ReasonOption = None,
        wait: WaitOption = True,
        json_output: JsonOption = False,
    ) -> None:
        from switchover.domain.records import Target

        opts = Options.of(ctx)
        kind = _kind(name)
        selection = selection_of(opts, plan, status, tenants_file)
        if selection is not None:
            template = kind(target=Target.plan(selection.plan_id), actor=actor(), reason=reason)
            operate_bulk(ctx, template, selection, json_output, wait)
        target = one_target(opts, plan, tenant, task, plans=True)
        _operate(ctx, kind(target=target, actor=actor(), reason=reason), json_output, wait)

    command.__doc__ = summary
    app.command(name)(command)


_plan_or_task_command(
    "pause",
    "Pause a task (at its next stage boundary) or every running task of a plan.\n\n"
    'Example: switchover pause --plan big-move --reason "canary errors"',
)
_plan_or_task_command(
    "resume",
    "Resume a paused task (from its next stage) or a paused plan.\n\n"
    "Example: switchover resume --plan big-move",
)
_plan_or_task_command(
    "cancel",
    "Cancel a task (at its next stage boundary when running) or a whole plan.\n\n"
    'Example: switchover cancel --tenant t-0042 --reason "tenant asked to stay"',
)


@app.command()
def retry(
    ctx: typer.Context,
    tenant: TenantOption = None,
    task: TaskOption = None,
    plan: PlanOption = None,
    status: StatusOption = None,
    tenants_file: TenantsFileOption = None,
    from_checkpoint: Annotated[
        bool, typer.Option("--from-checkpoint", help="Skip the stages that completed.")
    ] = False,
    reason: ReasonOption = None,
    force: ForceOption = False,
    wait: WaitOption = True,
    json_output: JsonOption = False,
) -> None:
    """Run a FAILED task again (or re-run a failed rollback).

    Refused when a newer task has switched the tenant since (its configs would undo the newer
    one's), unless --force.

    Examples: switchover retry --tenant tenant-c --from-checkpoint --reason "INC-7";
    switchover retry --plan big-move --status FAILED (each FAILED task of the plan)
    """
    from switchover.domain.commands import Retry

    _on_tasks(
        ctx,
        (plan, status, tenants_file, tenant, task),
        lambda target: Retry(
            target=target,
            actor=actor(),
            reason=reason,
            from_checkpoint=from_checkpoint,
            force=force,
        ),
        json_output,
        wait,
    )


@app.command()
def rollback(
    ctx: typer.Context,
    tenant: TenantOption = None,
    task: TaskOption = None,
    plan: PlanOption = None,
    status: StatusOption = None,
    tenants_file: TenantsFileOption = None,
    version: Annotated[
        int | None,
        typer.Option(
            help="Write and verify this version instead of the previous config's.",
            min=0,
            show_default=False,
        ),
    ] = None,
    reason: ReasonOption = None,
    force: ForceOption = False,
    wait: WaitOption = True,
    json_output: JsonOption = False,
) -> None:
    """Put a tenant back: re-run its stages with its previous config.

    Refused when a newer task has switched the tenant since, or when its Redis record holds a
    version that is neither this task's nor its previous config's (drift), unless --force.

    Examples: switchover rollback --tenant tenant-c --reason "INC-7 bad routes";
    switchover rollback --plan big-move --status FAILED (each FAILED task, task by task; the
    plan's status is not changed by rollbacks)
    """
    from switchover.domain.commands import Rollback

    _on_tasks(
        ctx,
        (plan, status, tenants_file, tenant, task),
        lambda target: Rollback(
            target=target, actor=actor(), reason=reason, version=version, force=force
        ),
        json_output,
        wait,
    )


def _on_tasks(
    ctx: typer.Context,
    named: tuple[str | None, str | None, Path | None, str | None, str | None],
    build: Callable[[Target], Command],
    json_output: bool,
    wait: bool,
) -> None:
    """A retry or rollback of one task (--tenant / --task) or of a selection (--plan with
    --status or --tenants-file), built by ``build`` for its target."""
    from switchover.domain.records import Target

    plan, status, tenants_file, tenant, task = named
    opts = Options.of(ctx)
    selection = selection_of(opts, plan, status, tenants_file)
    if selection is not None:
        operate_bulk(ctx, build(Target.plan(selection.plan_id)), selection, json_output, wait)
    _operate(ctx, build(one_target(opts, None, tenant, task, plans=False)), json_output, wait)


@app.command()
def promote(
    ctx: typer.Context,
    plan: Annotated[str, typer.Option("--plan", help="The plan waiting between two waves.")],
    reason: ReasonOption = None,
    json_output: JsonOption = False,
) -> None:
    """Let a plan waiting between waves go on: approve its next wave (or end its bake early).

    Example: switchover promote --plan big-move --reason "canary looks good"
    """
    from switchover.domain.commands import Promote

    target = one_target(Options.of(ctx), plan, None, None, plans=True)
    _operate(ctx, Promote(target=target, actor=actor(), reason=reason), json_output, False)


@config_app.command("show")
def config_show(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Print the effective settings, secrets masked.

    Example: switchover --config fleet.yaml config show --json
    """
    opts = Options.of(ctx)
    data = settings(opts).masked()
    if opts.with_json(json_output):
        print_json(out, data)
        return
    import yaml

    out.print(yaml.safe_dump(data, sort_keys=False).rstrip(), highlight=False, markup=False)


@app.command("fleet")
def fleet_command(
    ctx: typer.Context,
    redis_url: Annotated[
        str | None,
        typer.Option("--redis-url", help="Redis to use (default: start a throw-away one)."),
    ] = None,
    gateways: Annotated[int, typer.Option(min=0, help="Blue-green gateway instances.")] = 3,
    ob_instances: Annotated[int, typer.Option(min=0, help="OB service instances.")] = 2,
    start_redis: Annotated[
        bool,
        typer.Option(help="Without --redis-url, start a redis-server (else use redis.url)."),
    ] = True,
    write: Annotated[
        Path | None,
        typer.Option("--write", help="Write the settings for --config to this file."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Run a local fleet (gateways, OB instances, portal, ASBC) on loopback until Ctrl-C.

    Example: switchover fleet --write fleet.yaml   (then: switchover --config fleet.yaml run …)
    """
    from switchover.cli.fleet_cmd import fleet

    opts = Options.of(ctx)
    try:
        fleet(
            redis_url,
            gateways,
            ob_instances,
            opts.config,
            start_redis,
            opts.with_json(json_output),
            write,
        )
    except SwitchoverError as exc:
        fail(opts, exit_for_error(exc), str(exc))


@app.command()
def demo(
    ctx: typer.Context,
    tenants: Annotated[int, typer.Option(min=2, max=500, help="How many tenants.")] = 50,
    faulty: Annotated[
        str, typer.Option(help="The tenant the OB instances ignore, to roll back.")
    ] = "tenant-007",
) -> None:
    """A whole plan against a real redis-server and local fleet, then a rollback (a few seconds).

    Example: switchover demo --tenants 20
    """
    from switchover.cli.demo_cmd import run_demo

    opts = Options.of(ctx)
    code = run_async(opts, run_demo(out, tenants=tenants, store=opts.store, faulty=faulty))
    raise typer.Exit(code)


@app.command()
def serve(
    ctx: typer.Context,
    listen: Annotated[
        str | None,
        typer.Option(help="HOST:PORT to listen on (default: serve.listen, 127.0.0.1:8080)."),
    ] = None,
) -> None:
    """Run one long-lived engine on the store, with the HTTP API, until SIGTERM or Ctrl-C.

    Example: switchover --config fleet.yaml serve --listen 127.0.0.1:8080
    """
    from switchover.server import Started, run

    opts = Options.of(ctx)
    conf = settings(opts)

    def started(info: Started) -> None:
        err.print(
            f"switchover: serving {conf.store} at {info.url}  "
            f"(dashboard: {info.url}/, API docs: {info.url}/docs)"
        )
        if info.token_file is not None:
            made = "created an operator token in" if info.token_created else "operator token in"
            err.print(f"switchover: {made} {info.token_file} (readable only by you)")
            err.print(
                f'  try: curl -H "Authorization: Bearer $(cat {info.token_file})" {info.url}/plans'
            )
        if info.recovered:
            err.print(f"switchover: continuing {info.recovered} unfinished task(s)")
        err.print("switchover: Ctrl-C or SIGTERM stops at the next stage boundary")

    try:
        clean = run(conf, listen=listen, on_started=started)
    except SwitchoverError as exc:
        fail(opts, exit_for_error(exc), str(exc))
    except KeyboardInterrupt:
        clean = False
    if not clean:
        err.print(
            "switchover: stopped with stages mid-way; the next start re-runs them from their "
            "checkpoints"
        )
