"""Operations over a selection (``--plan P --status S,S`` or ``--plan P --tenants-file F``):
each selected task handled on its own, with a per-task outcome and one exit code."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    run_async,
    settings,
)
from switchover.cli.console import print_json
from switchover.cli.exits import Exit, exit_for_task
from switchover.domain.status import TaskStatus

if TYPE_CHECKING:
    from switchover.bulk import BulkOutcome, Selection
    from switchover.domain.commands import Command
    from switchover.service import Operations
    from switchover.settings import Settings

StatusOption = Annotated[
    str | None,
    typer.Option(
        "--status",
        help="With --plan: every task of the plan with one of these statuses, e.g. FAILED,PAUSED.",
        show_default=False,
    ),
]
TenantsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--tenants-file",
        help="With --plan: the tasks of the tenants listed in this file (one per line).",
        show_default=False,
    ),
]

SHOWN_REFUSALS = 20
"""Refused tasks listed one by one on a terminal; the rest are counted (all in --json)."""


def selection_of(
    opts: Options, plan: str | None, statuses: str | None, tenants_file: Path | None
) -> Selection | None:
    """The selection the options name, or None when they name none."""
    if statuses is None and tenants_file is None:
        return None
    from switchover.bulk import Selection

    if plan is None:
        fail(opts, Exit.INVALID, "--status and --tenants-file select tasks of a plan: add --plan")
    if statuses is not None and tenants_file is not None:
        fail(opts, Exit.INVALID, "select by --status or by --tenants-file, not both")
    if statuses is not None:
        names = [name.strip().upper() for name in statuses.split(",") if name.strip()]
        known = {s.value for s in TaskStatus}
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            fail(
                opts,
                Exit.INVALID,
                f"--status {statuses!r}: expected statuses among {', '.join(sorted(known))}",
            )
        return Selection(plan, statuses=tuple(TaskStatus(name) for name in names))
    assert tenants_file is not None
    try:
        lines = tenants_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        fail(opts, Exit.INVALID, f"cannot read {tenants_file}: {exc.strerror or exc}")
    tenants = tuple(dict.fromkeys(t.strip() for t in lines if t.strip() and not t.startswith("#")))
    if not tenants:
        fail(opts, Exit.INVALID, f"{tenants_file} lists no tenant")
    return Selection(plan, tenants=tenants)


def operate_bulk(
    ctx: typer.Context, command: Command, selection: Selection, as_json: bool, wait: bool
) -> None:
    """Run a bulk operation and exit: 0 when every task was accepted (and, followed, ended
    well), 4 when some were refused, 1 when a followed task ended badly."""
    opts = Options.of(ctx)
    as_json = opts.with_json(as_json)
    code = run_async(opts, _bulk(opts, settings(opts), command, selection, as_json, wait))
    raise typer.Exit(int(code))


async def _bulk(
    opts: Options,
    conf: Settings,
    command: Command,
    selection: Selection,
    as_json: bool,
    wait: bool,
) -> Exit:
    from rich.text import Text

    from switchover.cli.render import counts_line
    from switchover.domain.commands import command_name
    from switchover.views import bulk_json

    verb = command_name(command)
    async with operations(opts, conf) as op:
        outcome = await op.bulk(command, selection, wait=wait)
        code = Exit.REFUSED if outcome.refused else Exit.OK
        if as_json:
            print_json(out, bulk_json(outcome) | {"ok": not outcome.refused})
        else:
            _summary(verb, selection, outcome)
        if not wait or not outcome.task_ids:
            return code
        finals = await _follow(op, command, outcome, as_json)
        worst = max((_final_code(command, s) for s in finals.values()), default=Exit.OK)
        if as_json:
            print_json(out, {"final": {k.value: v for k, v in Counter(finals.values()).items()}})
        else:
            out.print(Text.assemble(f"{verb}: ", counts_line(Counter(finals.values()))))
        return max(code, worst)


def _summary(verb: str, selection: Selection, outcome: BulkOutcome) -> None:
    accepted, refused = len(outcome.task_ids), len(outcome.refused)
    out.print(f"{verb} {selection}: {accepted} accepted, {refused} refused", highlight=False)
    for refusal in outcome.refused[:SHOWN_REFUSALS]:
        err.print(f"  refused {refusal.task_id}: {refusal.message}", highlight=False)
    if refused > SHOWN_REFUSALS:
        err.print(f"  … {refused - SHOWN_REFUSALS} more refused (see --json)", highlight=False)


async def _follow(
    op: Operations, command: Command, outcome: BulkOutcome, as_json: bool
) -> dict[str, TaskStatus]:
    """Follow the accepted tasks to their end; their final statuses."""
    from switchover.cli.follow import show
    from switchover.domain.commands import Cancel, Pause, command_name
    from switchover.service import Watch, tasks_started_and_settled, tasks_stopped

    ids = set(outcome.task_ids)
    done = (
        tasks_stopped(ids)
        if isinstance(command, Pause | Cancel)
        else (tasks_started_and_settled(ids))
    )
    watch = Watch(outcome.plan_id, done, outcome.since, whole_plan=False)
    progress = await show(
        op, watch, console=out, notes=err, json_lines=as_json, title=command_name(command)
    )
    return {t: progress.tasks[t].status for t in ids if t in progress.tasks}


def _final_code(command: Command, status: TaskStatus) -> Exit:
    from switchover.domain.commands import Cancel, Pause

    return Exit.OK if isinstance(command, Pause | Cancel) else exit_for_task(status)


@app.command()
def revert(
    ctx: typer.Context,
    plan: Annotated[str, typer.Option("--plan", help="The plan whose tasks to put back.")],
    tenant: Annotated[
        list[str] | None,
        typer.Option("--tenant", help="A tenant of the plan (repeat for several)."),
    ] = None,
    status: StatusOption = None,
    tenants_file: TenantsFileOption = None,
    new_id: Annotated[
        str | None,
        typer.Option(
            "--id", help="The new plan's id (default: PLAN-revert-N).", show_default=False
        ),
    ] = None,
    reason: ReasonOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Even tenants a newer task has switched since.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the new plan.")] = True,
    json_output: JsonOption = False,
) -> None:
    """Put COMPLETED or CANCELLED (half-switched) tenants back: a new plan whose configs are
    their previous ones, run forward through the same stages, verify included. The original
    plan is left as it is.

    Examples: switchover revert --plan big-move --tenant t-0042;
    switchover revert --plan big-move --status COMPLETED,CANCELLED --reason "INC-12"
    """
    from switchover.bulk import Selection

    opts = Options.of(ctx)
    as_json = opts.with_json(json_output)
    if tenant and (status or tenants_file):
        fail(opts, Exit.INVALID, "select by --tenant, --status or --tenants-file (one of them)")
    selection = (
        Selection(plan, tenants=tuple(dict.fromkeys(tenant)))
        if tenant
        else selection_of(opts, plan, status, tenants_file)
    )
    if selection is None:
        fail(opts, Exit.INVALID, "name the tasks: --tenant T, --status S or --tenants-file F")
    conf = settings(opts)
    code = run_async(opts, _revert(opts, conf, selection, new_id, reason, force, wait, as_json))
    raise typer.Exit(int(code))


async def _revert(
    opts: Options,
    conf: Settings,
    selection: Selection,
    new_id: str | None,
    reason: str | None,
    force: bool,
    wait: bool,
    as_json: bool,
) -> Exit:
    from switchover.cli.run_cmd import drain, follow_plan

    async with operations(opts, conf) as op:
        plan, skipped = await op.revert(
            selection, new_id=new_id, actor=actor(), reason=reason, force=force
        )
        code = Exit.REFUSED if skipped else Exit.OK
        if as_json:
            from switchover.views import revert_json

            print_json(out, revert_json(plan, selection.plan_id, skipped))
        else:
            out.print(
                f"revert of plan {selection.plan_id}: plan [bold]{plan.plan_id}[/] puts "
                f"{plan.task_count} tenant(s) back to their previous config"
            )
            for item in skipped[:SHOWN_REFUSALS]:
                err.print(f"  left out {item.task_id}: {item.reason}", highlight=False)
        if not wait:
            return code
        outcome = await follow_plan(opts, op, plan.plan_id, as_json, since=0)
        await drain(op, as_json)
        return max(code, outcome)
