"""Every HTTP call ends by ``http.total_timeout``, however slowly the peer trickles its answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from switchover.errors import ErrorType, TransientError
from switchover.settings import HttpSettings, Settings
from switchover.steps.http_client import HttpClient, TotalTimeout
from tests.steps.loopback import raw_server

BODY = json.dumps({"version": 20, "padding": "x" * 40}).encode()
TRICKLE_INTERVAL = 0.3
GUARD = 10
"""Seconds after which a call still running fails the test: only a regression gets there."""


def deadline_settings(total: float = 2.0) -> Settings:
    return Settings(http=HttpSettings(connect_timeout=1.0, read_timeout=1.0, total_timeout=total))


class Trickle:
    """A peer that answers with a valid head, then the body one byte every 0.3 s.

    Each byte comes well within the 1 s read timeout, so only a total deadline ends the call;
    the whole body would take about 20 s. ``sent`` counts the body bytes it sent.
    """

    def __init__(self) -> None:
        self.sent = 0
        self.trickling = asyncio.Event()

    async def __call__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: asyncio.Event
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(BODY)
        )
        await writer.drain()
        for index in range(len(BODY)):
            try:
                await asyncio.wait_for(stopping.wait(), TRICKLE_INTERVAL)
                return
            except TimeoutError:
                pass
            writer.write(BODY[index : index + 1])
            await writer.drain()
            self.sent += 1
            self.trickling.set()


async def at_once(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: asyncio.Event
) -> None:
    """Answer every request on the connection immediately."""
    while True:
        try:
            await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
        )
        await writer.drain()


@pytest.fixture
async def trickle() -> AsyncIterator[tuple[str, Trickle]]:
    """A loopback HTTP server that sends its answer's body one byte every 0.3 s."""
    peer = Trickle()
    async with raw_server(peer) as base:
        yield base, peer


@pytest.fixture
async def prompt() -> AsyncIterator[str]:
    """A loopback HTTP server that answers at once."""
    async with raw_server(at_once) as base:
        yield base


async def test_a_trickled_answer_fails_at_the_total_deadline(
    trickle: tuple[str, Trickle],
) -> None:
    base, peer = trickle
    async with HttpClient(deadline_settings(total=2.0)) as http:
        with pytest.raises(TransientError) as info:
            async with asyncio.timeout(GUARD):
                await http.get_json(f"{base}/v?accessToken=tok-1")
    # Bytes kept coming (no read timeout could fire), and the body was never finished.
    assert 0 < peer.sent < len(BODY)
    error = info.value
    assert error.error_type is ErrorType.TIMEOUT_ERROR
    assert error.retryable
    assert str(error) == f"GET {base}/v: timed out after 2 s (total deadline)"
    assert error.details == {"url": f"{base}/v", "deadline": 2.0}
    assert isinstance(error.__cause__, TotalTimeout)


async def test_a_trickled_post_fails_at_the_total_deadline(trickle: tuple[str, Trickle]) -> None:
    base, peer = trickle
    async with HttpClient(deadline_settings(total=1.5)) as http:
        with pytest.raises(TransientError) as info:
            async with asyncio.timeout(GUARD):
                await http.post_json(f"{base}/p", {"a": 1}, verify_tls=False)
    assert 0 < peer.sent < len(BODY)
    assert info.value.error_type is ErrorType.TIMEOUT_ERROR
    assert "(total deadline)" in str(info.value)


async def test_the_shared_httpx_client_is_bounded_by_the_deadline_too(
    trickle: tuple[str, Trickle],
) -> None:
    """Adapters holding ``http.client`` (discovery) get an httpx timeout at the deadline."""
    base, peer = trickle
    async with HttpClient(deadline_settings(total=1.0)) as http:
        with pytest.raises(httpx.TimeoutException) as info:
            async with asyncio.timeout(GUARD):
                await http.client.get(f"{base}/v")
    assert peer.sent < len(BODY)
    assert isinstance(info.value, TotalTimeout)
    assert info.value.request.url == f"{base}/v"


async def test_the_pool_stays_usable_after_a_deadline(
    trickle: tuple[str, Trickle], prompt: str
) -> None:
    """The connection cut at the deadline is dropped, not handed to the next request."""
    base, _ = trickle
    async with HttpClient(deadline_settings(total=1.0)) as http:
        with pytest.raises(TransientError):
            async with asyncio.timeout(GUARD):
                await http.get_json(f"{base}/v")
        assert await http.get_json(f"{prompt}/v") == (200, json.loads(BODY))


async def test_a_prompt_answer_is_unaffected_by_the_deadline(prompt: str) -> None:
    async with HttpClient(deadline_settings(total=2.0)) as http:
        for _ in range(3):  # one kept-alive connection, several calls
            assert await http.get_json(f"{prompt}/v") == (200, json.loads(BODY))
        assert (await http.client.get(f"{prompt}/v")).json() == json.loads(BODY)


async def test_a_given_transport_is_bounded_by_the_deadline() -> None:
    """The httpx transport path (``MockTransport`` in unit tests) ends at the deadline as well."""

    async def stalls(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json={})

    settings = deadline_settings(total=0.2)
    async with HttpClient(settings, transport=httpx.MockTransport(stalls)) as http:
        with pytest.raises(TransientError) as info:
            async with asyncio.timeout(GUARD):
                await http.get_json("http://127.0.0.1:9001/v")
    assert info.value.error_type is ErrorType.TIMEOUT_ERROR
    assert str(info.value) == "GET http://127.0.0.1:9001/v: timed out after 0.2 s (total deadline)"
    assert isinstance(info.value.__cause__, TotalTimeout)


async def test_a_timeout_raised_by_a_given_transport_is_not_taken_for_the_deadline() -> None:
    def raises(request: httpx.Request) -> httpx.Response:
        raise TimeoutError("not ours")

    settings = deadline_settings(total=5.0)
    async with HttpClient(settings, transport=httpx.MockTransport(raises)) as http:
        with pytest.raises(TimeoutError, match="not ours"):
            await http.get_json("http://127.0.0.1:9001/v")


async def test_cancelling_a_call_is_not_taken_for_the_deadline(
    trickle: tuple[str, Trickle],
) -> None:
    base, peer = trickle
    async with HttpClient(deadline_settings(total=5.0)) as http:
        call = asyncio.create_task(http.get_json(f"{base}/v"))
        async with asyncio.timeout(GUARD):
            await peer.trickling.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
