"""The HTTP adapter of the steps: one shared httpx client, httpx errors translated at its edge.

httpx is the interface (requests, responses, errors, ``MockTransport`` in unit tests); the
network underneath is an aiohttp connection pool (``AiohttpTransport``), because httpx's own
pool slows down sharply past a few hundred concurrent requests, and a verify round fans out to
every instance of a service at once (``bench/verify_fanout.py`` measures both).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, NoReturn
from urllib.request import getproxies

import aiohttp
import httpx
from yarl import URL

from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.settings import Settings

DEFAULT_MAX_CONNECTIONS = 1024
"""Connections kept open at once: verify fans out to every instance of a service."""

# Request headers aiohttp computes itself from the body it sends.
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


# Named like its httpx siblings (ConnectTimeout, ReadTimeout) rather than ``...Error``: it is
# one more member of httpx's family, raised where httpx's own transport would raise those.
class TotalTimeout(httpx.TimeoutException):
    """A whole request (connect, send, every read of the answer) outlasted its deadline."""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends requests on one shared aiohttp connection pool.

    ``HttpClient`` sends its own requests through ``send`` (no ``httpx.Request`` is built: at
    a fan-out of a thousand that halves the CPU a verify round costs); everything else that
    holds ``HttpClient.client`` (discovery) comes through ``handle_async_request``. Both raise
    the httpx exception httpx's own transport raises for the same failure:

    * refused, unreachable, DNS or TLS failure while connecting: ``httpx.ConnectError``;
    * connect or pool timeout: ``httpx.ConnectTimeout``; read timeout: ``httpx.ReadTimeout``;
    * reset or closed while sending or reading: ``httpx.ReadError``;
    * disconnected before answering, a malformed or truncated answer:
      ``httpx.RemoteProtocolError``;
    * a URL that is not http(s) or cannot be sent: ``httpx.UnsupportedProtocol``.

    Timeouts: connect → a new connection, read → between reads of the answer, pool → waiting
    for a free connection plus connecting, and ``total_timeout`` → the whole request, answer
    body included, so that a peer trickling its answer a byte at a time cannot hold a call
    open past it (``TotalTimeout``, an ``httpx.TimeoutException``). Bodies are read whole
    (the steps exchange small JSON documents) and decoded (gzip, deflate) by httpx as it does
    for its own transport. The pool is created on first use, in the running event loop, and
    closed by ``aclose``.
    """

    def __init__(
        self,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        verify: bool = True,
        total_timeout: float | None = None,
    ) -> None:
        """Describe the pool; nothing is opened until the first request.

        Args:
            max_connections: connections open at once, over all hosts (no per-host limit).
            verify: False skips TLS certificate checks.
            total_timeout: seconds one whole request may take (None: no limit).
        """
        self._max_connections = max_connections
        self._verify = verify
        self._total_timeout = total_timeout
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, ssl=self._verify
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes, as it does for its own transport
                # Proxies from the environment, as httpx honours them; looked up only when
                # some are set, since aiohttp's lookup costs two thread hops per request.
                trust_env=bool(getproxies()),
                cookie_jar=aiohttp.DummyCookieJar(),  # cookies are the httpx client's business
            )
        return self._session

    def _client_timeout(self, timeout: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        key = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            connect, read, pool = key
            # No aiohttp total: ``send`` bounds the whole request itself, so that hitting the
            # deadline is told apart from a read timeout.
            found = aiohttp.ClientTimeout(
                total=None, connect=pool, sock_connect=connect, sock_read=read
            )
            self._timeouts[key] = found
        return found

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        content: bytes | None = None,
        timeouts: Mapping[str, float | None],
        request: httpx.Request | None = None,
    ) -> httpx.Response:
        """Send one request and read the whole answer.

        Args:
            method: HTTP method.
            url: absolute http(s) URL.
            headers: request headers.
            content: request body.
            timeouts: ``connect``, ``read`` and ``pool`` in seconds (None: no limit), as in
                ``httpx.Timeout.as_dict()``.
            request: the httpx request this sends, attached to errors (None: none was built).

        Returns:
            The answer, read.

        Raises:
            TotalTimeout: the whole request took longer than ``total_timeout``.
            httpx.TransportError: the subclass named in the class docstring.
            httpx.InvalidURL: ``url`` cannot be parsed.
        """
        try:
            target = URL(url, encoded=request is not None)
        except (TypeError, ValueError) as exc:
            raise httpx.InvalidURL(f"invalid URL: {exc}") from exc
        if target.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{target.scheme}://'.", request=request
            )
        deadline = asyncio.timeout(self._total_timeout)
        try:
            async with deadline:
                try:
                    async with self._pool().request(
                        method,
                        target,
                        headers=headers,
                        data=content or None,
                        allow_redirects=False,
                        timeout=self._client_timeout(timeouts),
                    ) as answer:
                        body = await answer.read()
                except (aiohttp.ClientError, OSError) as exc:
                    _raise_httpx(exc, request)
        except TimeoutError as exc:
            if not deadline.expired():
                raise
            raise TotalTimeout(
                f"no complete answer within {self._total_timeout:g} s", request=request
            ) from exc
        version = answer.version or aiohttp.HttpVersion11
        return httpx.Response(
            answer.status,
            headers=[
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in answer.raw_headers
            ],
            content=body,
            extensions={
                "http_version": f"HTTP/{version.major}.{version.minor}".encode(),
                "reason_phrase": (answer.reason or "").encode("ascii", "replace"),
            },
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send an httpx request (see ``send``)."""
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _BODY_HEADERS
        ]
        return await self.send(
            request.method,
            str(request.url),
            headers=headers,
            content=await request.aread(),
            timeouts=request.extensions.get("timeout", {}),
            request=request,
        )

    async def aclose(self) -> None:
        """Close every pooled connection (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _raise_httpx(exc: BaseException, request: httpx.Request | None) -> NoReturn:
    """Raise the httpx exception httpx's own transport would raise for ``exc``."""
    message = str(exc).strip() or type(exc).__name__
    error: httpx.TransportError
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = httpx.ConnectTimeout(message, request=request)
    elif isinstance(exc, TimeoutError):  # aiohttp's read timeouts are TimeoutErrors too
        error = httpx.ReadTimeout(message, request=request)
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = httpx.ConnectError(message, request=request)
    elif isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError,
    ):
        error = httpx.RemoteProtocolError(message, request=request)
    elif isinstance(exc, aiohttp.ClientConnectionError | OSError):
        error = httpx.ReadError(message, request=request)
    elif isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        error = httpx.UnsupportedProtocol(message, request=request)
    else:
        error = httpx.TransportError(message, request=request)
    raise error from exc


class HttpClient:
    """JSON over HTTP for the steps, on one connection pool shared by every task.

    Every method returns ``(status, body)`` for a response below 500, where ``body`` is the
    decoded JSON or None when the response is not JSON. Failures come out as switchover errors:

    * connection refused / reset, protocol breakage: ``TransientError(NETWORK_ERROR)``;
    * connect, read, write or pool timeouts, and a call outlasting ``http.total_timeout``
      (connect, send and reading the whole answer; a peer trickling its answer byte by byte
      does not reset it): ``TransientError(TIMEOUT_ERROR)``;
    * an HTTP 5xx answer: ``TransientError(SERVICE_UNAVAILABLE)``;
    * anything else httpx raises (bad URL, unsupported scheme): ``StepFailedError(NETWORK_ERROR)``.

    Messages name the method, the URL without its query string and the status or cause; request
    headers (which may carry a bearer token) never appear in them.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        """Create the client; it opens connections lazily.

        Args:
            settings: timeouts and the deadline of each call come from ``settings.http``.
            transport: replaces the network (``httpx.MockTransport`` in unit tests); by
                default each pool is an ``AiohttpTransport``.
            max_connections: size of the connection pool.
        """
        connect = settings.http.connect_timeout
        read = settings.http.read_timeout
        self._timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect + read)
        self._timeouts = self._timeout.as_dict()
        self._total_timeout = settings.http.total_timeout
        self._max_connections = max_connections
        self._transport = transport
        # The default pools, which this client's own requests use directly; None when a
        # transport was given, so every request goes through it.
        self._pools: dict[bool, AiohttpTransport] = {}
        self._client = self._make_client(verify=True)
        self._insecure: httpx.AsyncClient | None = None

    def _make_client(self, *, verify: bool) -> httpx.AsyncClient:
        transport = self._transport
        if transport is None:
            pool = AiohttpTransport(
                max_connections=self._max_connections,
                verify=verify,
                total_timeout=self._total_timeout,
            )
            self._pools[verify] = transport = pool
        return httpx.AsyncClient(
            timeout=self._timeout, transport=transport, verify=verify, follow_redirects=False
        )

    @property
    def client(self) -> httpx.AsyncClient:
        """The underlying httpx client, for adapters that translate httpx errors themselves."""
        return self._client

    async def get_json(
        self, url: str, *, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        """GET ``url``.

        Returns:
            The status and the JSON body (None when the body is not JSON).

        Raises:
            TransientError: network error, timeout or HTTP 5xx.
            StepFailedError: any other HTTP client failure (NETWORK_ERROR).
        """
        response = await self._send("GET", url, headers=headers)
        return response.status_code, _json_or_none(response)

    async def get_text(
        self, url: str, *, headers: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        """GET ``url`` and return the status and the body as text (errors as ``get_json``)."""
        response = await self._send("GET", url, headers=headers)
        return response.status_code, response.text

    async def post_json(
        self,
        url: str,
        body: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        *,
        verify_tls: bool = True,
    ) -> tuple[int, Any]:
        """POST ``body`` as JSON to ``url``.

        Args:
            url: full URL.
            body: JSON-safe mapping.
            headers: extra request headers (e.g. ``Authorization``); never put in errors.
            verify_tls: False skips TLS certificate checks (a separate pool is used for that).

        Returns:
            The status and the JSON body (None when the body is not JSON).

        Raises:
            TransientError: network error, timeout or HTTP 5xx.
            StepFailedError: any other HTTP client failure (NETWORK_ERROR).
        """
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        merged = {"Content-Type": "application/json", **(headers or {})}
        response = await self._send(
            "POST", url, headers=merged, content=content, verify_tls=verify_tls
        )
        return response.status_code, _json_or_none(response)

    def _insecure_client(self) -> httpx.AsyncClient:
        if self._insecure is None:
            self._insecure = self._make_client(verify=False)
        return self._insecure

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        verify_tls: bool = True,
    ) -> httpx.Response:
        where = f"{method} {_without_query(url)}"
        client = self._client if verify_tls else self._insecure_client()
        pool = self._pools.get(verify_tls)
        try:
            if pool is not None:
                # The pool bounds the call by the total deadline itself (TotalTimeout).
                response = await pool.send(
                    method, url, headers=headers, content=content, timeouts=self._timeouts
                )
            else:
                response = await self._request(client, method, url, headers, content)
        except TotalTimeout as exc:
            raise TransientError(
                ErrorType.TIMEOUT_ERROR,
                f"{where}: timed out after {self._total_timeout:g} s (total deadline)",
                details={"url": _without_query(url), "deadline": self._total_timeout},
            ) from exc
        except httpx.TimeoutException as exc:
            raise TransientError(
                ErrorType.TIMEOUT_ERROR,
                f"{where}: timed out ({type(exc).__name__})",
                details={"url": _without_query(url)},
            ) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise TransientError(
                ErrorType.NETWORK_ERROR,
                f"{where}: {_describe(exc)}",
                details={"url": _without_query(url)},
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise StepFailedError(
                ErrorType.NETWORK_ERROR,
                f"{where}: {_describe(exc)}",
                details={"url": _without_query(url)},
            ) from exc
        if response.status_code >= 500:
            raise TransientError(
                ErrorType.SERVICE_UNAVAILABLE,
                f"{where}: HTTP {response.status_code}",
                details={"url": _without_query(url), "status": response.status_code},
            )
        return response

    async def _request(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        content: bytes | None,
    ) -> httpx.Response:
        """Send through a given transport, bounded by the total deadline as the pool is."""
        deadline = asyncio.timeout(self._total_timeout)
        try:
            async with deadline:
                return await client.request(method, url, headers=headers, content=content)
        except TimeoutError as exc:
            if not deadline.expired():
                raise
            raise TotalTimeout(f"no complete answer within {self._total_timeout:g} s") from exc

    async def aclose(self) -> None:
        """Close every pooled connection (idempotent)."""
        await self._client.aclose()
        if self._insecure is not None:
            await self._insecure.aclose()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _without_query(url: str) -> str:
    # Query strings may carry access tokens (Nacos); they never go into messages.
    return url.split("?", 1)[0]


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
