"""Failures against the real services: lagging and stale instances, refusals, discovery, Redis."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from switchover.domain.events import EventType
from switchover.domain.records import Target
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.errors import ErrorType
from switchover.fleet.fleet import Fleet
from switchover.fleet.instances import REJECT_MESSAGE
from switchover.fleet.nacos import NacosInstance, NacosServer
from switchover.fleet.redis_server import RedisServer
from switchover.settings import Settings
from switchover.stores import codec
from tests.integration import agent_gate
from tests.integration.conftest import (
    ASBC_TOKEN,
    KEY_PREFIX,
    NAMESPACE,
    WAIT,
    StartEngine,
    assert_gapless,
    make_fleet,
    plan_spec,
    redis_dump,
    reported_versions,
    running_engine,
    seed_previous,
    settings_values,
    tenant_doc,
)

pytestmark = pytest.mark.integration


# ----------------------------------------------------------------------------- verify


async def test_lagging_gateway_catches_up_within_the_verify_window_and_the_task_completes(
    fleet: Fleet, start_engine: StartEngine, redis_client: aioredis.Redis
) -> None:
    """A gateway applying the update 0.4 s late is polled again until it matches: COMPLETED."""
    await seed_previous(redis_client, fleet, "t-lag")
    lagging = fleet.gateways[0]
    await fleet.set_faults([lagging], lag=0.4)
    asked_before = {g.address: g.requests for g in fleet.gateways}
    harness = await start_engine(verify={"interval": 0.05, "max_attempts": 40})

    plan = await harness.run_plan(plan_spec("lag", [tenant_doc("t-lag", asbc=False, unit=False)]))

    assert plan.status is PlanStatus.COMPLETED
    assert (await harness.task("t-lag")).status is TaskStatus.COMPLETED
    asked = {g.address: g.requests - asked_before[g.address] for g in fleet.gateways}
    assert asked[lagging.address] > 1, "the lagging gateway was not asked again"
    shown = await reported_versions(fleet, "t-lag", gateways_only=True)
    assert set(shown.values()) == {20}


async def test_always_stale_gateway_fails_the_task_listing_what_each_instance_reported(
    fleet: Fleet, start_engine: StartEngine, redis_client: aioredis.Redis
) -> None:
    """HEALTH_CHECK_FAILED lists every instance with its last answer; the stale one unmatched."""
    await seed_previous(redis_client, fleet, "t-stale")
    stale = fleet.gateways[1]
    await fleet.set_faults([stale], stale=True)
    harness = await start_engine(verify={"interval": 0.05, "max_attempts": 4})

    plan = await harness.run_plan(
        plan_spec("stale", [tenant_doc("t-stale", asbc=False, unit=False)])
    )

    assert plan.status is PlanStatus.FAILED
    task = await harness.task("t-stale")
    assert task.status is TaskStatus.FAILED
    failure = task.failure
    assert failure is not None
    assert failure.error_type is ErrorType.HEALTH_CHECK_FAILED
    assert (failure.stage, failure.step) == ("blue-green-gateway", "config-push")
    assert stale.address in failure.message
    assert failure.details["attempts"] == 4
    assert failure.details["expected_version"] == 20
    assert failure.details["unmatched"] == 1
    reported = {i["instance"]: i for i in failure.details["instances"]}
    assert set(reported) == {g.address for g in fleet.gateways}
    assert reported[stale.address] == {
        "instance": stale.address,
        "last_reported": "19",
        "matched": False,
    }
    for gateway in fleet.gateways:
        if gateway is not stale:
            assert reported[gateway.address]["matched"] is True
            assert reported[gateway.address]["last_reported"] == "20"
    events = await harness.events("stale")
    assert_gapless(events)
    failed = [e for e in events if e.type is EventType.TASK_FAILED]
    assert len(failed) == 1
    assert failed[0].failure == failure


@pytest.mark.parametrize(
    ("fault", "answer"),
    [({"down": True}, "NETWORK_ERROR: "), ({"slow": 1.0}, "TIMEOUT_ERROR: ")],
    ids=["down", "slower-than-read-timeout"],
)
async def test_unreachable_gateway_counts_as_not_yet_and_is_listed_with_its_error(
    fleet: Fleet, start_engine: StartEngine, fault: dict[str, object], answer: str
) -> None:
    """A gateway refusing connections or timing out never matches; the failure says why."""
    broken = fleet.gateways[0]
    await fleet.set_faults([broken], **fault)
    harness = await start_engine(
        verify={"interval": 0.05, "max_attempts": 3}, http={"read_timeout": 0.3}
    )

    await harness.run_plan(plan_spec("unreachable", [tenant_doc("t-un", asbc=False, unit=False)]))

    failure = (await harness.task("t-un")).failure
    assert failure is not None
    assert failure.error_type is ErrorType.HEALTH_CHECK_FAILED
    reported = {i["instance"]: i for i in failure.details["instances"]}
    assert reported[broken.address]["matched"] is False
    assert reported[broken.address]["last_reported"].startswith(answer)
    assert [i["matched"] for i in failure.details["instances"]].count(True) == 2


async def test_verify_deadline_bounds_the_polling_of_a_stale_gateway(
    fleet: Fleet, start_engine: StartEngine
) -> None:
    """With many attempts allowed, verify still gives up at verify.deadline and says so."""
    await fleet.set_faults([fleet.gateways[0]], stale=True)
    harness = await start_engine(verify={"interval": 0.05, "max_attempts": 1000, "deadline": 0.3})

    await harness.run_plan(plan_spec("deadline", [tenant_doc("t-dl", asbc=False, unit=False)]))

    failure = (await harness.task("t-dl")).failure
    assert failure is not None
    assert failure.error_type is ErrorType.HEALTH_CHECK_FAILED
    assert failure.details["deadline_reached"] is True
    assert failure.details["attempts"] < 1000
    assert "verify deadline reached" in failure.message


# ----------------------------------------------------------------------------- HTTP refusals


async def test_portal_reject_code_fails_the_task_with_business_error_naming_the_code(
    fleet: Fleet, start_engine: StartEngine, redis_client: aioredis.Redis
) -> None:
    """The portal answering code E4031 fails the portal stage; later stages never touch Redis."""
    await fleet.set_faults([fleet.portal], reject_code="E4031")
    harness = await start_engine()

    plan = await harness.run_plan(plan_spec("portal-no", [tenant_doc("t-portal", asbc=False)]))

    assert plan.status is PlanStatus.FAILED
    task = await harness.task("t-portal")
    assert task.status is TaskStatus.FAILED
    failure = task.failure
    assert failure is not None
    assert failure.error_type is ErrorType.BUSINESS_ERROR
    assert (failure.stage, failure.step) == ("portal", "portal-notify")
    assert "E4031" in failure.message
    assert failure.details["code"] == "E4031"
    assert failure.details["message"] == REJECT_MESSAGE
    assert len(fleet.portal.calls) == 1
    assert await redis_dump(redis_client) == {}


async def test_portal_down_is_retried_with_backoff_then_fails_with_network_error(
    fleet: Fleet, start_engine: StartEngine
) -> None:
    """Connection refused is transient: three retries, then NETWORK_ERROR naming the attempts."""
    await fleet.set_faults([fleet.portal], down=True)
    harness = await start_engine()

    await harness.run_plan(plan_spec("portal-down", [tenant_doc("t-pd", asbc=False)]))

    failure = (await harness.task("t-pd")).failure
    assert failure is not None
    assert failure.error_type is ErrorType.NETWORK_ERROR
    assert (failure.stage, failure.step) == ("portal", "portal-notify")
    assert failure.retryable is True
    assert failure.details["attempts"] == 4
    assert fleet.portal.address in failure.message


async def test_asbc_reject_fails_the_task_listing_every_failed_number_and_its_message(
    fleet: Fleet, start_engine: StartEngine
) -> None:
    """Every number in the ASBC's failList is named, with its message, in message and details."""
    await fleet.set_faults([fleet.asbc], reject_code="1")
    harness = await start_engine()
    doc = tenant_doc("t-asbc") | {"calledNumberRules": "4001*, 4002*, 6001001"}

    await harness.run_plan(plan_spec("asbc-no", [doc]))

    task = await harness.task("t-asbc")
    assert task.status is TaskStatus.FAILED
    failure = task.failure
    assert failure is not None
    assert failure.error_type is ErrorType.BUSINESS_ERROR
    assert failure.stage == "asbc-gateway"
    numbers = ["4001*", "4002*", "6001001"]
    assert failure.details["failed"] == [{"number": n, "message": REJECT_MESSAGE} for n in numbers]
    for number in numbers:
        assert f"{number}: {REJECT_MESSAGE}" in failure.message
    assert "3 failed number(s)" in failure.message
    assert fleet.portal.calls == [], "stages after the failed one ran"


async def test_asbc_refuses_a_wrong_bearer_token_and_the_token_is_never_shown(
    fleet: Fleet, start_engine: StartEngine
) -> None:
    """HTTP 401 from the ASBC fails the task; the configured token appears in no failure/event."""
    wrong = "wrong-token-0e9b"
    harness = await start_engine(asbc={"token": wrong})

    await harness.run_plan(plan_spec("asbc-auth", [tenant_doc("t-auth")]))

    task = await harness.task("t-auth")
    assert task.status is TaskStatus.FAILED
    assert task.failure is not None
    assert task.failure.stage == "asbc-gateway"
    assert "HTTP 401" in task.failure.message
    assert fleet.asbc.calls == []
    text = json.dumps([codec.event_to_dict(e) for e in await harness.events("asbc-auth")])
    assert wrong not in text
    assert ASBC_TOKEN not in text


# ----------------------------------------------------------------------------- discovery


@pytest.mark.parametrize("outage", ["failing", "stopped"])
async def test_nacos_outage_falls_back_to_the_static_instances_and_the_task_completes(
    fleet: Fleet, start_engine: StartEngine, outage: str
) -> None:
    """Nacos answering 500 (or not listening) means discovery.fallback_instances are used."""
    nacos = NacosServer({NAMESPACE: {"icc-bg-gateway": [fleet.gateways[0].address]}})
    await nacos.start()
    try:
        if outage == "failing":
            nacos.failing = True
        else:
            await nacos.stop()
        harness = await start_engine(nacos={"enabled": True, "server_addr": nacos.server_addr})

        plan = await harness.run_plan(plan_spec("nacos-down", [tenant_doc("t-nacos")]))
    finally:
        await nacos.stop()

    assert plan.status is PlanStatus.COMPLETED
    if outage == "failing":
        asked = {r.query.get("serviceName") for r in nacos.requests}
        assert asked == {"asbc", "icc-agent-portal", "icc-bg-gateway", "ob-campaign"}
    # Every static gateway was verified, not just the one Nacos would have named.
    assert set((await reported_versions(fleet, "t-nacos")).values()) == {20}
    assert all(g.requests > 0 for g in fleet.gateways)


async def test_nacos_instances_are_used_when_nacos_answers(
    fleet: Fleet, start_engine: StartEngine
) -> None:
    """Only the healthy instances Nacos lists in the tenant's namespace are called."""
    left_out = fleet.gateways[2]
    await fleet.set_faults([left_out], stale=True)  # would fail verify if it were asked
    registry = {
        NAMESPACE: {
            "icc-bg-gateway": [
                fleet.gateways[0].address,
                fleet.gateways[1].address,
                NacosInstance("127.0.0.1", left_out.port, healthy=False),
            ],
            "ob-campaign": [i.address for i in fleet.ob_instances],
            "icc-agent-portal": [fleet.portal.address],
            "asbc": [fleet.asbc.address],
        },
        "other-namespace": {"icc-bg-gateway": [left_out.address]},
    }
    nacos = NacosServer(registry, username="nacos-user", password="nacos-pass-31f")
    await nacos.start()
    try:
        harness = await start_engine(
            nacos={
                "enabled": True,
                "server_addr": nacos.server_addr,
                "username": "nacos-user",
                "password": "nacos-pass-31f",
            }
        )
        plan = await harness.run_plan(plan_spec("nacos-up", [tenant_doc("t-nacos")]))
    finally:
        await nacos.stop()

    assert plan.status is PlanStatus.COMPLETED
    assert left_out.requests == 0
    assert all(g.requests > 0 for g in fleet.gateways[:2])
    assert [r.path for r in nacos.requests].count("/nacos/v1/auth/login") >= 1
    lists = [r.query for r in nacos.requests if r.method == "GET"]
    assert {q["serviceName"] for q in lists} == {
        "asbc",
        "icc-agent-portal",
        "icc-bg-gateway",
        "ob-campaign",
    }
    assert {(q["namespaceId"], q["groupName"], q["healthyOnly"]) for q in lists} == {
        (NAMESPACE, "DEFAULT_GROUP", "true")
    }
    text = json.dumps([codec.event_to_dict(e) for e in await harness.events("nacos-up")])
    assert "nacos-pass-31f" not in text


async def test_health_check_keeps_only_the_instances_whose_health_reports_up(
    fleet: Fleet, start_engine: StartEngine
) -> None:
    """discovery.health_check drops an instance answering DOWN on /actuator/health."""
    sick = fleet.gateways[2]
    await fleet.set_faults([sick], unhealthy=True, stale=True)  # verify would fail if asked
    harness = await start_engine(discovery={"health_check": True})

    plan = await harness.run_plan(plan_spec("health", [tenant_doc("t-health")]))

    assert plan.status is PlanStatus.COMPLETED
    assert sick.requests >= 1, "the sick gateway's health was never asked"


async def test_no_instance_anywhere_fails_with_service_unavailable_naming_the_service(
    fleet: Fleet, start_engine: StartEngine
) -> None:
    """No Nacos and no static gateway: SERVICE_UNAVAILABLE that names the service key."""
    harness = await start_engine(discovery={"fallback_instances": {"blueGreenGatewayService": []}})

    await harness.run_plan(plan_spec("nobody", [tenant_doc("t-none", asbc=False, unit=False)]))

    failure = (await harness.task("t-none")).failure
    assert failure is not None
    assert failure.error_type is ErrorType.SERVICE_UNAVAILABLE
    assert failure.stage == "blue-green-gateway"
    assert "blueGreenGatewayService" in failure.message


# ----------------------------------------------------------------------------- Redis outage


async def _require_password(server: RedisServer, password: str) -> None:
    client = aioredis.Redis.from_url(server.url)
    try:
        await client.config_set("requirepass", password)
    finally:
        await client.aclose()


async def test_redis_outage_mid_plan_fails_the_task_clearly_and_a_retry_from_checkpoint_completes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Redis down at the OB push fails it naming redis; retry from checkpoint runs only it."""
    password = "redis-pw-8c2e41"
    await _require_password(redis_server, password)
    url = f"redis://:{password}@127.0.0.1:{redis_server.port}/0"
    gate = agent_gate.hold("t-outage")
    async with make_fleet(url) as fleet:
        values = settings_values(
            tmp_path / "switchover.db",
            url,
            fleet,
            agent={"check": agent_gate.CHECK},
            verify={"max_attempts": 60},
        )
        async with running_engine(Settings.of(**values)) as harness:
            await harness.engine.submit_plan(plan_spec("outage", [tenant_doc("t-outage")]))
            async with asyncio.timeout(WAIT):
                await gate.reached.wait()  # blue-green-gateway is done; ob-service has begun
            await asyncio.to_thread(redis_server.stop)
            gate.opened.set()
            await harness.settle()

            task = await harness.task("t-outage")
            assert task.status is TaskStatus.FAILED
            failure = task.failure
            assert failure is not None
            assert failure.error_type is ErrorType.SERVICE_UNAVAILABLE
            assert (failure.stage, failure.step) == ("ob-service", "config-push")
            assert failure.message.startswith("redis unavailable: HSET+PUBLISH (fenced) failed")
            assert failure.retryable is True
            assert failure.details["attempts"] == 4  # the first try and three retries
            assert task.checkpoint is not None
            done_before = ("asbc-gateway", "portal", "blue-green-gateway")
            assert task.checkpoint.completed == done_before
            outage_seq = (await harness.events("outage"))[-1].seq

            await asyncio.to_thread(redis_server.start)
            await _require_password(redis_server, password)
            await harness.engine.retry(Target.tenant("t-outage"), from_checkpoint=True)
            await harness.settle()

            task = await harness.task("t-outage")
            assert task.status is TaskStatus.COMPLETED, task.failure
            assert task.retry_count == 1
            events = await harness.events("outage")
            assert_gapless(events)
            after = [e for e in events if e.seq > outage_seq]
            retried = [e for e in after if e.type is EventType.TASK_RETRY_STARTED]
            assert len(retried) == 1
            assert retried[0].data["from_checkpoint"] is True
            assert retried[0].data["start_stage"] == 3
            completed = [e.stage for e in events if e.type is EventType.STAGE_COMPLETED]
            assert completed == [*done_before, "ob-service"]
            assert [e.stage for e in after if e.type is EventType.STAGE_STARTED] == ["ob-service"]
            assert Counter(completed).most_common(1)[0][1] == 1
            assert (await harness.plan("outage")).status is PlanStatus.COMPLETED

            text = json.dumps([codec.event_to_dict(e) for e in events])
            assert password not in text
            assert "redis unavailable" in text

            client = aioredis.Redis.from_url(url, decode_responses=True)
            try:
                stored = await client.hgetall(KEY_PREFIX + "t-outage")
            finally:
                await client.aclose()
            # The restarted Redis lost the earlier fields; the retried stage wrote its own.
            assert set(stored) == {"ob-campaign", "metadata"}
            assert stored["metadata"] == '{"version":20}'
            versions = await reported_versions(fleet, "t-outage")
            assert set(versions.values()) == {20}, versions


async def test_ob_stage_without_an_agent_check_warns_and_still_switches(
    fleet: Fleet, start_engine: StartEngine, redis_client: aioredis.Redis
) -> None:
    """No agent check configured: a StepWarning is recorded and the OB stage completes."""
    await seed_previous(redis_client, fleet, "t-noagent")
    harness = await start_engine(agent={"check": None})

    plan = await harness.run_plan(plan_spec("noagent", [tenant_doc("t-noagent", asbc=False)]))

    assert plan.status is PlanStatus.COMPLETED
    warnings = [e for e in await harness.events("noagent") if e.type is EventType.STEP_WARNING]
    assert len(warnings) == 1
    assert warnings[0].stage == "ob-service"
    assert "not configured" in warnings[0].data["message"]
    shown = await reported_versions(fleet, "t-noagent")
    assert set(shown.values()) == {20}
