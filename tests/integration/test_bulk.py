"""Bulk operations over a selection: each task on its own, one summary, one exit code — from
the CLI on a store and through the API. Real redis-server and fleet."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from switchover.domain.status import PlanStatus, TaskStatus
from switchover.fleet.fleet import Fleet
from switchover.stores.sqlite import SqliteStore
from tests.integration.conftest import plan_doc, tenant_doc
from tests.integration.test_api import Api, api  # noqa: F401
from tests.integration.test_cli import Cli, cli_for, store  # noqa: F401

pytestmark = pytest.mark.integration

FAILING = ["b001", "b003", "b004"]


def tenants(count: int) -> list[dict[str, object]]:
    return [tenant_doc(f"b{i:03d}") for i in range(count)]


async def test_rollback_of_every_failed_task_of_a_plan_from_the_cli(
    tmp_path: Path,
    fleet: Fleet,
    cli_for: Callable[..., Cli],  # noqa: F811
    store: SqliteStore,  # noqa: F811
) -> None:
    cli = cli_for(agent={"check": None})  # every tenant warns that no agent check is set
    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=FAILING)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan_doc("bulk", tenants(6), max_concurrency=2)))
    ran = await cli("run", str(plan_file))
    assert ran.code == 1, ran
    # Not a terminal: the same warning is printed once, then counted.
    assert ran.stdout.count("agent readiness check not configured") == 2, ran.stdout
    assert "! 6 tasks warned:" in ran.stdout
    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=[])

    shown = await cli("status", "bulk")
    assert "failures: 3 HEALTH_CHECK_FAILED at ob-service" in shown.stdout, shown
    assert shown.code == 0  # shown: 0, whatever the plan's status
    assert (await cli("status", "bulk", "--exit-status")).code == 1  # FAILED
    assert (await cli("status", "--tenant", "b000", "--exit-status")).code == 0  # COMPLETED
    assert (await cli("status", "--tenant", "b001", "--exit-status")).code == 1  # FAILED
    failed = await cli("--json", "status", "bulk", "--status", "FAILED")
    assert failed.code == 0, failed
    assert sorted(t["tenant_id"] for t in json.loads(failed.stdout)["tasks"]) == FAILING

    rolled = await cli("rollback", "--plan", "bulk", "--status", "FAILED", "--reason", "INC-9")
    assert rolled.code == 0, rolled
    assert "rollback the FAILED tasks of plan bulk: 3 accepted, 0 refused" in rolled.stdout
    statuses = {t.tenant_id: t.status for t in await store.list_tasks("bulk")}
    assert {t for t, s in statuses.items() if s is TaskStatus.ROLLED_BACK} == set(FAILING)
    assert {t for t, s in statuses.items() if s is TaskStatus.COMPLETED} == {
        "b000",
        "b002",
        "b005",
    }
    plan = await store.get_plan("bulk")
    assert plan is not None
    assert plan.status is PlanStatus.FAILED  # rollbacks never move the plan
    events = await store.read_events("bulk", 0, 100_000)
    audits = [e for e in events if e.type.value == "OperationAccepted"]
    assert sorted(e.task_id or "" for e in audits) == [f"bulk/{t}" for t in FAILING]
    assert all(e.data["reason"] == "INC-9" for e in audits)

    # A tenants file naming a COMPLETED and an unknown tenant: each refused, on its own.
    listed = tmp_path / "tenants.txt"
    listed.write_text("# to look at\nb000\nnobody\n")
    refused = await cli("--json", "retry", "--plan", "bulk", "--tenants-file", str(listed))
    assert refused.code == 4, refused
    outcome = json.loads(refused.stdout.splitlines()[0])
    assert outcome["accepted"] == []
    assert {r["task_id"]: r["error_type"] for r in outcome["refused"]} == {
        "bulk/b000": "INVALID_STATE",
        "bulk/nobody": "NOT_FOUND",
    }

    history = await cli("status", "--tenant", "b001", "--history")
    assert history.code == 0, history
    assert "bulk/b001" in history.stdout
    assert "ROLLED_BACK" in history.stdout

    bad = await cli("pause", "--status", "RUNNING")
    assert bad.code == 2
    assert "--plan" in bad.stderr
    unknown = await cli("pause", "--plan", "bulk", "--status", "BROKEN")
    assert unknown.code == 2
    assert "expected statuses" in unknown.stderr


async def test_a_selection_through_the_api(api: Api, fleet: Fleet) -> None:  # noqa: F811
    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=FAILING)
    doc = plan_doc("sel", tenants(6), max_concurrency=3)
    assert (await api.submit(doc)).status_code == 201
    await api.settle()
    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=[])
    response = await api.client.post(
        "/plans/sel/selection/rollback",
        headers=api.op,
        json={"statuses": ["FAILED"], "reason": "bulk"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert sorted(t for a in body["accepted"] for t in a["task_ids"]) == [
        f"sel/{t}" for t in FAILING
    ]
    assert body["refused"] == []
    await api.settle()
    page = await api.plan("sel", status="ROLLED_BACK")
    assert page["matching"] == 3
    assert (await api.plan("sel"))["status"] == "FAILED"

    both = await api.client.post(
        "/plans/sel/selection/retry",
        headers=api.op,
        json={"statuses": ["FAILED"], "tenants": ["b000"]},
    )
    assert both.status_code == 422
    viewer = await api.client.post(
        "/plans/sel/selection/retry", headers=api.viewer, json={"statuses": ["FAILED"]}
    )
    assert viewer.status_code == 403
