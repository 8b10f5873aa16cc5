"""The HTTP API in-process (httpx's ASGI transport) over a serving engine, on the real
redis-server and loopback fleet: submissions, views, operations, refusals, the event stream,
auth on every route, audit and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import uvicorn
import yaml
from aiohttp import web

from switchover.domain.status import TaskStatus
from switchover.fleet.fleet import Fleet
from switchover.fleet.redis_server import RedisServer, free_port
from switchover.server import Served, build
from switchover.settings import Settings
from switchover.stores.protocol import Store
from switchover.wiring import runtime
from tests.integration.conftest import (
    WAIT,
    assert_gapless,
    eventually,
    plan_doc,
    settings_values,
    tenant_doc,
)

pytestmark = pytest.mark.integration

OPERATOR_TOKEN = "operator-token-0123456789abcdef"
VIEWER_TOKEN = "viewer-token-0123456789abcdef00"
TOKENS = [
    {"name": "alice", "role": "operator", "token": OPERATOR_TOKEN},
    {"name": "victor", "role": "viewer", "token": VIEWER_TOKEN},
]


@dataclass
class Api:
    """A client of the API over a serving engine, with each role's headers."""

    client: httpx.AsyncClient
    served: Served
    store: Store

    op: ClassVar[dict[str, str]] = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    viewer: ClassVar[dict[str, str]] = {"Authorization": f"Bearer {VIEWER_TOKEN}"}

    async def submit(self, doc: dict[str, Any], **params: str) -> httpx.Response:
        return await self.client.post(
            "/plans",
            content=json.dumps(doc),
            headers=self.op | {"Content-Type": "application/json"},
            params=params,
        )

    async def settle(self) -> None:
        async with asyncio.timeout(WAIT):
            await self.served.engine.wait_idle()

    async def plan(self, plan_id: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(f"/plans/{plan_id}", headers=self.viewer, params=params)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Api]:
    async with runtime(settings) as rt:
        session = rt.session()
        engine = await session.serve()
        served = build(rt, session, engine, None)
        alerts = asyncio.create_task(served.alerts.run())
        transport = httpx.ASGITransport(app=served.app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                yield Api(client, served, rt.store)
        finally:
            alerts.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await alerts
            served.detach()
            await session.close()


def _started(server: uvicorn.Server) -> Callable[[], Awaitable[bool]]:
    async def started() -> bool:
        return bool(server.started)

    return started


@asynccontextmanager
async def over_uvicorn(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """The same API served by a real uvicorn on a free loopback port, and a client of it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(api.served.app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving_task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(_started(server), within=WAIT)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        server.force_exit = True
        await serving_task
        sock.close()


@pytest.fixture
async def api(tmp_path: Path, redis_server: RedisServer, fleet: Fleet) -> AsyncIterator[Api]:
    values = settings_values(
        tmp_path / "switchover.db", redis_server.url, fleet, serve={"tokens": TOKENS}
    )
    async with serving(Settings.of(**values)) as started:
        yield started


def tenants(count: int, prefix: str = "t") -> list[dict[str, Any]]:
    return [tenant_doc(f"{prefix}{i:03d}") for i in range(count)]


async def test_submit_run_and_read_a_plan(api: Api) -> None:
    response = await api.submit(plan_doc("p1", tenants(6)), reason="CHG-1 move to green")
    assert response.status_code == 201, response.text
    assert response.json() == {
        "schema": "switchover/v1",
        "plan_id": "p1",
        "status": "RUNNING",
        "since": 0,
    }
    await api.settle()

    plan = await api.plan("p1")
    assert plan["status"] == "COMPLETED"
    assert plan["created_by"] == "alice"
    assert plan["reason"] == "CHG-1 move to green"
    assert plan["counts"]["COMPLETED"] == 6
    assert plan["counts"]["FAILED"] == 0
    assert plan["matching"] == 6

    listed = (await api.client.get("/plans", headers=api.viewer)).json()["plans"]
    assert [p["plan_id"] for p in listed] == ["p1"]
    assert listed[0]["counts"]["COMPLETED"] == 6

    task = (await api.client.get("/plans/p1/tasks/t002", headers=api.viewer)).json()
    assert task["status"] == "COMPLETED"
    assert task["tenant_id"] == "t002"
    assert task["checkpoint"] is not None

    history = (await api.client.get("/tenants/t002", headers=api.viewer)).json()
    assert [t["task_id"] for t in history["tasks"]] == ["p1/t002"]

    # Audit: the submission names its actor and reason.
    page = (await api.client.get("/plans/p1/events", headers=api.viewer)).json()
    created = page["events"][0]
    assert created["type"] == "PlanCreated"
    assert created["data"]["actor"] == "alice"
    assert created["data"]["reason"] == "CHG-1 move to green"
    assert created["triggered_by"] == "operator"
    started = next(e for e in page["events"] if e["type"] == "TaskStarted")
    assert started["triggered_by"] == "engine"


async def test_yaml_submission_and_pages_filtered_by_status_and_prefix(api: Api) -> None:
    doc = plan_doc("p2", tenants(5, "a") + tenants(4, "b"), max_concurrency=9)
    response = await api.client.post(
        "/plans",
        content=yaml.safe_dump(doc),
        headers=api.op | {"Content-Type": "application/yaml"},
    )
    assert response.status_code == 201, response.text
    await api.settle()
    page = await api.plan("p2", tenant_prefix="b", limit=3)
    assert page["matching"] == 4
    assert [t["tenant_id"] for t in page["tasks"]] == ["b000", "b001", "b002"]
    rest = await api.plan("p2", tenant_prefix="b", limit=3, offset=3)
    assert [t["tenant_id"] for t in rest["tasks"]] == ["b003"]
    completed = await api.plan("p2", status="COMPLETED", limit=1000)
    assert completed["matching"] == 9
    failed = await api.plan("p2", status="FAILED")
    assert failed["matching"] == 0
    assert failed["tasks"] == []


async def test_invalid_plan_is_a_422_listing_every_tenant_and_field(api: Api) -> None:
    bad = tenants(3)
    bad[0]["deployUnitVersion"] = "twenty"
    del bad[2]["tenantId"]
    bad[1]["trunkGroup"] = None
    response = await api.submit(plan_doc("bad", bad))
    assert response.status_code == 422
    body = response.json()
    assert body["error_type"] == "VALIDATION_ERROR"
    assert body["message"].startswith("plan is invalid")
    where = {(issue["tenant"], issue["field"]) for issue in body["issues"]}
    assert ("t000", "deployUnitVersion") in where
    assert ("#3", "tenantId") in where
    assert ("t001", "trunkGroup") in where
    # Nothing was stored.
    assert (await api.client.get("/plans/bad", headers=api.viewer)).status_code == 404

    not_yaml = await api.client.post("/plans", content=b"{[", headers=api.op)
    assert not_yaml.status_code == 422
    assert not_yaml.json()["error_type"] == "VALIDATION_ERROR"


async def test_duplicate_plan_is_a_409(api: Api) -> None:
    assert (await api.submit(plan_doc("dup", tenants(1)))).status_code == 201
    await api.settle()
    again = await api.submit(plan_doc("dup", tenants(1)))
    assert again.status_code == 409
    assert again.json() == {
        "schema": "switchover/v1",
        "error_type": "CONFLICT",
        "message": "plan dup already exists (COMPLETED)",
    }


async def run_with_one_failure(api: Api, fleet: Fleet, plan_id: str, failing: str) -> None:
    """Run a plan of three tenants in which ``failing`` fails its OB health check; then the
    fault is cleared, so a rollback can succeed."""
    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=[failing])
    assert (await api.submit(plan_doc(plan_id, tenants(3)))).status_code == 201
    await api.settle()
    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=[])
    task = (await api.client.get(f"/plans/{plan_id}/tasks/{failing}", headers=api.viewer)).json()
    assert task["status"] == "FAILED"
    assert task["failure"]["error_type"] == "HEALTH_CHECK_FAILED"


async def test_operations_refusals_and_rollback_by_tenant(api: Api, fleet: Fleet) -> None:
    await run_with_one_failure(api, fleet, "ops", "t000")

    missing = await api.client.post("/tenants/nobody/rollback", headers=api.op)
    assert missing.status_code == 404
    assert missing.json()["error_type"] == "NOT_FOUND"

    refused = await api.client.post("/tenants/t001/retry", headers=api.op)
    assert refused.status_code == 409
    assert refused.json()["error_type"] == "INVALID_STATE"
    assert "COMPLETED" in refused.json()["message"]
    not_completed = await api.client.post("/tenants/t001/rollback", headers=api.op)
    assert not_completed.status_code == 409
    assert not_completed.json()["error_type"] == "ROLLBACK_PRECONDITION_FAILED"

    bad_body = await api.client.post("/tenants/t000/rollback", headers=api.op, json={"version": -1})
    assert bad_body.status_code == 422
    assert bad_body.json()["issues"][0]["field"] == "body.version"

    accepted = await api.client.post(
        "/tenants/t000/rollback", headers=api.op, json={"reason": "INC-7 bad routes"}
    )
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["plan_id"] == "ops"
    assert body["task_ids"] == ["ops/t000"]
    await api.settle()
    task = (await api.client.get("/plans/ops/tasks/t000", headers=api.viewer)).json()
    assert task["status"] == TaskStatus.ROLLED_BACK.value

    events = (
        await api.client.get(
            "/plans/ops/events", headers=api.viewer, params={"since": body["since"]}
        )
    ).json()["events"]
    audit = next(e for e in events if e["type"] == "OperationAccepted")
    assert audit["data"]["operation"] == "rollback"
    assert audit["data"]["actor"] == "alice"
    assert audit["data"]["reason"] == "INC-7 bad routes"
    assert audit["task_id"] == "ops/t000"
    rolling = next(e for e in events if e["type"] == "TaskRollingBack")
    assert rolling["data"]["actor"] == "alice"
    assert rolling["triggered_by"] == "operator"


async def test_pause_and_resume_a_plan(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> None:
    values = settings_values(
        tmp_path / "switchover.db", redis_server.url, fleet, serve={"tokens": TOKENS}
    )
    async with serving(Settings.of(**values)) as api:
        await fleet.set_faults(list(fleet.gateways), slow=0.2)  # slow, so there is time
        assert (
            await api.submit(plan_doc("slow", tenants(8), max_concurrency=2))
        ).status_code == 201
        paused = await api.client.post("/plans/slow/pause", headers=api.op)
        assert paused.status_code == 202, paused.text
        await api.settle()
        plan = await api.plan("slow")
        assert plan["status"] == "PAUSED"
        assert plan["counts"]["COMPLETED"] < 8
        await fleet.set_faults(list(fleet.gateways), slow=0.0)
        resumed = await api.client.post("/plans/slow/resume", headers=api.op)
        assert resumed.status_code == 202
        await api.settle()
        assert (await api.plan("slow"))["status"] == "COMPLETED"


async def test_sse_stream_resumes_with_last_event_id_without_gap_or_duplicate(api: Api) -> None:
    assert (await api.submit(plan_doc("sse", tenants(5)))).status_code == 201
    seen: list[int] = []
    async with over_uvicorn(api) as client:
        await _read_stream(api, client, seen)
    await api.settle()
    stored = await api.store.read_events("sse", 0, 100_000)
    assert_gapless(stored)
    assert seen == [e.seq for e in stored]  # no gap, no duplicate, in order


async def _read_stream(api: Api, client: httpx.AsyncClient, seen: list[int]) -> None:
    async def read(headers: dict[str, str], stop_after: int | None) -> None:
        async with client.stream(
            "GET",
            "/plans/sse/events",
            headers=api.viewer | headers | {"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            frame: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line.startswith(("id:", "event:", "data:")):
                    key, _, value = line.partition(":")
                    frame[key] = value.strip()
                elif line == "" and "id" in frame:
                    data = json.loads(frame["data"])
                    assert int(frame["id"]) == data["seq"]
                    assert frame["event"] == data["type"]
                    seen.append(data["seq"])
                    frame = {}
                    if stop_after is not None and len(seen) >= stop_after:
                        return  # a forced disconnect
                    if data["type"] == "PlanCompleted":
                        return

    async with asyncio.timeout(WAIT):
        await read({}, stop_after=7)
        assert len(seen) == 7
        await read({"Last-Event-ID": str(seen[-1])}, stop_after=None)


async def test_sse_of_a_missing_plan_is_a_404(api: Api) -> None:
    response = await api.client.get(
        "/plans/nope/events", headers=api.viewer | {"Accept": "text/event-stream"}
    )
    assert response.status_code == 404
    assert response.json()["error_type"] == "NOT_FOUND"


ROUTES: list[tuple[str, str, bool]] = [
    ("GET", "/plans", False),
    ("POST", "/plans", True),
    ("GET", "/plans/p", False),
    ("GET", "/plans/p/events", False),
    ("GET", "/plans/p/tasks/t000", False),
    ("GET", "/tenants/t000", False),
    ("GET", "/metrics", False),
    ("POST", "/plans/p/pause", True),
    ("POST", "/plans/p/resume", True),
    ("POST", "/plans/p/cancel", True),
    ("POST", "/tenants/t000/pause", True),
    ("POST", "/tenants/t000/retry", True),
    ("POST", "/tenants/t000/rollback", True),
    ("POST", "/plans/p/tasks/t000/cancel", True),
    ("POST", "/plans/p/tasks/t000/rollback", True),
]


async def test_every_route_needs_a_token_and_operations_an_operator(api: Api) -> None:
    assert (await api.submit(plan_doc("p", tenants(1)))).status_code == 201
    await api.settle()
    for method, path, operates in ROUTES:
        body = json.dumps(plan_doc("p-new", tenants(1))) if path == "/plans" else None
        for headers, expected in (
            ({}, {401}),
            ({"Authorization": "Bearer wrong-token-0123456789"}, {401}),
            ({"Authorization": "Basic dXNlcjpwYXNz"}, {401}),
            (api.viewer, {403} if operates else {200}),
            (api.op, {200, 201, 202, 404, 409}),
        ):
            response = await api.client.request(method, path, headers=headers, content=body)
            assert response.status_code in expected, (method, path, headers, response.text)
            if response.status_code == 401:
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert response.json()["error_type"] == "UNAUTHORIZED"
            assert OPERATOR_TOKEN not in response.text
            assert VIEWER_TOKEN not in response.text
    for path in ("/healthz", "/readyz"):
        response = await api.client.get(path)
        assert response.status_code == 200, response.text
    assert (await api.client.get("/readyz")).json()["checks"] == {
        "engine": True,
        "store": True,
        "redis": True,
    }


async def test_readyz_reports_redis_down(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> None:
    values = settings_values(
        tmp_path / "switchover.db", redis_server.url, fleet, serve={"tokens": TOKENS}
    )
    async with serving(Settings.of(**values)) as api:
        redis_server.stop()
        response = await api.client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["redis"] is False
        assert response.json()["checks"]["store"] is True


async def test_metrics_count_tasks_stages_and_rollbacks(api: Api, fleet: Fleet) -> None:
    await run_with_one_failure(api, fleet, "m", "t001")
    assert (await api.client.post("/tenants/t001/rollback", headers=api.op)).status_code == 202
    await api.settle()
    response = await api.client.get("/metrics", headers=api.viewer)
    assert response.status_code == 200
    text = response.text
    assert 'switchover_tasks{plan="m",status="COMPLETED"} 2.0' in text
    assert 'switchover_tasks{plan="m",status="ROLLED_BACK"} 1.0' in text
    assert "rollback_success_total 1.0" in text
    assert "rollback_failed_total 0.0" in text
    assert "switchover_verify_attempts_total" in text
    assert 'switchover_stage_duration_seconds_count{mode="rollback",outcome="completed"' in text
    assert "switchover_store_commit_seconds_count" in text


async def test_openapi_and_docs_are_served(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert "/plans/{plan_id}/events" in spec["paths"]
    assert "/plans/{plan_id}/tasks/{tenant_id}/{action}" in spec["paths"]
    docs = await api.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


class Receiver:
    """A webhook receiver on a fixed loopback port, started late: down for the first attempts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            self.received.append(await request.json())
            self.keys.append(request.headers.get("Idempotency-Key", ""))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def test_a_webhook_down_at_first_gets_every_alert_once_it_is_up(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> None:
    receiver = Receiver()
    values = settings_values(
        tmp_path / "switchover.db",
        redis_server.url,
        fleet,
        serve={"tokens": TOKENS},
        alerts={
            "webhooks": [f"http://127.0.0.1:{receiver.port}/hook"],
            "base_delay": 0.05,
            "max_delay": 0.2,
        },
    )
    try:
        async with serving(Settings.of(**values)) as api:
            await run_with_one_failure(api, fleet, "alerted", "t002")
            assert receiver.received == []  # down so far: nothing delivered, nothing lost

            async def attempted() -> bool:
                return api.served.alerts.failed_attempts >= 2

            await eventually(attempted, within=WAIT)  # refused while the receiver is down
            assert receiver.received == []
            await receiver.start()

            async def all_in() -> bool:
                types = {a["type"] for a in receiver.received}
                return {"TaskFailed", "PlanFailed"} <= types

            await eventually(all_in, within=WAIT)
            await asyncio.sleep(0.3)  # nothing else is on its way
            metrics = (await api.client.get("/metrics", headers=api.viewer)).text
    finally:
        await receiver.stop()
    ids = [a["alert_id"] for a in receiver.received]
    assert len(ids) == len(set(ids)) == 2  # exactly once each
    assert receiver.keys == ids
    failed = next(a for a in receiver.received if a["type"] == "TaskFailed")
    assert failed["tenant_id"] == "t002"
    assert failed["failure"]["error_type"] == "HEALTH_CHECK_FAILED"
    assert 'switchover_alerts_total{outcome="delivered"} 2.0' in metrics
