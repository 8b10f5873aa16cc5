"""Nacos discovery: healthy instances from Nacos' open API (v3, v2 or v1), cached, with a fallback.

Nacos' own Python SDK is not used: ``nacos-sdk-python`` 3.x (``v2.nacos``) talks gRPC to a
second server port with its own connection tasks and disk cache, cannot talk to Nacos 1.x, and
would bypass the shared HTTP client and its timeouts, where one GET per lookup is all we need.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from switchover.clock import Clock
from switchover.discovery.protocol import DiscoveryQuery
from switchover.discovery.static import StaticDiscovery
from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.settings import Settings

_log = logging.getLogger(__name__)

_MESSAGE_LIMIT = 120
"""How much of a message Nacos returns is quoted in an error."""


@dataclass(frozen=True, slots=True)
class NacosApi:
    """One generation of Nacos' HTTP open API: where to log in and to list instances.

    ``enveloped``: the list answers ``{"code": 0, "message": "success", "data": ...}``;
    ``token_header``: the access token goes in an ``accessToken`` header (else in an
    ``accessToken`` query parameter); ``cluster_param`` names the comma-separated cluster filter.
    """

    version: str
    login_path: str
    list_path: str
    cluster_param: str
    enveloped: bool
    token_header: bool


API_V3 = NacosApi(
    "v3",
    login_path="/nacos/v3/auth/user/login",
    list_path="/nacos/v3/client/ns/instance/list",
    cluster_param="clusterName",
    enveloped=True,
    token_header=True,
)
"""Nacos 3.x: the client open API and the v3 login (neither exists before 3.0).

The list's ``data`` is the array of instances; it leaves disabled instances out and may ignore
``healthyOnly`` (3.0 does), so health is filtered here as well.
"""

API_V2 = NacosApi(
    "v2",
    login_path="/nacos/v1/auth/login",
    list_path="/nacos/v2/ns/instance/list",
    cluster_param="clusterName",
    enveloped=True,
    token_header=True,
)
"""Nacos 2.2+ open API v2; 2.x has no v2 login and logs in through the v1 one.

Nacos 3.0/3.1 still serve it while ``nacos.core.api.compatibility.client.enabled`` is on (their
default; HTTP 410 when off); 3.2 removed it (HTTP 404). The list's ``data`` is the service:
``{"hosts": [...], ...}``.
"""

API_V1 = NacosApi(
    "v1",
    login_path="/nacos/v1/auth/login",
    list_path="/nacos/v1/ns/instance/list",
    cluster_param="clusters",
    enveloped=False,
    token_header=False,
)
"""Nacos 1.x open API, also served by 2.x and by 3.0/3.1 behind the same compatibility switch.

3.2 removed it (HTTP 404) except for the login, which every version from 1.2 to 3.x answers.
The list answers the bare service, ``{"hosts": [...], ...}``; the token travels as the
``accessToken`` parameter, where 1.x reads it.
"""

APIS = {api.version: api for api in (API_V3, API_V2, API_V1)}
"""``nacos.api`` value → the API; ``auto`` tries them in this order."""


class _NacosQueryError(Exception):
    """One Nacos lookup failed; the message says why and never holds a credential.

    ``transient``: worth retrying (unreachable, timed out, HTTP 5xx). ``cause`` is
    ``"authentication"`` when the credentials were refused or a login is needed.
    """

    def __init__(self, message: str, *, transient: bool = False, cause: str | None = None):
        super().__init__(message)
        self.transient = transient
        self.cause = cause


class _UnsupportedError(_NacosQueryError):
    """The server does not serve this API generation (HTTP 404 that is not Nacos', or 410)."""


class NacosDiscovery:
    """Looks instances up in Nacos' HTTP open API, falling back to ``StaticDiscovery``.

    For a service key, the Nacos service name comes from ``settings.nacos.service_names``; the
    query asks for healthy instances of that service in the tenant's namespace, the configured
    group and (when set) ``settings.nacos.clusters``, and keeps the ones reported healthy and
    enabled, as ``ip:port``. A non-empty answer is cached per (service key, namespace) for
    ``settings.nacos.cache_ttl`` seconds of ``clock.monotonic()``; concurrent lookups of the
    same pair share one request.

    ``settings.nacos.api`` chooses the API (``API_V3``, ``API_V2``, ``API_V1``); with ``auto``
    each server is tried with v3, then v2, then v1, moving on when an API answers "not found"
    (HTTP 404) or "gone" (HTTP 410), and the API that answered is used for that server from
    then on (tried again from the top should it stop answering, as after an upgrade).

    When ``settings.nacos.username`` is set, the client logs in at the API's login path first
    and caches each server's access token for most of its lifetime, logging in again when
    Nacos refuses it. ``server_addr`` may list several servers separated by commas; they are
    tried in order.

    Any Nacos failure or an empty answer means the static list is used; when that is empty
    too, the lookup fails with ``SERVICE_UNAVAILABLE`` saying what was tried: a
    ``TransientError`` when every server was unreachable, timed out or answered HTTP 5xx, a
    plain ``StepFailedError`` otherwise (``details["cause"] == "authentication"`` when the
    credentials were refused or are missing). The password never appears in logs or errors.
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
            settings: the ``nacos`` section (server, API, credentials, group, clusters, names,
                cache TTL) and, when ``http`` is None, the ``http`` timeouts of the client
                made here.
            http: a shared httpx client, or None to own one (closed by ``aclose``).
            clock: ``monotonic()`` times the cache and the tokens.
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
        self._apis: dict[str, NacosApi] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._login_locks: dict[str, asyncio.Lock] = {}

    async def instances(self, query: DiscoveryQuery) -> list[str]:
        """Instances of ``query.service_key`` in ``query.namespace``.

        Raises:
            TransientError: Nacos was unreachable, timed out or answered HTTP 5xx, and the
                static list is empty (SERVICE_UNAVAILABLE).
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
                failure = exc
            else:
                if found:
                    self._cache[key] = (self._clock.monotonic() + self._settings.cache_ttl, found)
                    return list(found)
                failure = _NacosQueryError("Nacos reported no healthy instance")
        reason = str(failure)
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
        message = (
            f"no instances of {query.service_key} in namespace {query.namespace!r}: "
            f"Nacos lookup failed ({reason}) and discovery.fallback_instances."
            f"{query.service_key} is empty"
        )
        details: dict[str, Any] = {
            "service_key": query.service_key,
            "namespace": query.namespace,
            "nacos": reason,
            "fallback_instances": 0,
        }
        if failure.cause is not None:
            details["cause"] = failure.cause
        if failure.transient:
            raise TransientError(ErrorType.SERVICE_UNAVAILABLE, message, details=details)
        raise StepFailedError(ErrorType.SERVICE_UNAVAILABLE, message, details=details)

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
        """Forget every cached instance list and access token (not which API servers speak)."""
        self._cache.clear()
        self._tokens.clear()

    async def _lookup(self, query: DiscoveryQuery) -> list[str]:
        service = self._settings.service_names.get(query.service_key)
        if not service:
            raise _NacosQueryError(f"no Nacos service name configured for {query.service_key}")
        if not self._servers:
            raise _NacosQueryError("no Nacos server configured")
        problems: list[tuple[str, _NacosQueryError]] = []
        for server in self._servers:
            try:
                return await self._list_instances(server, service, query.namespace)
            except _NacosQueryError as exc:
                problems.append((server, exc))
        raise _NacosQueryError(
            f"service {service!r}: "
            + "; ".join(f"{_shown(server)}: {exc}" for server, exc in problems),
            transient=all(exc.transient for _, exc in problems),
            cause=next((exc.cause for _, exc in problems if exc.cause), None),
        )

    async def _list_instances(self, server: str, service: str, namespace: str | None) -> list[str]:
        """Instances from one server, with the configured API or the first one it serves."""
        if self._settings.api != "auto":
            fixed = APIS[self._settings.api]
            try:
                return await self._list_with(server, fixed, service, namespace)
            except _UnsupportedError as exc:
                raise _NacosQueryError(
                    f"{exc}: the server does not serve the {fixed.version} open API "
                    f"(nacos.api is {fixed.version})"
                ) from exc
        known = self._apis.get(server)
        order = [api for api in APIS.values() if api is not known]
        unsupported: list[str] = []
        for api in [known, *order] if known is not None else order:
            try:
                found = await self._list_with(server, api, service, namespace)
            except _UnsupportedError as exc:
                unsupported.append(str(exc))
                if self._apis.get(server) is api:
                    del self._apis[server]
                continue
            if self._apis.get(server) is not api:
                _log.info("nacos server %s answers its %s open API", _shown(server), api.version)
                self._apis[server] = api
            return found
        raise _NacosQueryError(
            "answers none of the v3, v2 and v1 open APIs (" + "; ".join(unsupported) + ")"
        )

    async def _list_with(
        self, server: str, api: NacosApi, service: str, namespace: str | None
    ) -> list[str]:
        params = {
            "serviceName": service,
            "groupName": self._settings.group,
            "healthyOnly": "true",
        }
        if namespace:
            params["namespaceId"] = namespace
        if self._settings.clusters:
            params[api.cluster_param] = ",".join(self._settings.clusters)
        what = f"GET {api.list_path}"
        for attempt in range(2):
            token = await self._access_token(server, api)
            headers: dict[str, str] = {}
            if token is not None and api.token_header:
                headers["accessToken"] = token
            elif token is not None:
                params["accessToken"] = token
            status, body = await self._request(
                "GET", server, api.list_path, params=params, headers=headers
            )
            if status in (401, 403):
                if token is None:
                    raise _NacosQueryError(
                        f"{what} answered HTTP {status}: this Nacos requires a login "
                        "(set nacos.username and nacos.password)",
                        cause="authentication",
                    )
                if attempt == 0:
                    # The token may have expired early (server restart); log in once more.
                    self._tokens.pop(server, None)
                    continue
                raise _NacosQueryError(
                    f"{what} answered HTTP {status} to user {self._settings.username!r} after "
                    "a fresh login (check the user's read permission on the namespace)",
                    cause="authentication",
                )
            _check_status(what, status, body)
            return _healthy_hosts(api, body)
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _access_token(self, server: str, api: NacosApi) -> str | None:
        username = self._settings.username
        if not username:
            return None
        lock = self._login_locks.setdefault(server, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(server)
            if cached is not None and self._clock.monotonic() < cached[1]:
                return cached[0]
            password = self._settings.password
            form = {
                "username": username,
                "password": password.get_secret_value() if password is not None else "",
            }
            status, body = await self._request("POST", server, api.login_path, data=form)
            if status in (401, 403):
                raise _NacosQueryError(
                    f"login as {username!r} at {api.login_path} refused (HTTP {status}): "
                    "check nacos.username and nacos.password",
                    cause="authentication",
                )
            # Never quote a login answer: a server may echo what it was sent.
            _check_status(f"login at {api.login_path}", status, None)
            answer = body
            if isinstance(body, dict) and "accessToken" not in body:
                answer = body.get("data")  # the token inside the Nacos envelope
            token = answer.get("accessToken") if isinstance(answer, dict) else None
            if not isinstance(token, str) or not token:
                raise _NacosQueryError("login answer has no accessToken")
            ttl: Any = answer.get("tokenTtl")
            valid = isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl > 0
            lifetime = float(ttl) if valid else 18000.0
            # Renew a little early so a token never expires in flight.
            self._tokens[server] = (token, self._clock.monotonic() + lifetime * 0.9)
            return token

    async def _request(
        self,
        method: str,
        server: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        shown = f"{method} {path}"  # the server is named by the caller
        try:
            response = await self._http.request(
                method, server + path, params=params, data=data, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise _NacosQueryError(
                f"{shown} timed out ({type(exc).__name__})", transient=True
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise _NacosQueryError(f"{shown} cannot be sent ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _NacosQueryError(
                f"{shown} failed ({type(exc).__name__})", transient=True
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _NacosQueryError(f"{shown} failed ({type(exc).__name__})") from exc
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


def _shown(server: str) -> str:
    """``server`` without any ``user:password@`` part, for messages."""
    scheme, _, rest = server.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def _nacos_message(body: Any) -> str | None:
    """The ``message`` of a Nacos error answer (``{"code": N, "message": ...}``), if it is one."""
    if not isinstance(body, dict):
        return None
    code, message = body.get("code"), body.get("message")
    if isinstance(code, bool) or not isinstance(code, int) or not isinstance(message, str):
        return None
    text = " ".join(message.split())
    return text[: _MESSAGE_LIMIT - 3] + "..." if len(text) > _MESSAGE_LIMIT else text


def _check_status(what: str, status: int, body: Any) -> None:
    """Raise unless ``status`` is 200: "not served" (404/410), transient (5xx), or a refusal."""
    if status == 200:
        return
    said = _nacos_message(body)
    # Nacos' own 404 (an unknown namespace or service) carries its envelope; a route the
    # server does not have answers the web framework's bare 404.
    if status == 410 or (status == 404 and said is None):
        raise _UnsupportedError(f"{what} answered HTTP {status}")
    detail = f" ({said})" if said else ""
    raise _NacosQueryError(f"{what} answered HTTP {status}{detail}", transient=status >= 500)


def _healthy_hosts(api: NacosApi, body: Any) -> list[str]:
    if api.enveloped:
        code = body.get("code") if isinstance(body, dict) else None
        if isinstance(code, bool) or code != 0:
            said = _nacos_message(body)
            raise _NacosQueryError(
                f"GET {api.list_path} answered code {code!r}" + (f" ({said})" if said else "")
            )
        # v3 answers the instances themselves, v2 the service that holds them.
        body = body.get("data")
        if isinstance(body, list):
            body = {"hosts": body}
    hosts = body.get("hosts") if isinstance(body, dict) else None
    if not isinstance(hosts, list):
        raise _NacosQueryError(f"GET {api.list_path} answered no hosts array")
    found: list[str] = []
    for host in hosts:
        if not isinstance(host, dict):
            continue
        ip, port = host.get("ip"), host.get("port")
        if not isinstance(ip, str) or not ip or isinstance(port, bool) or not isinstance(port, int):
            continue
        if host.get("healthy", True) is False or host.get("enabled", True) is False:
            continue
        found.append(f"{ip}:{port}")
    return list(dict.fromkeys(found))
