"""Nacos discovery: healthy instances from Nacos' open API, cached, with a static fallback."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

import httpx

from switchover.clock import Clock
from switchover.discovery.protocol import DiscoveryQuery
from switchover.discovery.static import StaticDiscovery
from switchover.errors import ErrorType, StepFailedError
from switchover.settings import Settings

LOGIN_PATH = "/nacos/v1/auth/login"
INSTANCE_LIST_PATH = "/nacos/v1/ns/instance/list"

_log = logging.getLogger(__name__)


class _NacosQueryError(Exception):
    """One Nacos lookup failed; the message says why and never holds a credential."""


class NacosDiscovery:
    """Looks instances up in Nacos (open API v1), falling back to ``StaticDiscovery``.

    For a service key, the Nacos service name comes from ``settings.nacos.service_names``; the
    query asks for healthy instances of that service in the tenant's namespace and the
    configured group, and keeps the ones reported healthy and enabled, as ``ip:port``. A
    non-empty answer is cached per (service key, namespace) for ``settings.nacos.cache_ttl``
    seconds of ``clock.monotonic()``; concurrent lookups of the same pair share one request.

    When ``settings.nacos.username`` is set, the client logs in first and caches the access
    token for most of its lifetime, logging in again when Nacos refuses it. ``server_addr``
    may list several servers separated by commas; they are tried in order.

    Any Nacos failure (unreachable, timeout, HTTP error, bad answer) or an empty answer means
    the static list is used; when that is empty too, the lookup fails with
    ``SERVICE_UNAVAILABLE`` saying what was tried. The password never appears in logs or errors.
    """

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient | None,
        clock: Clock,
        fallback: StaticDiscovery,
    ) -> None:
        """Set up the client; nothing is requested until the first lookup.

        Args:
            settings: the ``nacos`` section (server, credentials, group, names, cache TTL) and,
                when ``http`` is None, the ``http`` timeouts of the client made here.
            http: a shared httpx client, or None to own one (closed by ``aclose``).
            clock: ``monotonic()`` times the cache and the token.
            fallback: used when Nacos fails or knows no instance.
        """
        self._settings = settings.nacos
        self._servers = [_base_url(addr) for addr in settings.nacos.server_addr.split(",")]
        self._servers = [server for server in self._servers if server]
        self._owns_http = http is None
        if http is None:
            connect, read = settings.http.connect_timeout, settings.http.read_timeout
            http = httpx.AsyncClient(
                timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=connect + read)
            )
        self._http = http
        self._clock = clock
        self._fallback = fallback
        self._cache: dict[tuple[str, str | None], tuple[float, list[str]]] = {}
        self._locks: dict[tuple[str, str | None], asyncio.Lock] = {}
        self._token: str | None = None
        self._token_expires = 0.0
        self._login_lock = asyncio.Lock()

    async def instances(self, query: DiscoveryQuery) -> list[str]:
        """Instances of ``query.service_key`` in ``query.namespace``.

        Raises:
            StepFailedError: neither Nacos nor the static list has an instance
                (SERVICE_UNAVAILABLE; details name the service key, namespace and Nacos' answer).
        """
        key = (query.service_key, query.namespace)
        cached = self._cached(key)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._cached(key)
            if cached is not None:
                return cached
            try:
                found = await self._lookup(query)
            except _NacosQueryError as exc:
                reason = str(exc)
            else:
                if found:
                    self._cache[key] = (self._clock.monotonic() + self._settings.cache_ttl, found)
                    return list(found)
                reason = "Nacos reported no healthy instance"
        fallback = self._fallback.configured(query.service_key)
        if fallback:
            _log.warning(
                "nacos lookup of %s in namespace %r failed (%s); using %d static instance(s)",
                query.service_key,
                query.namespace,
                reason,
                len(fallback),
            )
            return fallback
        raise StepFailedError(
            ErrorType.SERVICE_UNAVAILABLE,
            f"no instances of {query.service_key} in namespace {query.namespace!r}: "
            f"Nacos lookup failed ({reason}) and discovery.fallback_instances."
            f"{query.service_key} is empty",
            details={
                "service_key": query.service_key,
                "namespace": query.namespace,
                "nacos": reason,
                "fallback_instances": 0,
            },
        )

    def _cached(self, key: tuple[str, str | None]) -> list[str] | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires, found = entry
        if self._clock.monotonic() >= expires:
            del self._cache[key]
            return None
        return list(found)

    def invalidate(self) -> None:
        """Forget every cached instance list and the access token."""
        self._cache.clear()
        self._token = None

    async def _lookup(self, query: DiscoveryQuery) -> list[str]:
        service = self._settings.service_names.get(query.service_key)
        if not service:
            raise _NacosQueryError(f"no Nacos service name configured for {query.service_key}")
        if not self._servers:
            raise _NacosQueryError("no Nacos server configured")
        problems: list[str] = []
        for server in self._servers:
            try:
                return await self._list_instances(server, service, query.namespace)
            except _NacosQueryError as exc:
                problems.append(f"{server}: {exc}")
        raise _NacosQueryError(f"service {service!r}: " + "; ".join(problems))

    async def _list_instances(self, server: str, service: str, namespace: str | None) -> list[str]:
        for attempt in range(2):
            params = {
                "serviceName": service,
                "groupName": self._settings.group,
                "healthyOnly": "true",
            }
            if namespace:
                params["namespaceId"] = namespace
            token = await self._access_token(server)
            if token is not None:
                params["accessToken"] = token
            status, body = await self._request("GET", server + INSTANCE_LIST_PATH, params=params)
            if status in (401, 403) and token is not None and attempt == 0:
                # The token may have expired early (server restart); log in once more.
                self._token = None
                continue
            if status != 200:
                raise _NacosQueryError(f"instance list answered HTTP {status}")
            return _healthy_hosts(body)
        raise _NacosQueryError("instance list refused the access token")

    async def _access_token(self, server: str) -> str | None:
        username = self._settings.username
        if not username:
            return None
        async with self._login_lock:
            if self._token is not None and self._clock.monotonic() < self._token_expires:
                return self._token
            password = self._settings.password
            form = {
                "username": username,
                "password": password.get_secret_value() if password is not None else "",
            }
            status, body = await self._request("POST", server + LOGIN_PATH, data=form)
            if status != 200 or not isinstance(body, dict):
                raise _NacosQueryError(f"login as {username!r} answered HTTP {status}")
            token = body.get("accessToken")
            if not isinstance(token, str) or not token:
                raise _NacosQueryError("login answer has no accessToken")
            ttl = body.get("tokenTtl")
            lifetime = float(ttl) if isinstance(ttl, int | float) and ttl > 0 else 18000.0
            # Renew a little early so a token never expires in flight.
            self._token_expires = self._clock.monotonic() + lifetime * 0.9
            self._token = token
            return token

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        try:
            response = await self._http.request(method, url, params=params, data=data)
        except httpx.TimeoutException as exc:
            raise _NacosQueryError(f"{method} {url} timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise _NacosQueryError(f"{method} {url} failed ({type(exc).__name__})") from exc
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        return response.status_code, body

    async def aclose(self) -> None:
        """Close the HTTP client when this object made it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> NacosDiscovery:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _base_url(addr: str) -> str:
    addr = addr.strip().rstrip("/")
    if not addr:
        return ""
    return addr if "://" in addr else f"http://{addr}"


def _healthy_hosts(body: Any) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("hosts"), list):
        raise _NacosQueryError("instance list answer has no hosts array")
    found: list[str] = []
    for host in body["hosts"]:
        if not isinstance(host, dict):
            continue
        ip, port = host.get("ip"), host.get("port")
        if not isinstance(ip, str) or not ip or isinstance(port, bool) or not isinstance(port, int):
            continue
        if host.get("healthy", True) is False or host.get("enabled", True) is False:
            continue
        found.append(f"{ip}:{port}")
    return list(dict.fromkeys(found))
