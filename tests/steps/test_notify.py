"""Portal notify and ASBC switch steps against httpx.MockTransport and loopback servers."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from aiohttp import web

from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.fleet.redis_server import free_port
from switchover.secrets import Secret
from switchover.settings import AsbcSettings, PortalSettings, Settings
from switchover.steps.http_client import HttpClient
from switchover.steps.notify import AsbcSwitchStep, PortalNotifyStep
from switchover.steps.protocol import StepContext
from tests.steps.fakes import EPOCH, FakeClock, is_backoff, make_config, make_ctx

PORTALS = ["127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"]
ASBC = ["127.0.0.1:9443"]
TOKEN = "asbc-token-do-not-leak"

Handler = Callable[[httpx.Request], httpx.Response]


def http_for(handler: Handler) -> HttpClient:
    return HttpClient(Settings(), transport=httpx.MockTransport(handler))


async def run_step(step: PortalNotifyStep | AsbcSwitchStep, ctx: StepContext) -> None:
    await step.prepare(ctx)
    await step.execute(ctx)
    await step.validate(ctx)


def portal_ctx(**kwargs: object) -> StepContext:
    return make_ctx(stage="portal", instances={"portalService": PORTALS}, **kwargs)  # type: ignore[arg-type]


def asbc_ctx(settings: Settings | None = None, clock: FakeClock | None = None) -> StepContext:
    return make_ctx(
        stage="asbc-gateway", instances={"asbcService": ASBC}, settings=settings, clock=clock
    )


# --- portal -------------------------------------------------------------------------------


async def test_portal_posts_the_notification_to_one_discovered_instance() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": "0", "message": "ok"})

    ctx = portal_ctx()
    async with http_for(handler) as http:
        await run_step(PortalNotifyStep(http), ctx)
    assert len(seen) == 1
    request = seen[0]
    assert request.url.scheme == "http"
    assert f"{request.url.host}:{request.url.port}" in PORTALS
    assert request.url.path == "/icc-agent-portal/inner/v1/notify/bgSwitch"
    assert json.loads(request.content) == {
        "tenantId": "t-1",
        "targetDeployUnit": "green",
        "timestamp": str(int(EPOCH * 1000)),
    }
    assert ctx.discovery.queries[0].namespace == "ns-1"  # type: ignore[attr-defined]


async def test_portal_code_other_than_zero_is_a_business_error_with_code_and_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": "E1001", "message": "unit unknown"})

    async with http_for(handler) as http:
        with pytest.raises(StepFailedError) as info:
            await run_step(PortalNotifyStep(http), portal_ctx())
    assert info.value.error_type is ErrorType.BUSINESS_ERROR
    assert "E1001" in str(info.value)
    assert "unit unknown" in str(info.value)
    assert info.value.details["code"] == "E1001"
    assert info.value.details["message"] == "unit unknown"


async def test_portal_client_error_status_is_a_business_error() -> None:
    async with http_for(lambda r: httpx.Response(404, text="no such path")) as http:
        with pytest.raises(StepFailedError) as info:
            await run_step(PortalNotifyStep(http), portal_ctx())
    assert info.value.error_type is ErrorType.BUSINESS_ERROR
    assert info.value.details["status"] == 404


async def test_portal_retries_a_transient_failure_on_a_freshly_picked_instance() -> None:
    tried: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tried.append(f"{request.url.host}:{request.url.port}")
        if len(tried) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"code": "0"})

    clock = FakeClock()
    ctx = portal_ctx(clock=clock)
    async with http_for(handler) as http:
        await run_step(PortalNotifyStep(http, rng=random.Random(1)), ctx)
    assert len(tried) == 2
    assert len(clock.sleeps) == 1
    assert is_backoff(clock.sleeps)
    # Discovery is asked again for each attempt, so each attempt picks at random anew.
    assert len(ctx.discovery.queries) == 2  # type: ignore[attr-defined]


async def test_portal_fails_transiently_after_all_retries() -> None:
    clock = FakeClock()
    async with http_for(lambda r: httpx.Response(503)) as http:
        with pytest.raises(TransientError) as info:
            await run_step(PortalNotifyStep(http), portal_ctx(clock=clock))
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE
    assert info.value.details["attempts"] == 4
    assert len(clock.sleeps) == 3
    assert is_backoff(clock.sleeps)


async def test_portal_without_deploy_unit_name_fails_in_prepare() -> None:
    async with http_for(lambda r: httpx.Response(200, json={"code": "0"})) as http:
        with pytest.raises(StepFailedError) as info:
            await PortalNotifyStep(http).prepare(
                portal_ctx(config=make_config(deploy_unit_name=None))
            )
    assert info.value.error_type is ErrorType.VALIDATION_ERROR


# --- ASBC ---------------------------------------------------------------------------------


def with_token() -> Settings:
    return Settings(asbc=AsbcSettings(token=Secret(TOKEN)))


async def test_asbc_posts_rules_and_trunk_group_with_bearer_token_when_configured() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 0, "data": {"successList": [], "failList": []}})

    async with http_for(handler) as http:
        await run_step(AsbcSwitchStep(http), asbc_ctx(with_token()))
    request = seen[0]
    assert str(request.url) == "https://127.0.0.1:9443/api/sbc/traffic-switch"
    assert json.loads(request.content) == {
        "calledNumberMatch": ["1001", "1002"],
        "targetTrunkGroupName": "tg-green",
    }
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


async def test_asbc_sends_no_authorization_header_without_a_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 0, "data": {"failList": []}})

    async with http_for(handler) as http:
        await run_step(AsbcSwitchStep(http), asbc_ctx())
    assert "authorization" not in seen[0].headers


async def test_asbc_partial_failure_lists_every_failed_number_without_the_token() -> None:
    body = {
        "code": 0,
        "msg": "partial",
        "data": {
            "successList": ["1001"],
            "failList": [
                {"calledNumberMatch": "1002", "message": "trunk busy"},
                {"calledNumberMatch": "1003", "message": "no such number"},
            ],
        },
    }
    async with http_for(lambda r: httpx.Response(200, json=body)) as http:
        with pytest.raises(StepFailedError) as info:
            await run_step(AsbcSwitchStep(http), asbc_ctx(with_token()))
    error = info.value
    assert error.error_type is ErrorType.BUSINESS_ERROR
    assert error.details["failed"] == [
        {"number": "1002", "message": "trunk busy"},
        {"number": "1003", "message": "no such number"},
    ]
    assert "1002: trunk busy" in str(error)
    assert "1003: no such number" in str(error)
    assert TOKEN not in f"{error} {error.details}"
    json.dumps(dict(error.details))  # JSON-safe


async def test_asbc_nonzero_code_is_a_business_error() -> None:
    body = {"code": 5001, "msg": "trunk group unknown", "data": None}
    async with http_for(lambda r: httpx.Response(200, json=body)) as http:
        with pytest.raises(StepFailedError) as info:
            await run_step(AsbcSwitchStep(http), asbc_ctx())
    assert info.value.error_type is ErrorType.BUSINESS_ERROR
    assert info.value.details["code"] == 5001
    assert "trunk group unknown" in str(info.value)


async def test_asbc_transient_errors_never_leak_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with http_for(handler) as http:
        with pytest.raises(TransientError) as info:
            await run_step(AsbcSwitchStep(http), asbc_ctx(with_token()))
    assert info.value.error_type is ErrorType.NETWORK_ERROR
    assert TOKEN not in f"{info.value} {info.value.details}"


# --- credentials a peer quotes back never leave the step --------------------------------------

ECHOED = f"bad header Authorization: Bearer {TOKEN}"


def assert_masked(error: StepFailedError) -> None:
    """The token is nowhere in the error, and the mask stands where it was quoted."""
    for text in (str(error), repr(error), repr(error.details), json.dumps(dict(error.details))):
        assert TOKEN not in text
        assert quote(TOKEN, safe="") not in text
    assert "Bearer ***" in str(error)
    assert "Bearer ***" in repr(error.details)


@pytest.fixture
async def peer() -> AsyncIterator[tuple[str, list[web.Request], list[tuple[int, Any]]]]:
    """A loopback HTTP peer on a free port that plays back the queued ``(status, body)``."""
    seen: list[web.Request] = []
    answers: list[tuple[int, Any]] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request)
        status, body = answers.pop(0)
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"127.0.0.1:{port}", seen, answers
    finally:
        await runner.cleanup()


def loopback_settings() -> Settings:
    return Settings(
        asbc=AsbcSettings(scheme="http", token=Secret(TOKEN)),
        portal=PortalSettings(scheme="http"),
    )


async def test_an_asbc_401_quoting_the_authorization_header_never_leaks_the_token(
    peer: tuple[str, list[web.Request], list[tuple[int, Any]]],
) -> None:
    instance, seen, answers = peer
    answers.append(
        (
            401,
            {
                "code": f"401 for Bearer {TOKEN}",
                "message": ECHOED,
                "data": {
                    "failList": [
                        {"calledNumberMatch": "1001", "message": ECHOED},
                        {"calledNumberMatch": "1002", "msg": f"token={quote(TOKEN, safe='')}"},
                        f"raw {TOKEN}",
                    ]
                },
            },
        )
    )
    ctx = make_ctx(
        stage="asbc-gateway", instances={"asbcService": [instance]}, settings=loopback_settings()
    )
    async with HttpClient(ctx.settings) as http:
        with pytest.raises(StepFailedError) as info:
            await run_step(AsbcSwitchStep(http), ctx)
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"  # it was sent, though
    error = info.value
    assert error.error_type is ErrorType.BUSINESS_ERROR
    assert error.details["status"] == 401
    assert error.details["code"] == "401 for Bearer ***"
    assert error.details["message"] == "bad header Authorization: Bearer ***"
    assert error.details["failed"] == [
        {"number": "1001", "message": "bad header Authorization: Bearer ***"},
        {"number": "1002", "message": "token=***"},
        {"number": "raw ***", "message": None},
    ]
    assert "1001: bad header Authorization: Bearer ***" in str(error)
    assert_masked(error)


async def test_a_portal_answer_quoting_the_token_never_leaks_it(
    peer: tuple[str, list[web.Request], list[tuple[int, Any]]],
) -> None:
    instance, _, answers = peer
    answers.append((403, {"code": f"E403 Bearer {TOKEN}", "message": ECHOED}))
    ctx = make_ctx(
        stage="portal", instances={"portalService": [instance]}, settings=loopback_settings()
    )
    async with HttpClient(ctx.settings) as http:
        with pytest.raises(StepFailedError) as info:
            await run_step(PortalNotifyStep(http), ctx)
    error = info.value
    assert error.error_type is ErrorType.BUSINESS_ERROR
    assert error.details["message"] == "bad header Authorization: Bearer ***"
    assert error.details["code"] == "E403 Bearer ***"
    assert_masked(error)


async def test_without_a_token_the_asbc_answer_is_reported_as_it_came() -> None:
    body = {"code": 401, "message": "bad header Authorization: Bearer whatever"}
    async with http_for(lambda r: httpx.Response(401, json=body)) as http:
        with pytest.raises(StepFailedError) as info:
            await run_step(AsbcSwitchStep(http), asbc_ctx())
    assert info.value.details["message"] == body["message"]
    assert info.value.details["code"] == 401
