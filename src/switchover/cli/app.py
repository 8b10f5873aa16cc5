"""The ``switchover`` commands: typer over the Session and the store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from switchover import __version__
from switchover.cli.exits import Exit, exit_for_error, exit_for_plan, exit_for_task
from switchover.cli.follow import (
    PlanView,
    follow,
    plan_done,
    tasks_started_and_settled,
    tasks_stopped,
)
from switchover.cli.render import (
    event_line,
    plan_detail,
    plan_json,
    plan_list,
    print_json,
    task_detail,
    task_json,
)
from switchover.domain.commands import (
    COMMAND_NAMES,
    Cancel,
    Command,
    Pause,
    Resume,
    Retry,
    Rollback,
    command_name,
)
from switchover.domain.planfile import parse_plan_text
from switchover.domain.records import PlanSpec, Target, TargetKind, Task
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.engine.session import Session
from switchover.errors import PlanValidationError, SettingsError, SwitchoverError
from switchover.settings import Settings, load_settings
from switchover.stores.protocol import Store
from switchover.wiring import open_store, runtime

app = typer.Typer(
    name="switchover",
    help=(
        "Switch tenants between deployment units, safely, and back.\n\n"
        "Exit codes: 0 ok · 1 the work ended badly (plan FAILED/CANCELLED, task FAILED or "
        "ROLLBACK_FAILED) · 2 invalid input · 3 not found · 4 refused (nothing changed) · "
        "5 paused · 6 store/engine unavailable · 130 interrupted twice."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")

_T = TypeVar("_T")


class State:
    """Options given before the command."""

    store: Path | None = None
    config: Path | None = None
    json: bool = False


STATE = State()
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
PlanOption = Annotated[str | None, typer.Option("--plan", help="A plan id.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="A tenant id (its most recent task).")
]
TaskOption = Annotated[str | None, typer.Option("--task", help="A task id (PLAN/TENANT).")]


def _version(value: bool) -> None:
    if value:
        out.print(f"switchover {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="State store file (default ./switchover.db, or SWITCHOVER_STORE).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Settings file (YAML); SWITCHOVER_* variables override it."),
    ] = None,
    json_output: JsonOption = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Switch tenants between deployment units, safely, and back."""
    STATE.store = store
    STATE.config = config
    STATE.json = json_output


# ----------------------------------------------------------------------------- plumbing


def fail(code: Exit, message: str) -> NoReturn:
    """Print one clear line to stderr (or a JSON error) and exit with ``code``."""
    if STATE.json:
        print_json(out, {"ok": False, "exit_code": int(code), "error": message})
    else:
        err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(int(code))


def settings() -> Settings:
    """The effective settings (``--store`` wins over the file and environment)."""
    overrides: dict[str, Any] = {}
    if STATE.store is not None:
        overrides["store"] = STATE.store
    try:
        return load_settings(STATE.config, **overrides)
    except SettingsError as exc:
        fail(Exit.INVALID, str(exc))


def run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a command's coroutine; turn known errors into one line and an exit code."""
    try:
        return asyncio.run(coro)
    except SwitchoverError as exc:
        fail(exit_for_error(exc), str(exc))
    except KeyboardInterrupt:
        fail(Exit.INTERRUPTED, "interrupted")


def json_mode(flag: bool) -> bool:
    """``--json`` given before or after the command."""
    STATE.json = STATE.json or flag
    return STATE.json


def read_plan(path: Path, max_concurrency: int) -> PlanSpec:
    """Read and validate a plan file (every problem, with tenant and field)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(Exit.INVALID, f"cannot read plan file {str(path)!r}: {exc.strerror or exc}")
    return parse_plan_text(text, default_max_concurrency=max_concurrency)


def one_target(plan: str | None, tenant: str | None, task: str | None, *, plans: bool) -> Target:
    """Exactly one of --plan / --tenant / --task, not empty."""
    given = [
        (k, v) for k, v in (("plan", plan), ("tenant", tenant), ("task", task)) if v is not None
    ]
    allowed = "--plan, --tenant or --task" if plans else "--tenant or --task"
    if len(given) != 1 or (given[0][0] == "plan" and not plans):
        fail(Exit.INVALID, f"name exactly one of {allowed}")
    kind, key = given[0]
    if not key.strip():
        fail(Exit.INVALID, f"--{kind} needs a {kind} id, not an empty string")
    return Target(TargetKind(kind), key)


def command_line(*words: str) -> str:
    """A switchover command as the user can paste it: with this command's --store/--config."""
    parts = ["switchover"]
    if STATE.store is not None:
        parts += ["--store", str(STATE.store.absolute())]
    if STATE.config is not None:
        parts += ["--config", str(STATE.config.absolute())]
    return shlex.join([*parts, *words])


def install_interrupt(first: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """First Ctrl-C: run ``first`` (pause at the next boundary). Second: exit at once."""
    loop = asyncio.get_running_loop()
    presses = {"n": 0}
    pending: set[asyncio.Task[None]] = set()

    def handler() -> None:
        presses["n"] += 1
        if presses["n"] == 1:
            err.print(
                "\n[yellow]Ctrl-C: pausing — running tasks stop at their next stage boundary. "
                "Press Ctrl-C again to exit at once.[/]"
            )
            job = loop.create_task(first())
            pending.add(job)
            job.add_done_callback(pending.discard)
        else:
            err.print("[red]exiting now; unfinished work resumes when an engine starts.[/]")
            sys.stderr.flush()
            sys.stdout.flush()
            os._exit(int(Exit.INTERRUPTED))

    with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix event loops
        loop.add_signal_handler(signal.SIGINT, handler)


# ----------------------------------------------------------------------------- validate / run


@app.command()
def validate(
    plan_file: Annotated[Path, typer.Argument(help="Plan file (YAML or JSON).")],
    json_output: JsonOption = False,
) -> None:
    """Check a plan file; report every problem with its tenant and field."""
    as_json = json_mode(json_output)
    try:
        spec = read_plan(plan_file, settings().engine.max_concurrency)
    except PlanValidationError as exc:
        if as_json:
            issues = [
                {"tenant": i.tenant, "field": i.field, "message": i.message} for i in exc.issues
            ]
            print_json(out, {"ok": False, "exit_code": int(Exit.INVALID), "issues": issues})
        else:
            err.print(f"[bold red]{plan_file}: {len(exc.issues)} problem(s)[/]")
            for issue in exc.issues:
                err.print(f"  {issue}", highlight=False, markup=False)
        raise typer.Exit(int(Exit.INVALID)) from None
    stages = Counter(
        name
        for tenant in spec.tenants
        for name in __import__("switchover.stages.catalogue", fromlist=["stage_names"]).stage_names(
            tenant.config
        )
    )
    rollback_ready = sum(1 for t in spec.tenants if t.previous is not None)
    if as_json:
        print_json(
            out,
            {
                "ok": True,
                "plan_id": spec.plan_id,
                "version": spec.version,
                "max_concurrency": spec.max_concurrency,
                "tenants": len(spec.tenants),
                "stages": dict(stages),
                "rollback_ready": rollback_ready,
            },
        )
        return
    out.print(
        f"[green]valid[/]: plan {spec.plan_id} version {spec.version}, "
        f"{len(spec.tenants)} tenant(s), max concurrency {spec.max_concurrency}"
    )
    for name, count in stages.items():
        out.print(f"  {name}: {count} tenant(s)")
    out.print(f"  rollback ready: {rollback_ready}/{len(spec.tenants)}")


@app.command()
def run(
    plan_file: Annotated[Path, typer.Argument(help="Plan file (YAML or JSON).")],
    max_concurrency: Annotated[
        int | None,
        typer.Option(help="Override the plan's max concurrency.", min=1, show_default=False),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Submit a plan and follow it to the end with live progress.

    Exit 0 when every task completed, 1 when the plan ended otherwise, 2 for invalid input,
    5 when paused (first Ctrl-C pauses; a second exits at once).
    """
    as_json = json_mode(json_output)
    conf = settings()
    try:
        spec = read_plan(plan_file, conf.engine.max_concurrency)
    except PlanValidationError as exc:
        fail(Exit.INVALID, str(exc))
    if max_concurrency is not None:
        spec = PlanSpec(spec.plan_id, spec.version, max_concurrency, spec.tenants)
    code = run_async(_run(conf, spec, as_json))
    raise typer.Exit(int(code))


async def _run(conf: Settings, spec: PlanSpec, as_json: bool) -> Exit:
    async with runtime(conf) as rt:
        session = rt.session()
        await session.start()
        try:
            existing = await rt.store.get_plan(spec.plan_id)
            if existing is not None:
                fail(
                    Exit.REFUSED,
                    f"plan {spec.plan_id} already exists ({existing.status.value}); "
                    f"see 'switchover status {spec.plan_id}' or resume it with "
                    f"'switchover resume --plan {spec.plan_id}'",
                )
            plan = await session.submit_plan(spec)
            if not as_json:
                where = "by the running engine" if session.remote else "here"
                out.print(
                    f"plan [bold]{plan.plan_id}[/]: {plan.task_count} task(s), "
                    f"max concurrency {plan.max_concurrency}, run {where}"
                )
            code = await _follow_plan(session, plan.plan_id, as_json, title="plan")
            await _drain(session, as_json)
            return code
        finally:
            await session.close()


async def _drain(session: Session, as_json: bool) -> None:
    """Let this command's engine finish the other work it took on before the command exits."""
    engine = session.engine
    if engine is None or engine.held or not engine.is_busy():
        return
    if not as_json:
        err.print(
            "finishing the other unfinished work this command's engine is running "
            "(other commands' plans, or work recovered from a stopped engine)…"
        )
    await session.drain()


async def _follow_plan(session: Session, plan_id: str, as_json: bool, *, title: str) -> Exit:
    async def pause() -> None:
        try:
            await session.perform(Pause(target=Target.plan(plan_id)))
        except SwitchoverError as exc:
            err.print(f"[red]could not pause: {exc}[/]")

    install_interrupt(pause)
    view = await follow(session, plan_id, plan_done, console=out, json_lines=as_json, title=title)
    return _plan_outcome(view, as_json)


def _plan_outcome(view: PlanView, as_json: bool) -> Exit:
    code = exit_for_plan(view.status)
    counts = view.counts()
    if as_json:
        print_json(
            out,
            {
                "plan_id": view.plan_id,
                "status": view.status.value,
                "counts": {k.value: v for k, v in counts.items()},
                "exit_code": int(code),
            },
        )
        return code
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items())
    out.print(f"plan [bold]{view.plan_id}[/] {view.status.value}: {summary}")
    if view.status is PlanStatus.PAUSED:
        out.print(f"continue with: {command_line('resume', '--plan', view.plan_id)}")
    elif code is Exit.FAILED:
        out.print(
            f"see '{command_line('status', view.plan_id)}'; retry with "
            f"'{command_line('retry', '--tenant', 'T')}' or roll back with "
            f"'{command_line('rollback', '--tenant', 'T')}'"
        )
    return code


# ----------------------------------------------------------------------------- status / events


@app.command()
def status(
    plan_id: Annotated[str | None, typer.Argument(help="A plan id (default: list plans).")] = None,
    tenant: TenantOption = None,
    task: TaskOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="Show every task.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Show plans, one plan with its tasks, or one task with its stages and failure."""
    as_json = json_mode(json_output)
    run_async(_status(settings(), plan_id, tenant, task, show_all, as_json))


async def _status(
    conf: Settings,
    plan_id: str | None,
    tenant: str | None,
    task_id: str | None,
    show_all: bool,
    as_json: bool,
) -> None:
    for option, value in (("--tenant", tenant), ("--task", task_id)):
        if value is not None and not value.strip():
            fail(Exit.INVALID, f"{option} needs an id, not an empty string")
    async with open_store(conf) as store:
        if tenant or task_id:
            found = await (store.find_task(tenant) if tenant else store.get_task(task_id or ""))
            if found is None:
                fail(
                    Exit.NOT_FOUND,
                    f"{'tenant' if tenant else 'task'} {tenant or task_id!r} not found",
                )
            if as_json:
                print_json(out, task_json(found))
            else:
                out.print(task_detail(found))
                await _engine_note(store, [found], one_task=True)
            return
        if plan_id is None:
            plans = await store.list_plans()
            counts = {
                p.plan_id: Counter(t.status for t in await store.list_tasks(p.plan_id))
                for p in plans
            }
            if as_json:
                print_json(
                    out,
                    [
                        {**plan_json(p, [])}
                        | {"counts": {k.value: v for k, v in counts[p.plan_id].items()}}
                        for p in plans
                    ],
                )
            elif not plans:
                out.print("no plans yet; submit one with 'switchover run PLAN_FILE'")
            else:
                out.print(plan_list(plans, counts))
            return
        plan = await store.get_plan(plan_id)
        if plan is None:
            fail(Exit.NOT_FOUND, f"plan {plan_id!r} not found")
        tasks = await store.list_tasks(plan_id)
        if as_json:
            print_json(out, plan_json(plan, tasks))
            return
        out.print(plan_detail(plan, tasks, limit=len(tasks) if show_all else 50))
        await _engine_note(store, tasks)


async def _engine_note(store: Store, tasks: list[Task], *, one_task: bool = False) -> None:
    from switchover.engine.lease import lease_is_live

    executing = [t for t in tasks if t.status in (TaskStatus.RUNNING, TaskStatus.ROLLING_BACK)]
    lease = await store.get_lease()
    if executing and (lease is None or not lease_is_live(lease)):
        if one_task:
            hint = command_line("resume", "--task", executing[0].task_id)
        else:
            hint = command_line("resume", "--plan", executing[0].plan_id)
        err.print(
            f"[yellow]note: no engine is running; {len(executing)} task(s) were left executing by "
            "an engine that stopped. They continue from their checkpoints when an engine starts "
            f"(e.g. '{hint}').[/]",
            highlight=False,
        )


@app.command()
def events(
    plan: PlanOption = None,
    since: Annotated[int, typer.Option(help="Only events after this sequence number.")] = 0,
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Print a plan's event history (default: the most recent plan)."""
    as_json = json_mode(json_output)
    run_async(_events(settings(), plan, since, follow_, as_json))


async def _events(
    conf: Settings, plan_id: str | None, since: int, follow_: bool, as_json: bool
) -> None:
    async with open_store(conf) as store:
        if plan_id is None:
            plans = await store.list_plans()
            if not plans:
                fail(Exit.NOT_FOUND, "no plans yet")
            plan_id = plans[0].plan_id
        elif await store.get_plan(plan_id) is None:
            fail(Exit.NOT_FOUND, f"plan {plan_id!r} not found")
        while True:
            batch = await store.read_events(plan_id, since, 1000)
            for event in batch:
                since = event.seq
                if as_json:
                    print_json(out, event.to_dict())
                else:
                    out.print(event_line(event), highlight=False)
            if not batch and not follow_:
                return
            if not batch:
                await asyncio.sleep(0.3)


# ----------------------------------------------------------------------------- operations


def _operate(command: Command, as_json: bool, wait: bool) -> None:
    code = run_async(_operate_async(settings(), command, as_json, wait))
    raise typer.Exit(int(code))


async def _operate_async(conf: Settings, command: Command, as_json: bool, wait: bool) -> Exit:
    target = command.target
    async with runtime(conf) as rt:
        session = rt.session()
        await session.start()
        try:
            plan_id = target.key if target.kind is TargetKind.PLAN else None
            task_plan = None
            if plan_id is None:
                task = await (
                    rt.store.find_task(target.key)
                    if target.kind is TargetKind.TENANT
                    else rt.store.get_task(target.key)
                )
                if task is not None:
                    task_plan = task.plan_id
            scope = plan_id or task_plan
            since = await rt.store.last_seq(scope) if scope else 0
            if not wait and session.engine is not None:
                fail(
                    Exit.REFUSED,
                    f"--no-wait needs an engine that outlives this command, and none is running "
                    f"on {conf.store}: run the command without --no-wait (it stays until the "
                    "work is done), or keep an engine running (e.g. a 'switchover run') and "
                    "try again",
                )
            accepted = await session.perform(command)
            if as_json:
                print_json(
                    out,
                    {
                        "ok": True,
                        "accepted": accepted.message,
                        "plan_id": accepted.plan_id,
                        "task_ids": list(accepted.task_ids),
                    },
                )
            else:
                out.print(f"{command_name(command)} {target}: {accepted.message}")
            if not wait:
                return Exit.OK
            code = await _follow_operation(
                session, command, accepted.plan_id, set(accepted.task_ids), since, as_json
            )
            await _drain(session, as_json)
            return code
        finally:
            await session.close()


async def _follow_operation(
    session: Session,
    command: Command,
    plan_id: str,
    task_ids: set[str],
    since: int,
    as_json: bool,
) -> Exit:
    target = command.target
    stopping = isinstance(command, Pause | Cancel)
    plan_now = await session.store.get_plan(plan_id)
    settled_plan = plan_now is not None and plan_now.status not in (
        PlanStatus.RUNNING,
        PlanStatus.PAUSED,
    )
    resume = isinstance(command, Resume)
    if target.kind is TargetKind.PLAN and resume and not settled_plan:
        return await _follow_plan(session, plan_id, as_json, title="plan")
    if stopping:
        done = tasks_stopped(task_ids)
    else:
        tasks_now = await session.store.list_tasks(plan_id)
        executing = {
            t.task_id
            for t in tasks_now
            if t.task_id in task_ids and t.status in (TaskStatus.RUNNING, TaskStatus.ROLLING_BACK)
        }
        done = tasks_started_and_settled(task_ids, executing)
    view = await follow(
        session,
        plan_id,
        done,
        console=out,
        json_lines=as_json,
        title=command_name(command),
        since=since,
    )
    if target.kind is TargetKind.PLAN and not (resume and settled_plan):
        plan = await session.store.get_plan(plan_id)
        code = Exit.OK if not resume else exit_for_plan(plan.status if plan else PlanStatus.FAILED)
        if not as_json and plan is not None:
            out.print(f"plan {plan_id} is {plan.status.value}")
        return code
    worst = Exit.OK
    for task_id in sorted(task_ids):
        task = await session.store.get_task(task_id)
        if task is None:
            continue
        code = exit_for_task(task.status) if not stopping else Exit.OK
        worst = max(worst, code)
        if as_json:
            print_json(out, task_json(task) | {"exit_code": int(code)})
        else:
            line = f"task {task.task_id} is {task.status.value}"
            if task.failure:
                line += f": {task.failure.error_type.value}: {task.failure.message}"
            out.print(line, highlight=False)
    del view
    return worst


WaitOption = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Follow the resulting work to its end.")
]


def _plan_or_task_command(kind: type[Pause | Resume | Cancel], summary: str) -> None:
    """Register ``pause``/``resume``/``cancel``: same targets, same options."""

    def command(
        plan: PlanOption = None,
        tenant: TenantOption = None,
        task: TaskOption = None,
        wait: WaitOption = True,
        json_output: JsonOption = False,
    ) -> None:
        target = one_target(plan, tenant, task, plans=True)
        _operate(kind(target=target), json_mode(json_output), wait)

    command.__doc__ = summary
    app.command(COMMAND_NAMES[kind])(command)


_plan_or_task_command(
    Pause,
    "Pause a task (at its next stage boundary) or every running task of a plan.",
)
_plan_or_task_command(
    Resume,
    "Resume a paused task (from its next stage) or a paused plan.",
)
_plan_or_task_command(
    Cancel,
    "Cancel a task (at its next stage boundary when running) or a whole plan.",
)


@app.command()
def retry(
    tenant: TenantOption = None,
    task: TaskOption = None,
    from_checkpoint: Annotated[
        bool, typer.Option("--from-checkpoint", help="Skip the stages that completed.")
    ] = False,
    wait: WaitOption = True,
    json_output: JsonOption = False,
) -> None:
    """Run a FAILED task again (or re-run a failed rollback)."""
    target = one_target(None, tenant, task, plans=False)
    _operate(
        Retry(target=target, from_checkpoint=from_checkpoint),
        json_mode(json_output),
        wait,
    )


@app.command()
def rollback(
    tenant: TenantOption = None,
    task: TaskOption = None,
    version: Annotated[
        int | None,
        typer.Option(
            help="Write and verify this version instead of the previous config's.",
            min=0,
            show_default=False,
        ),
    ] = None,
    wait: WaitOption = True,
    json_output: JsonOption = False,
) -> None:
    """Put a tenant back: re-run its stages with its previous config."""
    target = one_target(None, tenant, task, plans=False)
    _operate(Rollback(target=target, version=version), json_mode(json_output), wait)


# ----------------------------------------------------------------------------- config


@config_app.command("show")
def config_show(json_output: JsonOption = False) -> None:
    """Print the effective settings, secrets masked."""
    data = settings().masked()
    if json_mode(json_output):
        print_json(out, data)
        return
    import yaml

    out.print(yaml.safe_dump(data, sort_keys=False).rstrip(), highlight=False, markup=False)


# ----------------------------------------------------------------------------- fleet / demo


@app.command("fleet")
def fleet_command(
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
    json_output: JsonOption = False,
) -> None:
    """Run a local fleet (gateways, OB instances, portal, ASBC) on loopback until Ctrl-C."""
    from switchover.cli.fleet_cmd import fleet

    try:
        fleet(redis_url, gateways, ob_instances, STATE.config, start_redis, json_mode(json_output))
    except SwitchoverError as exc:
        fail(exit_for_error(exc), str(exc))


@app.command()
def demo(
    tenants: Annotated[int, typer.Option(min=2, max=500, help="How many tenants.")] = 50,
    faulty: Annotated[
        str, typer.Option(help="The tenant the OB instances ignore, to roll back.")
    ] = "tenant-007",
) -> None:
    """A whole plan against a real redis-server and local fleet, then a rollback (~20 s)."""
    from switchover.cli.demo_cmd import run_demo

    code = run_async(run_demo(out, tenants=tenants, store=STATE.store, faulty=faulty))
    raise typer.Exit(code)
