"""A plan over all four stages against a real Redis and the fleet: the exact bytes on every wire."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from typing import Any

import pytest
import redis.asyncio as aioredis

from switchover.domain.events import EventType
from switchover.domain.planfile import parse_plan_text
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.fleet.fleet import Fleet
from tests.integration.conftest import (
    BG_FIELD,
    KEY_PREFIX,
    NAMESPACE,
    OB_FIELD,
    StartEngine,
    Subscriber,
    assert_gapless,
    bg_gateway_bytes,
    message_pattern,
    ob_campaign_pattern,
    plan_doc,
    reported_versions,
)

pytestmark = pytest.mark.integration

PLAN = "full-plan"

TENANT_A: dict[str, Any] = {
    # Every stage: asbc-gateway, portal, blue-green-gateway, ob-service.
    "tenantId": "tenant-a",
    "planId": PLAN,
    "planVersion": 20,
    "deployUnitId": 2,
    "deployUnitVersion": 20,
    "deployUnitName": "green",
    "nacosNameSpace": NAMESPACE,
    "defaultFlag": True,
    "calledNumberRules": " 4001*, 4002* ,, 6001001 ",
    "trunkGroup": "tg-green",
    "networkEndpoints": [
        # domain longer than ip on the source side, ip longer on the target side
        {
            "key": "r1",
            "sourceIp": "10.0.0.1",
            "sourceDomain": "a.blue.internal",
            "targetIp": "198.51.100.200",
            "targetDomain": "a.green",
        },
        # a tie (9 = 9) goes to the domain; a side with only an ip uses it
        {"key": "r2", "sourceIp": "10.0.0.12", "sourceDomain": "api.local", "targetIp": "10.9.8.7"},
        # domains only
        {
            "key": "r3",
            "sourceDomain": "ws.tenant-a.example.com",
            "targetDomain": "ws.green.internal",
        },
    ],
    "sourceTenantDeployConfig": {
        "planVersion": 19,
        "deployUnitId": 1,
        "deployUnitVersion": 19,
        "deployUnitName": "blue",
        "nacosNameSpace": NAMESPACE,
        "calledNumberRules": "4001*,4002*,6001001",
        "trunkGroup": "tg-blue",
        "networkEndpoints": [{"key": "r1", "sourceIp": "10.0.0.1", "targetIp": "192.0.2.1"}],
    },
}
TENANT_A_ROUTES = [
    ("r1", "a.blue.internal", "198.51.100.200"),
    ("r2", "api.local", "10.9.8.7"),
    ("r3", "ws.tenant-a.example.com", "ws.green.internal"),
]

TENANT_B: dict[str, Any] = {
    # portal, blue-green-gateway, ob-service; no previous config, so the source unit is its own.
    "tenantId": "tenant-b",
    "deployUnitName": "green",
    "nacosNameSpace": NAMESPACE,
    "networkEndpoints": [{"key": "b1", "sourceIp": "203.0.113.7", "targetDomain": "b.green"}],
}

TENANT_C: dict[str, Any] = {
    # asbc-gateway only: nothing is written to Redis for it.
    "tenantId": "tenant-c",
    "calledNumberRules": "7001",
    "trunkGroup": "tg-green",
    "sourceTenantDeployConfig": {
        "planVersion": 19,
        "calledNumberRules": "7001",
        "trunkGroup": "tg-blue",
    },
}

STAGES = {
    "tenant-a": ["asbc-gateway", "portal", "blue-green-gateway", "ob-service"],
    "tenant-b": ["portal", "blue-green-gateway", "ob-service"],
    "tenant-c": ["asbc-gateway"],
}


def _plausible(timestamp: str | int, since_ms: int, until_ms: int) -> None:
    value = int(timestamp)
    assert since_ms <= value <= until_ms, (since_ms, value, until_ms)


async def test_plan_over_all_four_stages_puts_the_exact_spec_bytes_on_every_wire(
    fleet: Fleet,
    start_engine: StartEngine,
    subscriber: Subscriber,
    redis_client: aioredis.Redis,
) -> None:
    """Redis hash, pub/sub, verify endpoints, portal and ASBC bodies match SPEC §4 exactly."""
    harness = await start_engine()
    spec = parse_plan_text(json.dumps(plan_doc(PLAN, [TENANT_A, TENANT_B, TENANT_C])))
    since_ms = int(time.time() * 1000)
    plan = await harness.run_plan(spec)
    until_ms = int(time.time() * 1000)

    assert plan.status is PlanStatus.COMPLETED
    for tenant in STAGES:
        task = await harness.task(tenant)
        assert task.status is TaskStatus.COMPLETED, task.failure
        assert task.failure is None

    # Redis: exactly the three fields, byte for byte.
    stored_a = await redis_client.hgetall(KEY_PREFIX + "tenant-a")
    assert set(stored_a) == {BG_FIELD, OB_FIELD, "metadata"}
    assert stored_a[BG_FIELD] == bg_gateway_bytes("tenant-a", "blue", "green", TENANT_A_ROUTES)
    assert stored_a["metadata"] == '{"version":20}'
    match = re.match(ob_campaign_pattern("tenant-a", "blue", "green"), stored_a[OB_FIELD])
    assert match is not None, stored_a[OB_FIELD]
    _plausible(match.group(1), since_ms, until_ms)

    stored_b = await redis_client.hgetall(KEY_PREFIX + "tenant-b")
    assert set(stored_b) == {BG_FIELD, OB_FIELD, "metadata"}
    assert stored_b[BG_FIELD] == bg_gateway_bytes(
        "tenant-b", "green", "green", [("b1", "203.0.113.7", "b.green")]
    )
    assert stored_b["metadata"] == '{"version":20}'
    assert re.match(ob_campaign_pattern("tenant-b", "green", "green"), stored_b[OB_FIELD])

    assert await redis_client.exists(KEY_PREFIX + "tenant-c") == 0

    # Pub/sub: one notification per tenant and app, in the exact format.
    for tenant in ("tenant-a", "tenant-b"):
        for app in (BG_FIELD, OB_FIELD):
            messages = await subscriber.wait_for(tenant, app, 1)
            assert len(messages) == 1, messages
            found = re.match(message_pattern(tenant, app, 20), messages[0])
            assert found is not None, messages[0]
            _plausible(found.group(1), since_ms, until_ms)
    assert subscriber.of("tenant-c") == []

    # Every gateway and OB instance reports version 20 on its verify endpoint.
    for tenant in ("tenant-a", "tenant-b"):
        versions = await reported_versions(fleet, tenant)
        assert len(versions) == len(fleet.gateways) + len(fleet.ob_instances)
        assert set(versions.values()) == {20}, versions

    # The portal got one notification per tenant with a unit, timestamp as a string.
    portal_calls = sorted(fleet.portal.calls, key=lambda c: c["tenantId"])
    assert [c["tenantId"] for c in portal_calls] == ["tenant-a", "tenant-b"]
    for call in portal_calls:
        assert list(call) == ["tenantId", "targetDeployUnit", "timestamp"]
        assert call["targetDeployUnit"] == "green"
        assert isinstance(call["timestamp"], str)
        assert call["timestamp"].isdigit()
        _plausible(call["timestamp"], since_ms, until_ms)

    # The ASBC got the trimmed rules and the trunk group; it only answers with the bearer token.
    asbc_calls = sorted(fleet.asbc.calls, key=lambda c: c["calledNumberMatch"])
    assert asbc_calls == [
        {"calledNumberMatch": ["4001*", "4002*", "6001001"], "targetTrunkGroupName": "tg-green"},
        {"calledNumberMatch": ["7001"], "targetTrunkGroupName": "tg-green"},
    ]
    assert fleet.asbc.token is not None

    # Events: gapless 1..N, the plan's first and last, and each task's stages in order.
    events = await harness.events(PLAN)
    assert_gapless(events)
    assert events[0].type is EventType.PLAN_CREATED
    assert events[-1].type is EventType.PLAN_COMPLETED
    assert not [e for e in events if e.type is EventType.STEP_WARNING]
    by_task: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for event in events:
        if event.tenant_id is not None:
            by_task[event.tenant_id].append((event.type.value, event.stage))
    for tenant, stages in STAGES.items():
        expected = [("TaskCreated", None), ("TaskStarted", None)]
        for stage in stages:
            expected += [("StageStarted", stage), ("StageCompleted", stage)]
        expected.append(("TaskCompleted", None))
        assert by_task[tenant] == expected

    # The checkpoint names every stage that ran.
    task_a = await harness.task("tenant-a")
    assert task_a.checkpoint is not None
    assert list(task_a.checkpoint.completed) == STAGES["tenant-a"]
