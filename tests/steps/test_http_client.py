"""HttpClient: JSON in and out, and every httpx failure translated into a switchover error."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.settings import HttpSettings, Settings
from switchover.steps.http_client import HttpClient

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler) -> HttpClient:
    return HttpClient(Settings(), transport=httpx.MockTransport(handler))


def raising(exc_type: type[httpx.HTTPError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)  # type: ignore[call-arg]

    return handler


async def test_get_json_returns_status_and_decoded_body() -> None:
    async with client_for(lambda r: httpx.Response(200, json={"version": 20})) as http:
        assert await http.get_json("http://127.0.0.1:9001/v") == (200, {"version": 20})


async def test_non_json_body_comes_back_as_none() -> None:
    async with client_for(lambda r: httpx.Response(200, text="<html>")) as http:
        assert await http.get_json("http://127.0.0.1:9001/v") == (200, None)


async def test_client_error_statuses_are_returned_not_raised() -> None:
    async with client_for(lambda r: httpx.Response(404, json={"code": "404"})) as http:
        assert await http.get_json("http://127.0.0.1:9001/v") == (404, {"code": "404"})


@pytest.mark.parametrize(
    ("exc_type", "error_type"),
    [
        (httpx.ConnectError, ErrorType.NETWORK_ERROR),
        (httpx.ReadError, ErrorType.NETWORK_ERROR),
        (httpx.RemoteProtocolError, ErrorType.NETWORK_ERROR),
        (httpx.ConnectTimeout, ErrorType.TIMEOUT_ERROR),
        (httpx.ReadTimeout, ErrorType.TIMEOUT_ERROR),
        (httpx.PoolTimeout, ErrorType.TIMEOUT_ERROR),
    ],
)
async def test_io_failures_become_transient_errors(
    exc_type: type[httpx.HTTPError], error_type: ErrorType
) -> None:
    async with client_for(raising(exc_type)) as http:
        with pytest.raises(TransientError) as info:
            await http.get_json("http://127.0.0.1:9001/v")
    assert info.value.error_type is error_type
    assert info.value.retryable
    assert isinstance(info.value.__cause__, exc_type)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_become_transient_service_unavailable(status: int) -> None:
    async with client_for(lambda r: httpx.Response(status)) as http:
        with pytest.raises(TransientError) as info:
            await http.post_json("http://127.0.0.1:9001/p", {"a": 1})
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE
    assert info.value.details["status"] == status


async def test_other_httpx_errors_are_non_retryable_network_errors() -> None:
    async with client_for(raising(httpx.UnsupportedProtocol)) as http:
        with pytest.raises(StepFailedError) as info:
            await http.get_json("http://127.0.0.1:9001/v")
    assert not isinstance(info.value, TransientError)
    assert info.value.error_type is ErrorType.NETWORK_ERROR


async def test_error_messages_drop_the_query_string_and_headers() -> None:
    async with client_for(raising(httpx.ConnectError)) as http:
        with pytest.raises(TransientError) as info:
            await http.post_json(
                "http://127.0.0.1:9001/p?accessToken=tok-123",
                {},
                {"Authorization": "Bearer sekret"},
            )
    text = f"{info.value} {info.value.details}"
    assert "tok-123" not in text
    assert "sekret" not in text
    assert "http://127.0.0.1:9001/p" in text


async def test_post_json_sends_compact_json_with_extra_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": "0"})

    async with client_for(handler) as http:
        status, body = await http.post_json(
            "http://127.0.0.1:9001/p", {"tenantId": "t-1", "名": "值"}, {"X-Trace": "1"}
        )
    assert (status, body) == (200, {"code": "0"})
    request = seen[0]
    assert request.method == "POST"
    assert (
        request.content
        == json.dumps(
            {"tenantId": "t-1", "名": "值"}, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-trace"] == "1"


async def test_unverified_tls_requests_use_their_own_pool_and_are_closed() -> None:
    async with client_for(lambda r: httpx.Response(200, json={})) as http:
        assert await http.post_json("https://127.0.0.1:9443/p", {}, verify_tls=False) == (200, {})
        assert http._insecure is not None
        assert http._insecure is not http.client
    assert http.client.is_closed
    assert http._insecure.is_closed


async def test_timeouts_come_from_settings() -> None:
    settings = Settings(http=HttpSettings(connect_timeout=1.5, read_timeout=4.0))
    async with HttpClient(settings) as http:
        timeout = http.client.timeout
    assert (timeout.connect, timeout.read) == (1.5, 4.0)
