"""Guarded rollback and retry: never write an old config over a newer task's work, nor onto
a tenant something else has moved (drift), unless forced. Real Redis and the fleet."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from switchover.domain.planfile import parse_plan_text
from switchover.domain.records import Target
from switchover.domain.status import TaskStatus
from switchover.errors import ErrorType, OperationRefusedError
from switchover.fleet.fleet import Fleet
from tests.integration.conftest import (
    KEY_PREFIX,
    Harness,
    StartEngine,
    plan_doc,
    tenant_doc,
)

pytestmark = pytest.mark.integration

VERIFY = {"interval": 0.05, "max_attempts": 4, "rollback_interval": 0.05}


async def failed_task(harness: Harness, fleet: Fleet, plan_id: str, tenant: str) -> None:
    """``tenant`` FAILED in ``plan_id`` (v20 half-written: the OB instances ignored it)."""
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[tenant])
    await harness.run_plan(parse_plan_text(json.dumps(plan_doc(plan_id, [tenant_doc(tenant)]))))
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[])
    assert (await harness.task(tenant)).status is TaskStatus.FAILED


async def version_in_redis(client: aioredis.Redis, tenant: str) -> int:
    raw = await client.hget(f"{KEY_PREFIX}{tenant}", "metadata")
    return int(json.loads(raw)["version"])


async def test_a_rollback_of_a_superseded_task_is_refused_unless_forced(
    start_engine: StartEngine, fleet: Fleet, redis_client: aioredis.Redis
) -> None:
    """The reproduction: rolling back an old FAILED task of rt-000 after a newer plan had
    moved the tenant to v22 silently wrote v19 back."""
    harness = await start_engine(verify=VERIFY)
    await failed_task(harness, fleet, "old", "rt-000")
    newer = plan_doc("newer", [tenant_doc("rt-000")])
    newer["plan"]["version"] = 22
    await harness.run_plan(parse_plan_text(json.dumps(newer)))
    assert await version_in_redis(redis_client, "rt-000") == 22

    for command in (
        harness.engine.rollback(Target.task("old/rt-000")),
        harness.engine.retry(Target.task("old/rt-000")),
    ):
        with pytest.raises(OperationRefusedError) as refused:
            await command
        assert "switched by task newer/rt-000" in str(refused.value)
        assert "--force" in str(refused.value)
    assert await version_in_redis(redis_client, "rt-000") == 22  # nothing was written
    assert (await harness.engine.get_task("old/rt-000")).status is TaskStatus.FAILED

    await harness.engine.rollback(Target.task("old/rt-000"), force=True)
    await harness.settle()
    assert (await harness.engine.get_task("old/rt-000")).status is TaskStatus.ROLLED_BACK
    assert await version_in_redis(redis_client, "rt-000") == 19


async def test_a_rollback_onto_a_drifted_tenant_is_refused_unless_forced(
    start_engine: StartEngine, fleet: Fleet, redis_client: aioredis.Redis
) -> None:
    harness = await start_engine(verify=VERIFY)
    await failed_task(harness, fleet, "drift", "dr-001")
    key = f"{KEY_PREFIX}dr-001"
    await redis_client.hset(key, "metadata", '{"version":31}')  # someone else moved it

    with pytest.raises(OperationRefusedError) as refused:
        await harness.engine.rollback(Target.tenant("dr-001"))
    assert refused.value.error_type is ErrorType.ROLLBACK_PRECONDITION_FAILED
    assert "holds version 31" in str(refused.value)
    assert "drift" in str(refused.value)
    assert await redis_client.hget(key, "metadata") == '{"version":31}'

    await harness.engine.rollback(Target.tenant("dr-001"), force=True)
    await harness.settle()
    assert (await harness.task("dr-001")).status is TaskStatus.ROLLED_BACK
    assert await version_in_redis(redis_client, "dr-001") == 19


async def test_an_unmoved_failed_tenant_rolls_back_without_force(
    start_engine: StartEngine, fleet: Fleet, redis_client: aioredis.Redis
) -> None:
    harness = await start_engine(verify=VERIFY)
    await failed_task(harness, fleet, "plain", "pl-002")
    assert await version_in_redis(redis_client, "pl-002") == 20  # the task's own version
    await harness.engine.rollback(Target.tenant("pl-002"))
    await harness.settle()
    assert (await harness.task("pl-002")).status is TaskStatus.ROLLED_BACK
