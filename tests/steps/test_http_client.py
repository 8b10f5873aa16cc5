"""HttpClient: JSON in and out, every failure translated, and its httpx-aiohttp transport."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp import web
from httpx_aiohttp import AiohttpTransport

from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.fleet.redis_server import free_port
from switchover.settings import HttpSettings, Settings
from switchover.steps.http_client import DeadlineTransport, HttpClient
from tests.steps.loopback import answer, raw_server, self_signed_tls

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


# -- the default transport (httpx-aiohttp) against real loopback servers ------------------


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """An aiohttp server on a free loopback port; yields its base URL and what it received."""
    seen: list[web.Request] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(request)
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "target": request.raw_path,
                "body": body.decode(),
                "content_type": request.headers.get("Content-Type"),
                "authorization": request.headers.get("Authorization"),
                "cookie": request.headers.get("Cookie"),
            }
        )

    async def gzipped(request: web.Request) -> web.Response:
        payload = gzip.compress(json.dumps({"version": 20}).encode())
        return web.Response(
            body=payload, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"code": "down"}, status=503)

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/slow", slow)
    app.router.add_get("/broken", broken)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


def pool_of(client: httpx.AsyncClient) -> AiohttpTransport:
    """The httpx-aiohttp transport under an HttpClient's httpx client."""
    transport = client._transport
    assert isinstance(transport, DeadlineTransport)
    assert isinstance(transport.inner, AiohttpTransport)
    return transport.inner


async def test_default_transport_is_httpx_aiohttp_under_the_deadline() -> None:
    async with HttpClient(Settings()) as http:
        pool = pool_of(http.client)
    assert not isinstance(pool.client, aiohttp.ClientSession)  # never used: never opened


async def test_real_get_and_post_round_trip(server: tuple[str, list[web.Request]]) -> None:
    base, seen = server
    async with HttpClient(Settings()) as http:
        status, body = await http.get_json(f"{base}/echo?a=1&b=%20x")
        assert (status, body["method"], body["target"]) == (200, "GET", "/echo?a=1&b=%20x")
        status, body = await http.post_json(
            f"{base}/echo", {"tenantId": "t-1", "名": "值"}, {"Authorization": "Bearer t"}
        )
    assert status == 200
    assert json.loads(body["body"]) == {"tenantId": "t-1", "名": "值"}
    assert (body["content_type"], body["authorization"]) == ("application/json", "Bearer t")
    assert len(seen) == 2
    assert seen[1].headers["Content-Length"] == str(len(body["body"].encode()))


async def test_get_text_returns_the_body_as_text(server: tuple[str, list[web.Request]]) -> None:
    base, _ = server
    async with HttpClient(Settings()) as http:
        status, text = await http.get_text(f"{base}/echo")
    assert status == 200
    assert json.loads(text)["method"] == "GET"


async def test_compressed_answers_are_decoded_once(server: tuple[str, list[web.Request]]) -> None:
    base, _ = server
    async with HttpClient(Settings()) as http:
        assert await http.get_json(f"{base}/gzip") == (200, {"version": 20})


async def test_cookies_are_kept_only_by_the_httpx_client() -> None:
    """The steps' calls carry no cookie from one call to the next (tenants share the pool);
    ``http.client`` keeps them as httpx does, and the pool adds no second copy."""
    head = (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: s=1; Path=/\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    seen: list[bytes] = []

    async def serve(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: asyncio.Event
    ) -> None:
        while True:
            try:
                seen.append((await reader.readuntil(b"\r\n\r\n")).lower())
            except asyncio.IncompleteReadError:
                return
            writer.write(head)
            await writer.drain()

    async with raw_server(serve) as base, HttpClient(Settings()) as http:
        await http.get_json(f"{base}/a")
        await http.post_json(f"{base}/b", {})
        await http.client.get(f"{base}/c")
        await http.client.get(f"{base}/d")
    assert [request.count(b"\r\ncookie:") for request in seen] == [0, 0, 0, 1]


async def test_real_server_errors_are_transient(server: tuple[str, list[web.Request]]) -> None:
    base, _ = server
    async with HttpClient(Settings()) as http:
        with pytest.raises(TransientError) as info:
            await http.get_json(f"{base}/broken")
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE


async def test_refused_connection_is_a_transient_network_error() -> None:
    """Not a timeout: the connection was refused at once."""
    url = f"http://127.0.0.1:{free_port()}/v"
    async with HttpClient(Settings()) as http:
        with pytest.raises(TransientError) as info:
            await http.get_json(url)
    assert info.value.error_type is ErrorType.NETWORK_ERROR
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert str(info.value).startswith(f"GET {url}: ConnectError: Cannot connect to host")
    assert info.value.details == {"url": url}


async def test_read_timeout_is_a_transient_timeout(server: tuple[str, list[web.Request]]) -> None:
    base, _ = server
    settings = Settings(http=HttpSettings(connect_timeout=1.0, read_timeout=0.1))
    async with HttpClient(settings) as http:
        with pytest.raises(TransientError) as info:
            await http.get_json(f"{base}/slow")
    assert info.value.error_type is ErrorType.TIMEOUT_ERROR
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert str(info.value) == f"GET {base}/slow: timed out (ReadTimeout)"


async def test_a_server_hanging_up_is_a_transient_network_error() -> None:
    async def hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: asyncio.Event
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")

    async with raw_server(hang_up) as base, HttpClient(Settings()) as http:
        with pytest.raises(TransientError) as info:
            await http.get_json(f"{base}/v")
    assert info.value.error_type is ErrorType.NETWORK_ERROR
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


@pytest.mark.parametrize(
    ("head", "body"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", b""),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nBad Header\r\n\r\n", b"{}"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", b"{"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"zz\r\n{}\r\n0\r\n\r\n"),
    ],
    ids=["status-line", "header", "truncated-body", "bad-chunk"],
)
async def test_a_malformed_answer_is_a_transient_network_error(head: bytes, body: bytes) -> None:
    """One line naming the URL without its query string, whatever the peer sent."""
    async with raw_server(answer(head, body)) as base, HttpClient(Settings()) as http:
        with pytest.raises(TransientError) as info:
            await http.get_json(f"{base}/v?accessToken=tok-123")
    error = info.value
    assert error.error_type is ErrorType.NETWORK_ERROR
    assert isinstance(error.__cause__, httpx.RemoteProtocolError)
    assert isinstance(error.__cause__.__cause__, aiohttp.ClientError)
    assert str(error).startswith(f"GET {base}/v: RemoteProtocolError: ")
    assert "\n" not in str(error)
    assert "tok-123" not in f"{error} {error.details} {error.__cause__}"


async def test_unsupported_scheme_is_a_non_retryable_error() -> None:
    async with HttpClient(Settings()) as http:
        with pytest.raises(StepFailedError) as info:
            await http.get_json("ftp://127.0.0.1:21/v")
    assert not isinstance(info.value, TransientError)
    assert info.value.error_type is ErrorType.NETWORK_ERROR


async def test_many_concurrent_requests_share_the_pool(
    server: tuple[str, list[web.Request]],
) -> None:
    base, seen = server
    async with HttpClient(Settings()) as http:
        answers = await asyncio.gather(*(http.get_json(f"{base}/echo?i={i}") for i in range(300)))
    assert sorted(int(body["target"].split("=")[1]) for _, body in answers) == list(range(300))
    assert len(seen) == 300


async def test_the_pool_size_bounds_the_connections_open_at_once() -> None:
    """``max_connections`` requests at a time; the others wait for a free connection."""
    open_now = peak = 0
    release = asyncio.Event()

    async def serve(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: asyncio.Event
    ) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            await reader.readuntil(b"\r\n\r\n")
            if open_now >= 3:
                release.set()
            await release.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            await writer.drain()
        finally:
            open_now -= 1

    async with raw_server(serve) as base, HttpClient(Settings(), max_connections=3) as http:
        answers = await asyncio.gather(*(http.get_json(f"{base}/v") for _ in range(9)))
    assert answers == [(200, {})] * 9
    assert peak == 3


async def test_aclose_closes_the_pool(server: tuple[str, list[web.Request]]) -> None:
    base, _ = server
    http = HttpClient(Settings())
    await http.get_json(f"{base}/echo")
    session = pool_of(http.client).client
    assert isinstance(session, aiohttp.ClientSession)
    assert not session.closed
    await http.aclose()
    assert session.closed
    await http.aclose()  # idempotent


async def test_the_httpx_client_goes_through_the_same_pool(
    server: tuple[str, list[web.Request]],
) -> None:
    """Adapters holding ``http.client`` (discovery) share the pool and get httpx errors."""
    base, seen = server
    async with HttpClient(Settings()) as http:
        response = await http.client.get(f"{base}/echo?a=%20b")
        assert response.json()["target"] == "/echo?a=%20b"
        with pytest.raises(httpx.ConnectError):
            await http.client.get(f"http://127.0.0.1:{free_port()}/v")
        response = await http.client.get(f"{base}/gzip")
        assert response.json() == {"version": 20}
        async with raw_server(answer(b"NOT HTTP\r\n\r\n")) as garbage:
            with pytest.raises(httpx.RemoteProtocolError) as info:
                await http.client.get(f"{garbage}/v")
        assert info.value.request.url == f"{garbage}/v"
    assert len(seen) == 1


async def test_unverified_tls_gets_its_own_default_pool(
    server: tuple[str, list[web.Request]],
) -> None:
    base, _ = server
    async with HttpClient(Settings()) as http:
        status, body = await http.post_json(f"{base}/echo", {"a": 1}, verify_tls=False)
        assert (status, json.loads(body["body"])) == (200, {"a": 1})
        assert http._insecure is not None
        insecure = pool_of(http._insecure)
        assert insecure is not pool_of(http.client)
        session = insecure.client
        assert isinstance(session, aiohttp.ClientSession)
    assert session.closed


@pytest.fixture
async def tls_peer(tmp_path: Path) -> AsyncIterator[str]:
    """An HTTPS peer on loopback with a self-signed certificate."""
    tls = self_signed_tls(tmp_path)
    if tls is None:
        pytest.skip("openssl is needed to make a certificate")
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n"
    async with raw_server(answer(head, b'{"tls":true}'), tls=tls) as base:
        yield base


async def test_an_untrusted_certificate_is_a_transient_network_error(tls_peer: str) -> None:
    async with HttpClient(Settings()) as http:
        with pytest.raises(TransientError) as info:
            await http.post_json(f"{tls_peer}/p", {})
    assert info.value.error_type is ErrorType.NETWORK_ERROR
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "certificate" in str(info.value).lower()


async def test_unverified_tls_accepts_a_self_signed_certificate(tls_peer: str) -> None:
    async with HttpClient(Settings()) as http:
        assert await http.post_json(f"{tls_peer}/p", {}, verify_tls=False) == (200, {"tls": True})


@pytest.mark.parametrize("url", ["http://[::1/v", "http://exa mple.com:99999/v"])
async def test_malformed_urls_are_non_retryable_errors(url: str) -> None:
    async with HttpClient(Settings()) as http:
        with pytest.raises(StepFailedError) as info:
            await http.get_json(url)
    assert not isinstance(info.value, TransientError)
    assert info.value.error_type is ErrorType.NETWORK_ERROR
