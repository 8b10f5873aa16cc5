"""The HTTP adapter of the steps: one shared httpx client, its failures translated at its edge.

httpx is the interface (requests, responses, errors, ``MockTransport`` in unit tests); the
network underneath is httpx-aiohttp's transport on one aiohttp connection pool, because httpx's
own pool slows down sharply past a few hundred concurrent requests, and a verify round fans out
to every instance of a service at once (``bench/verify_fanout.py`` measures both).
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.request import getproxies

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.settings import Settings

DEFAULT_MAX_CONNECTIONS = 1024
"""Connections kept open at once: verify fans out to every instance of a service."""


# Named like its httpx siblings (ConnectTimeout, ReadTimeout) rather than ``...Error``: it is
# one more member of httpx's family, raised where httpx's own transport would raise those.
class TotalTimeout(httpx.TimeoutException):
    """A whole request (connect, send, every read of the answer) outlasted its deadline."""


# aiohttp's failures, most specific first, and the httpx exception httpx's own transport raises
# for the same failure. httpx-aiohttp maps some of them itself, but not all (a malformed answer
# escapes as aiohttp's), and its broad ClientConnectionError rule turns a refused connection or
# a peer hanging up into a ConnectTimeout; the type is taken from aiohttp's exception instead.
_AIOHTTP_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),  # SocketTimeoutError: between two reads
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, unreachable, DNS, TLS
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),  # truncated or malformed body
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # malformed status or headers
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),  # not http(s), or cannot be sent
    (aiohttp.ClientConnectionError, httpx.ReadError),  # reset or closed while sending/reading
    (aiohttp.ClientError, httpx.TransportError),
)


def _from_aiohttp(source: Exception, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception for an aiohttp failure; its message never quotes the URL."""
    kind = next(target for origin, target in _AIOHTTP_ERRORS if isinstance(source, origin))
    # These three quote the URL, query string (and any token in it) included.
    if isinstance(source, aiohttp.ClientResponseError):
        text = source.message
    elif isinstance(source, aiohttp.InvalidURL):
        text = f"the URL cannot be sent ({source.description or 'invalid'})"
    elif isinstance(source, aiohttp.ConnectionTimeoutError):
        text = "no connection within the connect timeout"
    else:
        text = str(source)
    text = " ".join(text.split()) or type(source).__name__
    return kind(text, request=request)


class DeadlineTransport(httpx.AsyncBaseTransport):
    """Bounds every request of a transport by a total deadline; gives aiohttp failures httpx types.

    Every request through an ``HttpClient`` goes through one of these, whether the client's
    own (``get_json``, ``post_json``) or another adapter's holding ``HttpClient.client``
    (discovery):

    * the whole request — connect, send, and every read of the answer — must end within
      ``total_timeout``, so that a peer trickling its answer a byte at a time cannot hold a
      call open past it (``TotalTimeout``, an ``httpx.TimeoutException``); the body is read
      whole inside the deadline (the steps exchange small JSON documents), and httpx decodes
      it (gzip, deflate) as for its own transport;
    * an aiohttp failure from the inner transport, raised as it is or under an httpx
      exception, comes out as the httpx exception httpx's own transport raises for the same
      failure: refused, unreachable, DNS or TLS failure → ``httpx.ConnectError``; connect
      timeout → ``httpx.ConnectTimeout``; read timeout → ``httpx.ReadTimeout``; reset while
      sending or reading → ``httpx.ReadError``; disconnected before answering, malformed or
      truncated answer → ``httpx.RemoteProtocolError``; a URL that cannot be sent →
      ``httpx.UnsupportedProtocol``. Anything else passes as the inner transport raised it.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, *, total_timeout: float | None) -> None:
        """Wrap ``inner``.

        Args:
            inner: sends the requests (``AiohttpTransport``; ``httpx.MockTransport`` in tests).
            total_timeout: seconds one whole request may take (None: no limit).
        """
        self.inner = inner
        self._total_timeout = total_timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read its whole answer within the deadline.

        Raises:
            TotalTimeout: the request took longer than ``total_timeout``.
            httpx.TransportError: the subclass named in the class docstring.
        """
        deadline = asyncio.timeout(self._total_timeout)
        try:
            async with deadline:
                response = await self.inner.handle_async_request(request)
                try:
                    await response.aread()  # decoded once, by httpx, as for its own transport
                finally:
                    await response.aclose()
        except aiohttp.ClientError as exc:  # aiohttp's timeouts are TimeoutErrors too
            raise _from_aiohttp(exc, request) from exc
        except httpx.TransportError as exc:
            if isinstance(exc.__cause__, aiohttp.ClientError):
                raise _from_aiohttp(exc.__cause__, request) from exc.__cause__
            raise
        except TimeoutError as exc:
            if not deadline.expired():
                raise
            raise TotalTimeout(
                f"no complete answer within {self._total_timeout:g} s", request=request
            ) from exc
        response.request = request
        return response

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


@functools.cache
def _tls_context(verify: bool) -> ssl.SSLContext:
    # One per process: loading the certificate bundle takes tens of milliseconds.
    return httpx.create_ssl_context(verify=verify)


def aiohttp_pool(
    *, verify: bool, max_connections: int = DEFAULT_MAX_CONNECTIONS
) -> AiohttpTransport:
    """An httpx-aiohttp transport on one aiohttp connection pool, opened on first use.

    TLS is httpx's (its certificate bundle and ``SSL_CERT_FILE``/``SSL_CERT_DIR``); cookies are
    the httpx client's business, so the pool keeps none; proxies come from the environment
    when some are set (looked up only then: aiohttp's lookup costs two thread hops a request).

    Args:
        verify: False skips TLS certificate checks.
        max_connections: connections open at once, over all hosts (no per-host limit).

    Returns:
        The transport; its ``aclose`` closes the pool.
    """
    tls = _tls_context(verify)

    def session() -> aiohttp.ClientSession:
        # Idle connections live aiohttp's 15 s: a tenant's verify rounds are seconds apart.
        connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, ssl=tls)
        return aiohttp.ClientSession(
            connector=connector,
            trust_env=bool(getproxies()),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    return AiohttpTransport(verify=tls, client=session)


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
    headers (which may carry a bearer token) never appear in them. These calls follow no
    redirect and carry no cookie from one call to the next (tenants share the pool);
    ``client``, for other adapters, is a plain httpx client on the same pool and deadline.
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
                default each pool is an ``aiohttp_pool``. Either way every request goes
                through a ``DeadlineTransport``.
            max_connections: size of the connection pool.
        """
        connect = settings.http.connect_timeout
        read = settings.http.read_timeout
        self._timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect + read)
        self._total_timeout = settings.http.total_timeout
        self._max_connections = max_connections
        self._transport = transport
        self._deadlines: dict[bool, DeadlineTransport] = {}
        self._client = self._make_client(verify=True)
        self._insecure: httpx.AsyncClient | None = None

    def _make_client(self, *, verify: bool) -> httpx.AsyncClient:
        inner = self._transport or aiohttp_pool(
            verify=verify, max_connections=self._max_connections
        )
        self._deadlines[verify] = transport = DeadlineTransport(
            inner, total_timeout=self._total_timeout
        )
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
        if client.is_closed:
            raise RuntimeError(f"{where}: the HTTP client is closed")
        try:
            # Straight to the transport: the client's redirect, auth, cookie and event-hook
            # machinery (none of it used here) costs a quarter more CPU per call, which a
            # verify fan-out to a thousand instances pays a thousand times at once.
            request = client.build_request(method, url, headers=headers, content=content)
            response = await self._deadlines[verify_tls].handle_async_request(request)
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
