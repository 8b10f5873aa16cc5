"""Every HTTP call ends by ``http.total_timeout``, however slowly the peer trickles its answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from switchover.errors import ErrorType, TransientError
from switchover.settings import HttpSettings, Settings
from switchover.steps.http_client import HttpClient, TotalTimeout

BODY = json.dumps({"version": 20, "padding": "x" * 40}).encode()
TRICKLE_INTERVAL = 0.3


def deadline_settings(total: float = 2.0) -> Settings:
    return Settings(http=HttpSettings(connect_timeout=1.0, read_timeout=1.0, total_timeout=total))


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Event], Awaitable[None]]


async def trickle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: asyncio.Event
) -> None:
    """Answer with a valid head, then the body one byte every 0.3 s (each read within 1 s)."""
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


async def start(serve: Serve) -> AsyncIterator[str]:
    """Run ``serve`` for each connection on a free loopback port; yield the base URL.

    Connection handlers still running at the end (a trickle outlives its client) are told to
    stop, their connections dropped, and awaited, so that none is left pending.
    """
    stopping = asyncio.Event()
    handlers: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.append(writer)
        try:
            await serve(reader, writer, stopping)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: what a deadline does
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listener.close()
        stopping.set()
        for writer in writers:
            writer.transport.abort()
        async with asyncio.timeout(5):
            await asyncio.gather(*handlers)
        await listener.wait_closed()


@pytest.fixture
async def trickling() -> AsyncIterator[str]:
    """A loopback HTTP server that sends its answer's body one byte every 0.3 s."""
    async for base in start(trickle):
        yield base


@pytest.fixture
async def prompt() -> AsyncIterator[str]:
    """A loopback HTTP server that answers at once."""
    async for base in start(at_once):
        yield base


async def test_a_trickled_answer_fails_at_the_total_deadline(trickling: str) -> None:
    async with HttpClient(deadline_settings(total=2.0)) as http:
        began = time.monotonic()
        with pytest.raises(TransientError) as info:
            # The outer bound only keeps a regression from hanging the suite.
            async with asyncio.timeout(10):
                await http.get_json(f"{trickling}/v?accessToken=tok-1")
        elapsed = time.monotonic() - began
    assert 1.9 <= elapsed < 2.5
    error = info.value
    assert error.error_type is ErrorType.TIMEOUT_ERROR
    assert error.retryable
    assert str(error) == f"GET {trickling}/v: timed out after 2 s (total deadline)"
    assert error.details == {"url": f"{trickling}/v", "deadline": 2.0}
    assert isinstance(error.__cause__, TotalTimeout)


async def test_a_trickled_post_fails_at_the_total_deadline(trickling: str) -> None:
    async with HttpClient(deadline_settings(total=1.5)) as http:
        began = time.monotonic()
        with pytest.raises(TransientError) as info:
            async with asyncio.timeout(10):
                await http.post_json(f"{trickling}/p", {"a": 1}, verify_tls=False)
        elapsed = time.monotonic() - began
    assert 1.4 <= elapsed < 2.0
    assert info.value.error_type is ErrorType.TIMEOUT_ERROR
    assert "(total deadline)" in str(info.value)


async def test_the_shared_httpx_client_is_bounded_by_the_deadline_too(trickling: str) -> None:
    """Adapters holding ``http.client`` (discovery) get an httpx timeout at the deadline."""
    async with HttpClient(deadline_settings(total=1.0)) as http:
        began = time.monotonic()
        with pytest.raises(httpx.TimeoutException) as info:
            async with asyncio.timeout(10):
                await http.client.get(f"{trickling}/v")
        elapsed = time.monotonic() - began
    assert elapsed < 1.5
    assert isinstance(info.value, TotalTimeout)


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
            async with asyncio.timeout(10):
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
