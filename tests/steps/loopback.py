"""Raw loopback HTTP peers for the transport tests: bytes on a socket, however wrong or slow."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Event], Awaitable[None]]
"""Answers one connection; the event is set when the server is stopping."""


@asynccontextmanager
async def raw_server(serve: Serve, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
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
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client hung up: what a deadline or a refused certificate does
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        listener.close()
        stopping.set()
        for writer in writers:
            writer.transport.abort()
        async with asyncio.timeout(5):
            await asyncio.gather(*handlers)
        await listener.wait_closed()


def answer(head: bytes, body: bytes = b"") -> Serve:
    """A peer that reads each request head and writes ``head`` + ``body``, then hangs up."""

    async def serve(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: asyncio.Event
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head + body)
        await writer.drain()

    return serve


def self_signed_tls(directory: Path) -> ssl.SSLContext | None:
    """A server TLS context with a new self-signed certificate for 127.0.0.1 (None: no openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
