"""The HTTP adapter of the steps: one shared httpx client, httpx errors translated at its edge."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.settings import Settings

DEFAULT_MAX_CONNECTIONS = 1024
"""Connections kept open at once: verify fans out to every instance of a service."""


class HttpClient:
    """JSON over HTTP for the steps, on one connection pool shared by every task.

    Every method returns ``(status, body)`` for a response below 500, where ``body`` is the
    decoded JSON or None when the response is not JSON. Failures come out as switchover errors:

    * connection refused / reset, protocol breakage: ``TransientError(NETWORK_ERROR)``;
    * connect, read, write or pool timeouts: ``TransientError(TIMEOUT_ERROR)``;
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
            settings: timeouts come from ``settings.http``.
            transport: replaces the network (``httpx.MockTransport`` in unit tests).
            max_connections: size of the connection pool.
        """
        connect = settings.http.connect_timeout
        read = settings.http.read_timeout
        self._timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect + read)
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._transport = transport
        self._client = self._make_client(verify=True)
        self._insecure: httpx.AsyncClient | None = None

    def _make_client(self, *, verify: bool) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._timeout,
            limits=self._limits,
            transport=self._transport,
            verify=verify,
            follow_redirects=False,
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
        client = self._client if verify_tls else self._insecure_client()
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        merged = {"Content-Type": "application/json", **(headers or {})}
        response = await self._send("POST", url, headers=merged, content=content, client=client)
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
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        where = f"{method} {_without_query(url)}"
        try:
            response = await (client or self._client).request(
                method, url, headers=headers, content=content
            )
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
