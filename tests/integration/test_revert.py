"""Revert: COMPLETED and half-switched CANCELLED tenants put back by a new plan that runs
forward through the same stages, verify included. Real redis-server, fleet and CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from switchover.domain.status import PlanStatus, TaskStatus
from switchover.fleet.fleet import Fleet
from switchover.stores.sqlite import SqliteStore
from tests.integration.conftest import (
    KEY_PREFIX,
    plan_doc,
    reported_versions,
    seed_previous,
    tenant_doc,
)
from tests.integration.test_cli import Cli, _task_at, cli_for, store  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_VERIFY = {"interval": 0.1, "max_attempts": 400, "deadline": 60.0}


async def version_in_redis(client: aioredis.Redis, tenant: str) -> int:
    raw = await client.hget(f"{KEY_PREFIX}{tenant}", "metadata")
    return int(json.loads(raw)["version"])


async def test_revert_of_a_completed_tenant_restores_its_previous_version_everywhere(
    tmp_path: Path,
    fleet: Fleet,
    redis_client: aioredis.Redis,
    cli_for: Callable[..., Cli],  # noqa: F811
    store: SqliteStore,  # noqa: F811
) -> None:
    cli = cli_for()
    await seed_previous(redis_client, fleet, "rv-000")
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan_doc("move", [tenant_doc("rv-000"), tenant_doc("rv-001")])))
    assert (await cli("run", str(plan_file))).code == 0
    assert await version_in_redis(redis_client, "rv-000") == 20

    reverted = await cli("revert", "--plan", "move", "--tenant", "rv-000", "--reason", "INC-4")
    assert reverted.code == 0, reverted
    assert "plan move-revert-1 puts 1 tenant(s) back" in reverted.stdout
    assert await version_in_redis(redis_client, "rv-000") == 19
    assert set((await reported_versions(fleet, "rv-000")).values()) == {19}
    assert await version_in_redis(redis_client, "rv-001") == 20  # not selected: untouched
    original = await store.get_plan("move")
    assert original is not None
    assert original.status is PlanStatus.COMPLETED  # the original plan is left as it is
    revert_plan = await store.get_plan("move-revert-1")
    assert revert_plan is not None
    assert revert_plan.status is PlanStatus.COMPLETED
    assert revert_plan.reason == "INC-4"
    task = await store.get_task("move-revert-1/rv-000")
    assert task is not None
    assert task.config.plan_version == 19  # the previous config, forward
    assert task.previous is not None
    assert task.previous.plan_version == 20  # what was left: revertible in turn

    # A second revert of the same task is refused: a newer task (the revert) switched it.
    again = await cli("revert", "--plan", "move", "--tenant", "rv-000")
    assert again.code == 4, again
    assert "move-revert-1/rv-000" in again.stderr


async def test_a_half_switched_cancelled_tenant_is_named_and_put_back(
    tmp_path: Path,
    fleet: Fleet,
    redis_client: aioredis.Redis,
    cli_for: Callable[..., Cli],  # noqa: F811
    store: SqliteStore,  # noqa: F811
) -> None:
    cli = cli_for(verify=SLOW_VERIFY)
    await seed_previous(redis_client, fleet, "u-26")
    await fleet.set_faults(fleet.gateways, lag=4.0)  # the gateways take their time
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan_doc("cut", [tenant_doc("u-26")])))
    run = await cli.start("run", str(plan_file))
    await _task_at(store, "u-26", "blue-green-gateway")  # ASBC and portal are switched
    cancelled = await cli("cancel", "--tenant", "u-26")
    assert cancelled.code == 0, cancelled
    assert "partly switched" in cancelled.stdout
    assert "switchover revert --plan cut --tenant u-26" in cancelled.stdout
    await run.finish()
    task = await store.get_task("cut/u-26")
    assert task is not None
    assert task.status is TaskStatus.CANCELLED
    assert task.checkpoint is not None
    assert "portal" in task.checkpoint.completed
    await fleet.set_faults(fleet.gateways, lag=0.0)
    fleet.portal.clear_calls()
    fleet.asbc.clear_calls()

    reverted = await cli("revert", "--plan", "cut", "--status", "CANCELLED")
    assert reverted.code == 0, reverted
    assert await version_in_redis(redis_client, "u-26") == 19
    assert set((await reported_versions(fleet, "u-26")).values()) == {19}
    assert fleet.portal.calls  # the portal was told of the unit it is back on
    assert fleet.asbc.calls
