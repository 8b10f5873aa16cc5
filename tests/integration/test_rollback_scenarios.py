"""The seed's rollback acceptance scenarios (SPEC §7 a–d) against a real Redis and the fleet."""

from __future__ import annotations

import asyncio
import re

import pytest
import redis.asyncio as aioredis

from switchover.domain.events import Event, EventType
from switchover.domain.records import Plan, Target
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ErrorType, OperationRefusedError
from switchover.fleet.fleet import Fleet
from tests.integration.conftest import (
    BG_FIELD,
    KEY_PREFIX,
    OB_FIELD,
    Harness,
    StartEngine,
    Subscriber,
    assert_gapless,
    bg_gateway_bytes,
    eventually,
    message_pattern,
    ob_campaign_pattern,
    plan_spec,
    redis_dump,
    reported_versions,
    seed_previous,
    tenant_doc,
)

pytestmark = pytest.mark.integration

ALL_STAGES = ["asbc-gateway", "portal", "blue-green-gateway", "ob-service"]
VERIFY = {
    "interval": 0.05,
    "max_attempts": 4,
    "rollback_interval": 0.05,
    "rollback_max_attempts": 3,
}


async def fail_forward(harness: Harness, fleet: Fleet, plan_id: str, tenant: str) -> Plan:
    """Run a plan of ``t-fine`` and ``tenant``; the OB instances ignore ``tenant``'s update, so
    it is left half-switched (v20 in Redis and on the gateways) and FAILED. Returns the plan."""
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[tenant])
    docs = [tenant_doc(f"{plan_id}-fine"), tenant_doc(tenant)]
    plan = await harness.run_plan(plan_spec(plan_id, docs))
    assert plan.status is PlanStatus.FAILED
    task = await harness.task(tenant)
    assert task.status is TaskStatus.FAILED
    assert task.failure is not None
    assert task.failure.error_type is ErrorType.HEALTH_CHECK_FAILED
    assert task.failure.stage == "ob-service"
    assert set((await reported_versions(fleet, tenant, gateways_only=True)).values()) == {20}
    return plan


async def roll_back(harness: Harness, tenant: str, version: int | None = None) -> list[Event]:
    """Roll the tenant back, wait for the outcome; the events the rollback produced."""
    plan_id = (await harness.task(tenant)).plan_id
    since = (await harness.events(plan_id))[-1].seq
    accepted = await harness.engine.rollback(Target.tenant(tenant), version=version)
    assert accepted.task_ids == ((await harness.task(tenant)).task_id,)
    await harness.settle()
    events = await harness.events(plan_id)
    assert_gapless(events)
    audit, *produced = [e for e in events if e.seq > since]
    # First the audit record of the command, then what the rollback did.
    assert audit.type.value == "OperationAccepted"
    assert audit.data["operation"] == "rollback"
    assert audit.task_id == accepted.task_ids[0]
    return produced


def assert_no_plan_events(events: list[Event]) -> None:
    """A rollback never produces a plan event."""
    assert [e.type for e in events if e.task_id is None] == []


async def test_a_rollback_restores_v19_in_redis_pubsub_and_on_every_instance(
    fleet: Fleet,
    start_engine: StartEngine,
    subscriber: Subscriber,
    redis_client: aioredis.Redis,
) -> None:
    """(a) FAILED at v20 → fault fixed → rollback → ROLLED_BACK; everything shows v19."""
    harness = await start_engine(verify=VERIFY)
    await seed_previous(redis_client, fleet, "t-back")
    plan = await fail_forward(harness, fleet, "rb-a", "t-back")
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[])
    heard = len(subscriber.of("t-back"))
    fleet.portal.clear_calls()
    fleet.asbc.clear_calls()

    events = await roll_back(harness, "t-back")

    task = await harness.task("t-back")
    assert task.status is TaskStatus.ROLLED_BACK
    assert task.mode is ExecutionMode.ROLLBACK
    assert task.failure is None
    assert await harness.plan("rb-a") == plan, "the rollback changed the plan"
    assert_no_plan_events(events)
    assert [(e.type.value, e.stage) for e in events] == [
        ("TaskRollingBack", None),
        *[(kind, stage) for stage in ALL_STAGES for kind in ("StageStarted", "StageCompleted")],
        ("TaskRolledBack", None),
    ]
    assert events[0].data["version"] == 19
    assert events[0].data["previous_status"] == "FAILED"
    assert events[-1].data["version"] == 19

    # Redis holds the previous config's content; the unit being left is the source.
    stored = await redis_client.hgetall(KEY_PREFIX + "t-back")
    assert set(stored) == {BG_FIELD, OB_FIELD, "metadata"}
    assert stored["metadata"] == '{"version":19}'
    assert stored[BG_FIELD] == bg_gateway_bytes(
        "t-back", "green", "blue", [("t-back-web", "t-back.example.com", "192.0.2.10")]
    )
    assert re.match(ob_campaign_pattern("t-back", "green", "blue"), stored[OB_FIELD])

    # The notifications published during the rollback carry version 19.
    for app in (BG_FIELD, OB_FIELD):
        messages = (await subscriber.wait_for("t-back", app, 1))[-1:]
        assert re.match(message_pattern("t-back", app, 19), messages[0]), messages
    assert len(subscriber.of("t-back")) == heard + 2

    versions = await reported_versions(fleet, "t-back")
    assert set(versions.values()) == {19}, versions

    # The HTTP stages ran again with the previous config.
    assert fleet.asbc.calls == [
        {"calledNumberMatch": ["4001*", "4002*"], "targetTrunkGroupName": "tg-blue"}
    ]
    assert [c["targetDeployUnit"] for c in fleet.portal.calls] == ["blue"]
    assert harness.engine.metrics["rollback_success"] == 1


async def test_b_rollback_verify_never_matching_is_rollback_health_check_failed(
    fleet: Fleet, start_engine: StartEngine
) -> None:
    """(b) Gateways stuck at v20: ROLLBACK_HEALTH_CHECK_FAILED after rollback_max_attempts."""
    harness = await start_engine(verify=VERIFY)
    plan = await fail_forward(harness, fleet, "rb-b", "t-stuck")
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[])
    await fleet.set_faults(fleet.gateways, stale=True)
    asked_before = {g.address: g.requests for g in fleet.gateways}

    events = await roll_back(harness, "t-stuck")

    task = await harness.task("t-stuck")
    assert task.status is TaskStatus.ROLLBACK_FAILED
    failure = task.failure
    assert failure is not None
    assert failure.error_type is ErrorType.ROLLBACK_HEALTH_CHECK_FAILED
    assert failure.stage == "blue-green-gateway"
    assert failure.details["stages"] == [
        {"stage": "asbc-gateway", "status": "succeeded"},
        {"stage": "portal", "status": "succeeded"},
        {"stage": "blue-green-gateway", "status": "failed"},
        {"stage": "ob-service", "status": "not_run"},
    ]
    cause = failure.details["cause"]
    assert cause["error_type"] == "HEALTH_CHECK_FAILED"
    assert cause["details"]["attempts"] == VERIFY["rollback_max_attempts"]
    assert cause["details"]["expected_version"] == 19
    assert {i["last_reported"] for i in cause["details"]["instances"]} == {"20"}
    asked = {g.address: g.requests - asked_before[g.address] for g in fleet.gateways}
    assert set(asked.values()) == {VERIFY["rollback_max_attempts"]}
    assert [e.type for e in events][-2:] == [EventType.STAGE_FAILED, EventType.TASK_ROLLBACK_FAILED]
    assert events[-1].failure == failure
    assert_no_plan_events(events)
    assert await harness.plan("rb-b") == plan
    assert harness.engine.metrics["rollback_failed"] == 1

    # Retrying a ROLLBACK_FAILED task re-runs the rollback.
    await fleet.set_faults(fleet.gateways, stale=False)
    await harness.engine.retry(Target.tenant("t-stuck"))
    await harness.settle()
    assert (await harness.task("t-stuck")).status is TaskStatus.ROLLED_BACK
    assert set((await reported_versions(fleet, "t-stuck")).values()) == {19}
    assert await harness.plan("rb-b") == plan


async def test_c_rollback_without_previous_config_is_refused_and_changes_nothing(
    fleet: Fleet,
    start_engine: StartEngine,
    subscriber: Subscriber,
    redis_client: aioredis.Redis,
) -> None:
    """(c) No previous config: ROLLBACK_PRECONDITION_FAILED; events, task, Redis untouched."""
    harness = await start_engine(verify=VERIFY)
    await fleet.set_faults(fleet.ob_instances, stale_tenants=["t-bare"])
    docs = [tenant_doc("t-done"), tenant_doc("t-bare", previous=False)]
    plan = await harness.run_plan(plan_spec("rb-c", docs))
    assert (await harness.task("t-bare")).status is TaskStatus.FAILED
    assert (await harness.task("t-done")).status is TaskStatus.COMPLETED

    for tenant, reason in (("t-bare", "no previous config"), ("t-done", "is COMPLETED")):
        events = await harness.events("rb-c")
        task = await harness.task(tenant)
        stored = await redis_dump(redis_client)
        heard = list(subscriber.messages)
        calls = (len(fleet.portal.calls), len(fleet.asbc.calls))

        with pytest.raises(OperationRefusedError) as refused:
            await harness.engine.rollback(Target.tenant(tenant))

        assert refused.value.error_type is ErrorType.ROLLBACK_PRECONDITION_FAILED
        assert reason in str(refused.value)
        assert not harness.engine.is_busy()
        await asyncio.sleep(0.2)  # anything started by mistake would show by now
        assert await harness.events("rb-c") == events
        assert await harness.task(tenant) == task
        assert await redis_dump(redis_client) == stored
        assert subscriber.messages == heard
        assert (len(fleet.portal.calls), len(fleet.asbc.calls)) == calls
    assert await harness.plan("rb-c") == plan


async def test_d_stage_failing_midway_is_rollback_partial_failed_and_a_second_rollback_succeeds(
    fleet: Fleet, start_engine: StartEngine, redis_client: aioredis.Redis
) -> None:
    """(d) Portal refusing mid-rollback: ROLLBACK_PARTIAL_FAILED per stage; then ROLLED_BACK."""
    harness = await start_engine(verify=VERIFY)
    plan = await fail_forward(harness, fleet, "rb-d", "t-part")
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[])
    await fleet.set_faults([fleet.portal], reject_code="E5000")

    events = await roll_back(harness, "t-part")

    task = await harness.task("t-part")
    assert task.status is TaskStatus.ROLLBACK_FAILED
    failure = task.failure
    assert failure is not None
    assert failure.error_type is ErrorType.ROLLBACK_PARTIAL_FAILED
    assert failure.stage == "portal"
    assert failure.details["stages"] == [
        {"stage": "asbc-gateway", "status": "succeeded"},
        {"stage": "portal", "status": "failed"},
        {"stage": "blue-green-gateway", "status": "not_run"},
        {"stage": "ob-service", "status": "not_run"},
    ]
    assert failure.details["cause"]["error_type"] == "BUSINESS_ERROR"
    assert "E5000" in failure.details["cause"]["message"]
    assert "E5000" in failure.message
    assert_no_plan_events(events)
    assert await harness.plan("rb-d") == plan
    # The stages after the failed one did not run: Redis still has the new config.
    assert (await redis_client.hgetall(KEY_PREFIX + "t-part"))["metadata"] == '{"version":20}'

    await fleet.set_faults([fleet.portal], reject_code=None)
    events = await roll_back(harness, "t-part")

    assert (await harness.task("t-part")).status is TaskStatus.ROLLED_BACK
    assert events[0].type is EventType.TASK_ROLLING_BACK
    assert events[0].data["previous_status"] == "ROLLBACK_FAILED"
    assert [e.stage for e in events if e.type is EventType.STAGE_COMPLETED] == ALL_STAGES
    assert_no_plan_events(events)
    assert await harness.plan("rb-d") == plan
    assert (await redis_client.hgetall(KEY_PREFIX + "t-part"))["metadata"] == '{"version":19}'
    assert set((await reported_versions(fleet, "t-part")).values()) == {19}


async def test_rollback_with_an_explicit_version_writes_and_verifies_that_version(
    fleet: Fleet,
    start_engine: StartEngine,
    subscriber: Subscriber,
    redis_client: aioredis.Redis,
) -> None:
    """rollback(version=21): the previous content with metadata.version 21, seen everywhere."""
    harness = await start_engine(verify=VERIFY)
    plan = await fail_forward(harness, fleet, "rb-v", "t-v21")
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[])

    events = await roll_back(harness, "t-v21", version=21)

    task = await harness.task("t-v21")
    assert task.status is TaskStatus.ROLLED_BACK
    assert task.run_version == 21
    assert events[0].data["version"] == 21
    assert events[-1].type is EventType.TASK_ROLLED_BACK
    assert events[-1].data["version"] == 21
    stored = await redis_client.hgetall(KEY_PREFIX + "t-v21")
    assert stored["metadata"] == '{"version":21}'
    assert stored[BG_FIELD] == bg_gateway_bytes(
        "t-v21", "green", "blue", [("t-v21-web", "t-v21.example.com", "192.0.2.10")]
    )
    for app in (BG_FIELD, OB_FIELD):
        last = (await subscriber.wait_for("t-v21", app, 2))[-1]
        assert re.match(message_pattern("t-v21", app, 21), last), last
    assert set((await reported_versions(fleet, "t-v21")).values()) == {21}
    assert await harness.plan("rb-v") == plan


async def test_rollback_of_a_paused_task_restores_v19_and_leaves_the_plan_as_it_was(
    fleet: Fleet, start_engine: StartEngine, redis_client: aioredis.Redis
) -> None:
    """A task paused after blue-green-gateway rolls back from PAUSED; the plan stays PAUSED."""
    harness = await start_engine(verify={"interval": 0.05, "max_attempts": 200})
    await fleet.set_faults(fleet.gateways, down=True)  # hold the task in its verify
    await harness.engine.submit_plan(plan_spec("rb-p", [tenant_doc("t-pause")]))

    async def verifying() -> bool:
        return (await harness.task("t-pause")).current_stage == "blue-green-gateway"

    await eventually(verifying)
    await harness.engine.pause(Target.tenant("t-pause"))
    await fleet.set_faults(fleet.gateways, down=False)
    await harness.settle()
    task = await harness.task("t-pause")
    assert task.status is TaskStatus.PAUSED
    assert task.checkpoint is not None
    assert task.checkpoint.completed == ("asbc-gateway", "portal", "blue-green-gateway")
    plan = await harness.plan("rb-p")
    assert plan.status is PlanStatus.PAUSED

    events = await roll_back(harness, "t-pause")

    assert (await harness.task("t-pause")).status is TaskStatus.ROLLED_BACK
    assert events[0].data["previous_status"] == "PAUSED"
    assert [e.stage for e in events if e.type is EventType.STAGE_COMPLETED] == ALL_STAGES
    assert_no_plan_events(events)
    assert await harness.plan("rb-p") == plan
    assert (await redis_client.hgetall(KEY_PREFIX + "t-pause"))["metadata"] == '{"version":19}'
    assert set((await reported_versions(fleet, "t-pause")).values()) == {19}
