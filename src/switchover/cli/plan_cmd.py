"""``preflight`` and ``diff``: check a plan's targets, and show what it would change in Redis.

Neither writes anything a run would: ``preflight`` touches only its probe key and sends one
probe message (``switchover.preflight``), ``diff`` only reads (``switchover.diff``).
``run --dry-run`` prints the same diff as ``diff`` and submits nothing.

``diff --json`` prints one document::

    {"schema": "switchover/v1", "ok": true, "exit_code": 0, "dry_run": true, "redis": "host:port",
     "plan_id": "...", "version": 20, "tenant_count": N,
     "summary": {"units": n, "routes": n, "version": n, "other": n, "no_change": n,
                 "no_record": n, "no_redis_write": n, "drift": n},
     "summary_line": "units changed: 9,800; ...",
     "tenants": [{"tenant_id", "key", "stages": [...], "record": bool,
                  "version_now", "version_new", "previous_version",
                  "kinds": ["units", "version", ...], "drift": "why" | null,
                  "fields": [{"field", "status": "added|changed|unchanged",
                              "changes": [{"key", "old", "new"}],
                              "routes": [{"id", "change": "added|removed|changed",
                                          "old", "new"}],
                              "note": str | null}],
                  "untouched": ["other-field", ...]}]}

Summary counts are tenants per kind; a tenant may count under several of ``units``,
``routes``, ``version`` and ``other``. ``preflight --json`` prints ``{"schema", "ok", "exit_code",
"plan_id", "version", "tenants", "redis", "probe_key", "problems": [{"concern", "subject",
"message", "line", "tenant_count", "example_tenants"}], "lookups": [{"service_key",
"namespace", "tenants", "instances"}]}``.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec.structs
import typer

from switchover.cli.app import (
    JsonOption,
    Options,
    app,
    err,
    fail,
    out,
    plan_problems,
    read_plan,
    run_async,
    settings,
)
from switchover.cli.console import print_json
from switchover.cli.exits import Exit
from switchover.errors import PlanValidationError

if TYPE_CHECKING:
    from switchover.diff import FieldDiff, PlanDiff, TenantDiff
    from switchover.domain.records import PlanSpec
    from switchover.preflight import PreflightReport
    from switchover.settings import Settings

PlanFile = Annotated[Path, typer.Argument(help="Plan file (YAML or JSON).")]


def _plan_and_settings(
    ctx: typer.Context, plan_file: Path, json_output: bool
) -> tuple[Options, Settings, PlanSpec, bool]:
    """The invocation's options and settings, the validated plan (or exit 2 listing every
    problem), and whether to print JSON."""
    opts = Options.of(ctx)
    as_json = opts.with_json(json_output)
    conf = settings(opts)
    try:
        spec = read_plan(opts, plan_file, conf.engine.max_concurrency)
    except PlanValidationError as exc:
        plan_problems(opts, plan_file, exc)
    return opts, conf, spec, as_json


@app.command("preflight")
def preflight_command(
    ctx: typer.Context, plan_file: PlanFile, json_output: JsonOption = False
) -> None:
    """Check a plan's targets before anything is written: Redis and discovery.

    Redis must answer and accept HSET/HDEL (on a probe key, never a tenant's) and PUBLISH (a
    probe message no subscriber acts on); every service key the plan's stages need must have
    an instance in each namespace. Exit 0 when clean, 2 for an invalid plan, 4 listing every
    problem otherwise.

    Example: switchover --config fleet.yaml preflight examples/plan.yaml
    """
    opts, conf, spec, as_json = _plan_and_settings(ctx, plan_file, json_output)
    report = run_async(opts, _preflight(conf, spec))
    code = Exit.OK if report.ok else Exit.REFUSED
    if as_json:
        print_json(out, _preflight_json(conf, spec, report, code))
    elif report.ok:
        out.print(
            f"preflight of plan {spec.plan_id}: ok ({report.tenants:,} tenant(s))",
            markup=False,
            highlight=False,
        )
        for line in _checked_lines(conf, report):
            out.print(f"  {line}", markup=False, highlight=False)
    else:
        err.print(
            f"preflight of plan {spec.plan_id}: {len(report.problems)} problem(s)",
            markup=False,
            highlight=False,
        )
        for problem in report.problems:
            err.print(f"  {problem}", markup=False, highlight=False)
    raise typer.Exit(int(code))


async def _preflight(conf: Settings, spec: PlanSpec) -> PreflightReport:
    from switchover.preflight import check_targets
    from switchover.wiring import open_targets

    async with open_targets(conf) as targets:
        return await check_targets(spec, conf, targets.redis, targets.discovery, targets.builder)


def _preflight_json(
    conf: Settings, spec: PlanSpec, report: PreflightReport, code: Exit
) -> dict[str, Any]:
    from switchover.preflight import probe_key

    return {
        "ok": report.ok,
        "exit_code": int(code),
        "plan_id": spec.plan_id,
        "version": spec.version,
        "tenants": report.tenants,
        "redis": report.redis,
        "probe_key": probe_key(conf.redis.key_prefix),
        "problems": [problem.to_dict() for problem in report.problems],
        "lookups": [
            {
                "service_key": lookup.service_key,
                "namespace": lookup.namespace,
                "tenants": len(lookup.tenants),
                "instances": lookup.instances,
            }
            for lookup in report.lookups
        ],
    }


def _checked_lines(conf: Settings, report: PreflightReport) -> list[str]:
    from switchover.preflight import probe_key

    lines = [
        f"redis {report.redis}: PING, HSET and HDEL of {probe_key(conf.redis.key_prefix)}, "
        f"PUBLISH on {conf.redis.topic}"
    ]
    for lookup in report.lookups:
        where = lookup.namespace or "(default namespace)"
        lines.append(
            f"discovery {lookup.service_key} in {where}: {lookup.instances} instance(s), "
            f"{len(lookup.tenants):,} tenant(s)"
        )
    return lines


@app.command("diff")
def diff_command(
    ctx: typer.Context,
    plan_file: PlanFile,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Only this tenant of the plan.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show what a plan would change in Redis, per tenant; reads only, writes nothing.

    Per tenant: the stages that would run and, field by field, what its record holds now
    against what the plan would write (units, routes by id, version; timestamps ignored);
    tenants whose stored version is neither the previous nor the new one are flagged as
    drift. Exit 0 (diff shown), 2 invalid plan, 3 --tenant not in the plan, 6 Redis
    unreachable.

    Example: switchover --config fleet.yaml diff examples/plan.yaml --tenant tenant-a
    """
    opts, conf, spec, as_json = _plan_and_settings(ctx, plan_file, json_output)
    dry_run(opts, conf, spec, as_json, tenant=tenant)


def dry_run(
    opts: Options, conf: Settings, spec: PlanSpec, as_json: bool, *, tenant: str | None = None
) -> None:
    """Print the diff of ``spec`` against what Redis holds now (``diff``, ``run --dry-run``).

    Args:
        opts: the invocation's options.
        conf: the effective settings.
        spec: the validated plan.
        as_json: print one JSON document instead of text.
        tenant: only this tenant of the plan (exit 3 when it is not in it).
    """
    if tenant is not None:
        chosen = tuple(t for t in spec.tenants if t.config.tenant_id == tenant)
        if not chosen:
            fail(opts, Exit.NOT_FOUND, f"tenant {tenant} is not in plan {spec.plan_id}")
        spec = msgspec.structs.replace(spec, tenants=chosen)
    diff = run_async(opts, _diff(conf, spec))
    from switchover.preflight import redis_address

    where = redis_address(conf)
    if as_json:
        document = {
            "ok": True,
            "exit_code": int(Exit.OK),
            "dry_run": True,
            "redis": where,
            **diff.to_dict(),
            "summary_line": summary_line(diff),
        }
        from switchover.views import document as versioned

        _write(json.dumps(versioned(document), ensure_ascii=False))
        return
    lines = [
        f"diff of plan {spec.plan_id} version {spec.version} against redis {where} "
        "(read only: nothing written, published or called)"
    ]
    quiet = 0
    for item in diff.tenants:
        if tenant is None and not item.changed and item.drift is None:
            quiet += 1
            continue
        lines += tenant_lines(item)
    if quiet:
        lines.append(f"({quiet:,} tenant(s) without change or drift not listed)")
    lines.append(f"summary ({len(diff.tenants):,} tenant(s)): {summary_line(diff)}")
    _write("\n".join(lines))


def _write(text: str) -> None:
    """``text`` and a line break on stdout, as is."""
    # Not through rich: the diff of 10,000 tenants is megabytes (tens of thousands of lines, or
    # one JSON document), which rich would parse and render again for nothing.
    out.file.write(text + "\n")
    out.file.flush()


async def _diff(conf: Settings, spec: PlanSpec) -> PlanDiff:
    from switchover.diff import diff_plan
    from switchover.wiring import open_targets

    async with open_targets(conf) as targets:
        return await diff_plan(spec, conf, targets.redis, targets.builder)


def summary_line(diff: PlanDiff) -> str:
    """``units changed: 9,800; routes changed: 200; ...; drift: 3``."""
    return "; ".join(f"{label}: {count:,}" for label, count in diff.summary().items())


def tenant_lines(item: TenantDiff) -> list[str]:
    """A tenant's diff as text: a heading, then one line per change."""
    from switchover.diff import ChangeKind

    stages = ", ".join(item.stages) or "no stage"
    lines = [f"{item.tenant_id}  [{stages}]"]
    kinds = item.kinds
    if ChangeKind.NO_REDIS_WRITE in kinds:
        lines.append("  no redis write")
    elif ChangeKind.NO_RECORD in kinds:
        written = ", ".join(field.field for field in item.fields)
        lines.append(
            f"  no record: {item.key} would be created ({written}), version {item.version_new}"
        )
    elif ChangeKind.NO_CHANGE in kinds:
        lines.append("  no change")
    else:
        for field in item.fields:
            lines += _field_lines(field)
    if item.drift is not None:
        lines.append(f"  DRIFT: {item.drift}")
    return lines


def _field_lines(field: FieldDiff) -> list[str]:
    from switchover.diff import FieldStatus

    lines = []
    if field.note is not None:
        lines.append(f"  {field.field}: {field.note}; it would be replaced")
    added = field.status is FieldStatus.ADDED
    prefix = f"  {field.field}" + (" (added)" if added else "")
    for change in field.changes:
        lines.append(f"{prefix}.{_plain(change.key)}: {_show(change.old)} → {_show(change.new)}")
    for route in field.routes:
        route_id = _plain(route.route_id)
        if route.old is None and route.new is not None:
            lines.append(f"{prefix}.routes: + {route_id} {_route(route.new)}")
        elif route.new is None and route.old is not None:
            lines.append(f"{prefix}.routes: - {route_id} {_route(route.old)}")
        elif route.old is not None and route.new is not None:
            differing = [
                f"{_plain(key)} {_show(route.old.get(key))} → {_show(route.new.get(key))}"
                for key in dict.fromkeys([*route.new, *route.old])
                if route.old.get(key) != route.new.get(key)
            ]
            lines.append(f"{prefix}.routes: ~ {route_id}: {', '.join(differing)}")
    return lines


def _plain(text: str) -> str:
    """A key or route id as is, or JSON-quoted when it holds a line break or another control
    character (it may come from Redis: one change stays one line, and no escape sequence
    reaches the terminal)."""
    return text if text.isprintable() else json.dumps(text)


def _route(route: Any) -> str:
    return " → ".join(_show(route.get(side)) for side in ("sourceUri", "targetUri"))


def _show(value: Any) -> str:
    """A value as JSON text (``(none)`` for None); strings and integers the quick way."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        # What json.dumps(value, ensure_ascii=False) writes; all escaped when unprintable.
        return encode_basestring(value) if value.isprintable() else json.dumps(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
