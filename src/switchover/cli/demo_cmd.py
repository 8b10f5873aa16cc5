"""``switchover demo``: a plan against a real redis-server and local fleet, then a rollback."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from switchover.cli.follow import show
from switchover.domain.commands import Rollback
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.records import PlanSpec, Target, TenantSpec
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.fleet.fleet import Fleet
from switchover.fleet.redis_server import RedisServer
from switchover.service import Watch, operator, plan_done
from switchover.settings import Settings

PLAN_ID = "demo"
NEW_VERSION = 20
OLD_VERSION = 19


def demo_tenant(index: int, unit: str, version: int, plan_id: str) -> TenantConfig:
    """Tenant ``index``'s config on ``unit``: routes, unit name, and ASBC rules every fifth."""
    tenant = f"tenant-{index:03d}"
    octet = index % 250
    asbc = index % 5 == 0
    return TenantConfig(
        tenant_id=tenant,
        plan_id=plan_id,
        plan_version=version,
        deploy_unit_id=2 if unit == "green" else 1,
        deploy_unit_version=version,
        deploy_unit_name=unit,
        network_endpoints=(
            NetworkEndpoint(
                key=f"{tenant}-route",
                source_ip=f"10.0.{octet}.10",
                source_domain=f"{tenant}.blue.example.internal",
                target_ip=f"10.1.{octet}.10",
                target_domain=f"{tenant}.{unit}.example.internal",
            ),
        ),
        nacos_namespace="demo",
        called_number_rules=(f"400{index:04d}*", f"800{index:04d}*") if asbc else (),
        trunk_group=f"trunk-{unit}" if asbc else None,
    )


def demo_plan(tenants: int, *, plan_id: str = PLAN_ID) -> PlanSpec:
    """``tenants`` tenants moving from unit ``blue`` (v19) to ``green`` (v20).

    Every tenant has routes (blue-green gateway) and a unit name (portal, OB service); every
    fifth also has ASBC number rules. Each carries its previous config, so each can roll back.
    """
    specs = tuple(
        TenantSpec(
            config=demo_tenant(index, "green", NEW_VERSION, plan_id),
            previous=demo_tenant(index, "blue", OLD_VERSION, "demo-previous"),
        )
        for index in range(1, tenants + 1)
    )
    return PlanSpec(plan_id, NEW_VERSION, 10, specs)


def demo_settings(store: Path, redis_url: str, fleet: Fleet) -> Settings:
    """Settings pointing at the local fleet, with short verify intervals so the demo is quick."""
    values: dict[str, Any] = {
        "store": store,
        "redis": {"url": redis_url},
        "verify": {"interval": 0.2, "rollback_interval": 0.2, "max_attempts": 10},
        "agent": {"check": "switchover.fleet.agent:judge_agent", "interval": 0.2},
        "engine": {"heartbeat_interval": 2.0},
        **fleet.settings_overrides(),
    }
    return Settings.of(**values)


async def run_demo(console: Console, *, tenants: int, store: Path | None, faulty: str) -> int:
    """The demo; returns the exit code (0 when everything behaved as shown)."""
    console.rule("[bold]switchover demo")
    with tempfile.TemporaryDirectory(prefix="switchover-demo-") as tmp, RedisServer() as redis:
        console.print(f"redis-server on {redis.url}")
        async with Fleet(redis.url, Settings(), gateways=3, ob_instances=2) as fleet:
            console.print(
                f"fleet: {len(fleet.gateways)} gateways, {len(fleet.ob_instances)} OB instances, "
                "a portal and an ASBC on loopback"
            )
            store_path = store or Path(tmp) / "switchover.db"
            settings = demo_settings(store_path, redis.url, fleet)
            spec = demo_plan(tenants)
            console.print(
                f"\n[bold]1. Switch {tenants} tenants blue (v{OLD_VERSION}) → green "
                f"(v{NEW_VERSION})[/]. The OB instances are told to ignore {faulty}'s update, "
                "so it will be left half-switched."
            )
            await fleet.set_faults(list(fleet.ob_instances), stale_tenants=[faulty])
            async with operator(settings) as op:
                state = op.session.store
                await op.submit(spec)
                view = await show(
                    op,
                    Watch(PLAN_ID, plan_done, 0, whole_plan=True),
                    console=console,
                    notes=console,
                    json_lines=False,
                    title="plan",
                )
                counts = view.counts()
                console.print(
                    f"plan {PLAN_ID} {view.status.value}: "
                    + ", ".join(f"{n} {s.value}" for s, n in counts.items())
                )
                task = await state.find_task(faulty)
                assert task is not None
                if task.failure is not None:
                    console.print(
                        f"[red]{faulty} {task.status.value}[/] at {task.failure.stage}: "
                        f"{task.failure.message}"
                    )

                console.print("\n[bold]2. What Redis and every instance report now[/]")
                for tenant in ("tenant-001", "tenant-002", faulty):
                    await _show_report(console, fleet, tenant)

                console.print(
                    f"\n[bold]3. Fix the OB instances and roll {faulty} back[/] "
                    f"(switchover rollback --tenant {faulty})"
                )
                await fleet.set_faults(list(fleet.ob_instances), stale_tenants=[])
                accepted, watch = await op.perform(Rollback(target=Target.tenant(faulty)))
                console.print(accepted.message)
                await show(
                    op, watch, console=console, notes=console, json_lines=False, title="rollback"
                )
                rolled = await state.find_task(faulty)
                assert rolled is not None
                console.print(f"{faulty} is {rolled.status.value}")
                report = await _show_report(console, fleet, faulty)
                plan = await state.get_plan(PLAN_ID)
                assert plan is not None
                console.print(
                    f"plan {PLAN_ID} is still {plan.status.value} (rollback never changes "
                    "a plan's status)"
                )
    restored = all(v == OLD_VERSION for v in report.values())
    ok = (
        rolled.status is TaskStatus.ROLLED_BACK
        and restored
        and counts.get(TaskStatus.COMPLETED, 0) == tenants - 1
        and plan.status is PlanStatus.FAILED
    )
    console.rule("[green]demo finished[/]" if ok else "[red]demo did not go as expected[/]")
    return 0 if ok else 1


async def _show_report(console: Console, fleet: Fleet, tenant: str) -> dict[str, Any]:
    report = await fleet.report(tenant)
    metadata = report.redis.get("metadata")
    version = metadata.get("version") if isinstance(metadata, dict) else None
    bg = report.redis.get("icc-bg-gateway")
    unit = bg.get("targetUnit") if isinstance(bg, dict) else None
    table = Table(
        title=f"{tenant}: Redis metadata.version={version}, targetUnit={unit}", title_justify="left"
    )
    table.add_column("instance")
    table.add_column("service")
    table.add_column("reports version", justify="right")
    versions: dict[str, Any] = {}
    for item in report.instances:
        table.add_row(item.address, item.app_name, str(item.version))
        versions[item.address] = item.version
    console.print(table)
    versions["redis"] = version
    return versions
