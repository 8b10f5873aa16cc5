"""``validate`` and ``run``: check a plan file; submit a plan and follow it to the end."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from switchover.cli.app import (
    JsonOption,
    Options,
    ReasonOption,
    actor,
    app,
    err,
    fail,
    operations,
    out,
    plan_problems,
    read_plan,
    read_plan_file,
    run_async,
    settings,
)
from switchover.cli.console import print_json
from switchover.cli.exits import Exit, exit_for_plan
from switchover.domain.status import PlanStatus
from switchover.errors import ConflictError, PlanValidationError, SwitchoverError

if TYPE_CHECKING:
    from switchover.domain.records import PlanSpec, Target
    from switchover.service import Operations, PlanTree, Progress
    from switchover.settings import Settings


@app.command()
def validate(
    ctx: typer.Context,
    plan_file: Annotated[Path, typer.Argument(help="Plan file (YAML or JSON).")],
    json_output: JsonOption = False,
) -> None:
    """Check a plan file; report every problem with its tenant and field.

    Example: switchover validate examples/plan.yaml
    """
    from switchover.stages.names import stage_counts

    opts = Options.of(ctx)
    as_json = opts.with_json(json_output)
    try:
        spec = read_plan(opts, plan_file, settings(opts).engine.max_concurrency)
    except PlanValidationError as exc:
        plan_problems(opts, plan_file, exc)
    stages = stage_counts(tenant.config for tenant in spec.tenants)
    rollback_ready = sum(1 for t in spec.tenants if t.previous is not None)
    rollout = _rollout_lines(spec)
    if as_json:
        print_json(
            out,
            {
                "ok": True,
                "plan_id": spec.plan_id,
                "version": spec.version,
                "max_concurrency": spec.max_concurrency,
                "tenants": len(spec.tenants),
                "stages": stages,
                "rollback_ready": rollback_ready,
                "rollout": rollout,
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
    for line in rollout:
        out.print(f"  {line}", highlight=False)


def _rollout_lines(spec: PlanSpec) -> list[str]:
    """The plan's rollout policy, a line per part."""
    policy = spec.policy
    if policy is None:
        return []
    lines: list[str] = []
    if policy.waves:
        sizes, start = [], 0
        for number, wave in enumerate(policy.waves, start=1):
            gate = " after approval" if wave.approval else ""
            sizes.append(f"{number}: {wave.end - start}{gate}")
            start = wave.end
        bake = f", bake {policy.bake:g}s between waves" if policy.bake else ""
        lines.append(f"waves: {'; '.join(sizes)}{bake}")
    budget = policy.budget
    if budget is not None:
        lines.append(f"failure budget: halt when {budget.limits(' failed')}")
    if policy.auto_rollback:
        lines.append("auto rollback: each failed tenant is rolled back")
    if policy.stage_deadline or policy.task_deadline:
        stage = f"stage {policy.stage_deadline:g}s" if policy.stage_deadline else ""
        task = f"task {policy.task_deadline:g}s" if policy.task_deadline else ""
        lines.append(f"deadlines: {', '.join(p for p in (stage, task) if p)}")
    return lines


@app.command()
def run(
    ctx: typer.Context,
    plan_file: Annotated[Path, typer.Argument(help="Plan file (YAML or JSON).")],
    max_concurrency: Annotated[
        int | None,
        typer.Option(help="Override the plan's max concurrency.", min=1, show_default=False),
    ] = None,
    reason: ReasonOption = None,
    json_output: JsonOption = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Submit nothing: print what the plan would change in Redis (as 'diff').",
        ),
    ] = False,
) -> None:
    """Submit a plan and follow it to the end with live progress.

    Exit 0 when every task completed, 1 when the plan ended otherwise, 2 for invalid input,
    5 when paused (first Ctrl-C pauses; a second exits at once). With --dry-run: the diff of
    'switchover diff', exit 0 (6 when Redis is unreachable).

    Example: switchover --config fleet.yaml run examples/plan.yaml --reason CHG-1234
    """
    opts = Options.of(ctx)
    as_json = opts.with_json(json_output)
    conf = settings(opts)
    try:
        spec, source = read_plan_file(opts, plan_file, conf.engine.max_concurrency)
    except PlanValidationError as exc:
        fail(opts, Exit.INVALID, str(exc))
    if max_concurrency is not None:
        from switchover.domain.records import PlanSpec

        spec = PlanSpec(spec.plan_id, spec.version, max_concurrency, spec.tenants)
    if dry_run:
        from switchover.cli.plan_cmd import dry_run as show_dry_run

        show_dry_run(opts, conf, spec, as_json)
        return
    code = run_async(opts, _run(opts, conf, spec, source, reason, as_json))
    raise typer.Exit(int(code))


async def _run(
    opts: Options, conf: Settings, spec: PlanSpec, source: bytes, reason: str | None, as_json: bool
) -> Exit:
    async with operations(opts, conf) as op:
        if opts.server is not None:
            install_detach(opts, spec.plan_id)  # from the start: the plan is the server's
        try:
            plan = await op.submit(spec, source=source, actor=actor(), reason=reason)
        except ConflictError as exc:
            fail(
                opts,
                Exit.REFUSED,
                f"{exc}; see '{opts.command_line('status', spec.plan_id)}' or resume it with "
                f"'{opts.command_line('resume', '--plan', spec.plan_id)}'",
            )
        if not as_json:
            where = "here"
            if op.remote:
                where = f"by the server {opts.server}" if opts.server else "by the running engine"
            out.print(
                f"plan [bold]{plan.plan_id}[/]: {plan.task_count} task(s), "
                f"max concurrency {plan.max_concurrency}, run {where}"
            )
        code = await follow_plan(opts, op, plan.plan_id, as_json, since=0)
        await drain(op, as_json)
        return code


async def follow_plan(
    opts: Options, op: Operations, plan_id: str, as_json: bool, since: int
) -> Exit:
    """Follow a whole plan and report how it ended.

    The first Ctrl-C pauses the plan when this command's engine runs it; against a server it
    detaches (the plan keeps running there) and says how to re-attach, pause or cancel.
    """
    from switchover.cli.follow import show
    from switchover.domain.records import Target
    from switchover.service import Watch, plan_done

    if opts.server is not None:
        install_detach(opts, plan_id)
    else:
        install_interrupt(pause_of(opts, op, [Target.plan(plan_id)]), PAUSING)
    watch = Watch(plan_id, plan_done, since, whole_plan=True)
    progress = await show(op, watch, console=out, notes=err, json_lines=as_json, title="plan")
    return plan_outcome(opts, progress, as_json)


def plan_outcome(opts: Options, progress: Progress | PlanTree, as_json: bool) -> Exit:
    """Print how a followed or watched plan ended; its exit code."""
    code = exit_for_plan(progress.status)
    counts = progress.counts()
    if as_json:
        print_json(
            out,
            {
                "plan_id": progress.plan_id,
                "status": progress.status.value,
                "counts": {k.value: v for k, v in counts.items()},
                "exit_code": int(code),
            },
        )
        return code
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items())
    out.print(f"plan [bold]{progress.plan_id}[/] {progress.status.value}: {summary}")
    if progress.status is PlanStatus.PAUSED:
        out.print(f"continue with: {opts.command_line('resume', '--plan', progress.plan_id)}")
    elif code is Exit.FAILED:
        out.print(
            f"see '{opts.command_line('status', progress.plan_id)}'; retry with "
            f"'{opts.command_line('retry', '--tenant', 'T')}' or roll back with "
            f"'{opts.command_line('rollback', '--tenant', 'T')}'"
        )
    return code


async def drain(op: Operations, as_json: bool) -> None:
    """Let this command's engine finish the other work it took on before the command exits."""
    if not op.has_other_work():
        return
    if not as_json:
        err.print(
            "finishing the other unfinished work this command's engine is running "
            "(other commands' plans, or work recovered from a stopped engine)…"
        )
    await op.drain()


PAUSING = (
    "Ctrl-C: pausing — running tasks stop at their next stage boundary. "
    "Press Ctrl-C again to exit at once."
)
"""What the first Ctrl-C says when it pauses the followed work."""


def pause_of(
    opts: Options, op: Operations, targets: list[Target]
) -> Callable[[], Coroutine[Any, Any, None]]:
    """The pause of each of ``targets`` that a first Ctrl-C requests (a refusal is said)."""
    from rich.text import Text

    from switchover.cli.follow import notify
    from switchover.domain.commands import Pause

    async def pause() -> None:
        for target in targets:
            try:
                await op.request(Pause(target=target, actor=actor()))
            except SwitchoverError as exc:
                notify(err, Text(f"could not pause {target}: {opts.scrub(str(exc))}", "red"))

    return pause


def install_detach(opts: Options, plan_id: str) -> None:
    """Ctrl-C while following a plan on a server: stop following; the plan runs on."""
    import asyncio

    from switchover.cli.follow import leave_screen, on_screen

    loop = asyncio.get_running_loop()

    def handler() -> None:
        lead = "" if on_screen() else "\n"  # off the live display, "^C" ends the line
        leave_screen()
        err.print(
            f"{lead}[yellow]detached: plan {plan_id} keeps running on {opts.server}.[/]\n"
            f"  re-attach: {opts.command_line('watch', plan_id)}\n"
            f"  pause:     {opts.command_line('pause', '--plan', plan_id)}\n"
            f"  cancel:    {opts.command_line('cancel', '--plan', plan_id)}",
            highlight=False,
        )
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(int(Exit.INTERRUPTED))

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, handler)


def install_interrupt(first: Callable[[], Coroutine[Any, Any, None]] | None, says: str) -> None:
    """First Ctrl-C: say ``says`` at once and run ``first`` (e.g. pause at the next stage
    boundary). Second: exit at once.

    What is said goes above the live display, which keeps it in view; the second Ctrl-C ends
    the display (its last frame stays) before saying it exits.
    """
    import asyncio

    from rich.text import Text

    from switchover.cli.follow import leave_screen, notify, on_screen

    loop = asyncio.get_running_loop()
    presses = {"n": 0}
    pending: set[asyncio.Task[None]] = set()  # keeps each pause job referenced until done

    def handler() -> None:
        presses["n"] += 1
        if presses["n"] == 1:
            # Off the live display, the terminal's "^C" ends the line the cursor is on.
            notify(err, Text(says if on_screen() else f"\n{says}", style="yellow"))
            if first is not None:
                job = loop.create_task(first())
                pending.add(job)
                job.add_done_callback(pending.discard)
        else:
            leave_screen()
            err.print("[red]exiting now; unfinished work resumes when an engine starts.[/]")
            sys.stderr.flush()
            sys.stdout.flush()
            os._exit(int(Exit.INTERRUPTED))

    with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix event loops
        loop.add_signal_handler(signal.SIGINT, handler)
