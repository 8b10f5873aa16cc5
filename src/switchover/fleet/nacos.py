"""A small Nacos look-alike on loopback: login and instance list of the open APIs v1, v2 and v3."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

DEFAULT_NAMESPACE = "public"
"""The namespace Nacos uses when a request names none."""
DEFAULT_GROUP = "DEFAULT_GROUP"
"""The group Nacos uses when a request names none."""
DEFAULT_CLUSTER = "DEFAULT"
"""The cluster an instance is in unless registered elsewhere."""

NACOS_1 = frozenset({"v1"})
"""The APIs of Nacos 1.x."""
NACOS_2 = frozenset({"v1", "v2"})
"""The APIs of Nacos 2.2+ (and the default of this server)."""
NACOS_3 = frozenset({"v1", "v2", "v3"})
"""The APIs of Nacos 3.0/3.1 as configured by default (client compatibility on)."""
NACOS_3_ONLY = frozenset({"v3"})
"""Nacos 3 without the v1/v2 client APIs (their compatibility switch off)."""

V1_LOGIN = "/nacos/v1/auth/login"
V3_LOGIN = "/nacos/v3/auth/user/login"
V1_LIST = "/nacos/v1/ns/instance/list"
V2_LIST = "/nacos/v2/ns/instance/list"
V3_LIST = "/nacos/v3/client/ns/instance/list"


@dataclass(slots=True)
class NacosInstance:
    """One registered instance of a service."""

    ip: str
    port: int
    healthy: bool = True
    enabled: bool = True
    weight: float = 1.0
    cluster: str = DEFAULT_CLUSTER

    def to_dict(self, service: str = "", group: str = DEFAULT_GROUP) -> dict[str, object]:
        """The instance as Nacos lists it."""
        return {
            "instanceId": f"{self.ip}#{self.port}#{self.cluster}#{group}@@{service}",
            "ip": self.ip,
            "port": self.port,
            "weight": self.weight,
            "healthy": self.healthy,
            "enabled": self.enabled,
            "ephemeral": True,
            "clusterName": self.cluster,
            "serviceName": f"{group}@@{service}",
            "metadata": {},
        }


Registry = dict[str, dict[str, list[NacosInstance]]]
"""namespace → service name → instances."""


@dataclass(slots=True)
class NacosRequest:
    """A request the server received (for tests to assert on); never holds a password.

    ``query`` is the query string (for a login: the form's ``username`` only);
    ``access_token`` is the token the request carried, wherever it was put.
    """

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    access_token: str | None = None
    token_header: bool = False


_Handler = Callable[[web.Request, NacosRequest], Awaitable[web.StreamResponse]]


class NacosServer:
    """Serves Nacos' login and instance-list endpoints of the open APIs in ``apis``.

    * ``v1``: ``GET /nacos/v1/ns/instance/list``, the bare service ``{"hosts": [...], ...}``;
      the token is read from the ``accessToken`` parameter or ``Authorization: Bearer``.
    * ``v2``: ``GET /nacos/v2/ns/instance/list``, ``{"code": 0, "message": "success",
      "data": {"hosts": [...], ...}}``; the token from an ``accessToken`` header or parameter.
    * ``v3``: ``GET /nacos/v3/client/ns/instance/list``, ``{"code": 0, "message": "success",
      "data": [instance, ...]}`` without disabled instances and ignoring ``healthyOnly``, as
      Nacos 3.0 does; the token as for v2.
    * Login: ``POST /nacos/v1/auth/login`` while ``v1`` or ``v2`` is served (Nacos 1.x/2.x),
      ``POST /nacos/v3/auth/user/login`` while ``v3`` is; both answer ``{"accessToken",
      "tokenTtl", "globalAdmin", "username"}``, or HTTP 403 for other credentials.

    ``apis`` may change while the server runs (an upgrade). An endpoint of an API not served
    answers ``retired_status``: 404 as a server that never had it (or, like Nacos 3.2, removed
    it), 410 as Nacos 3.0/3.1 with the compatibility switch off; any other path answers 404.
    With ``username``/``password`` set, the instance lists require a token handed out by a
    login. Setting ``failing`` makes every request answer HTTP 500, to simulate an outage.
    ``requests`` records every request, served or not.
    """

    def __init__(
        self,
        registry: Mapping[str, Mapping[str, Iterable[NacosInstance | str]]] | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        token_ttl: int = 18000,
        apis: Iterable[str] = NACOS_2,
        retired_status: int = 404,
    ) -> None:
        """Create the server (not started).

        Args:
            registry: namespace → service name → instances (``NacosInstance`` or ``"ip:port"``).
            username: the one user allowed to log in; None disables authentication (and every
                login is refused).
            password: that user's password.
            token_ttl: ``tokenTtl`` reported by login, in seconds.
            apis: the open APIs served, of ``"v1"``, ``"v2"``, ``"v3"`` (default: Nacos 2.x).
            retired_status: what an endpoint of an API not served answers (404 or 410).
        """
        self.registry: Registry = {}
        for namespace, services in (registry or {}).items():
            for service, instances in services.items():
                for instance in instances:
                    self.register(namespace, service, instance)
        self.username = username
        self.password = password
        self.token_ttl = token_ttl
        self.apis = set(apis)
        unknown = self.apis - NACOS_3
        if unknown:
            raise ValueError(f"unknown Nacos API(s): {', '.join(sorted(unknown))}")
        self.retired_status = retired_status
        self.failing = False
        self.requests: list[NacosRequest] = []
        self.tokens: set[str] = set()
        self._routes: dict[tuple[str, str], tuple[frozenset[str], _Handler]] = {
            ("POST", V1_LOGIN): (NACOS_2, self._login),
            ("POST", V3_LOGIN): (NACOS_3_ONLY, self._login),
            ("GET", V1_LIST): (NACOS_1, self._v1_list),
            ("GET", V2_LIST): (frozenset({"v2"}), self._v2_list),
            ("GET", V3_LIST): (NACOS_3_ONLY, self._v3_list),
        }
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    def register(self, namespace: str, service: str, instance: NacosInstance | str) -> None:
        """Add an instance of ``service`` in ``namespace``."""
        if isinstance(instance, str):
            host, _, port = instance.rpartition(":")
            instance = NacosInstance(ip=host, port=int(port))
        self.registry.setdefault(namespace, {}).setdefault(service, []).append(instance)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._base_url is None:
            raise RuntimeError("the Nacos server is not started")
        return self._base_url

    @property
    def server_addr(self) -> str:
        """``127.0.0.1:PORT``, the form ``settings.nacos.server_addr`` takes."""
        return self.base_url.removeprefix("http://")

    def paths(self, method: str | None = None) -> list[str]:
        """The paths of the requests received so far (of one method, when given), in order."""
        return [r.path for r in self.requests if method is None or r.method == method]

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (``port`` 0: a free one).

        Returns:
            The base URL.
        """
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # Bind first, so port 0 yields a port number we know without poking at internals.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            bound: int = sock.getsockname()[1]
        except OSError:
            sock.close()
            raise
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self._base_url = f"http://127.0.0.1:{bound}"
        return self._base_url

    async def stop(self) -> None:
        """Stop listening and close open connections (idempotent)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> NacosServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("accessToken")
        bearer = request.headers.get("Authorization", "")
        seen = NacosRequest(
            request.method,
            request.path,
            {k: v for k, v in request.query.items() if k != "password"},
            access_token=header
            or request.query.get("accessToken")
            or (bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else None),
            token_header=header is not None,
        )
        self.requests.append(seen)
        if self.failing:
            return web.Response(status=500, text="server error")
        route = self._routes.get((request.method, request.path))
        if route is None:
            return _not_found(request.path)
        needs, handler = route
        if not needs & self.apis:
            if self.retired_status == 404:
                return _not_found(request.path)
            return web.Response(status=self.retired_status, text="this API is not enabled")
        return await handler(request, seen)

    def _authorized(self, request: web.Request, *, header: bool) -> bool:
        """Whether the request carries a live token where this API reads it."""
        if self.username is None:
            return True
        bearer = request.headers.get("Authorization", "")
        found = [request.query.get("accessToken")]
        found.append(bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else None)
        if header:
            found.append(request.headers.get("accessToken"))
        return any(token in self.tokens for token in found if token)

    async def _login(self, request: web.Request, seen: NacosRequest) -> web.StreamResponse:
        form = await request.post()
        username = form.get("username")
        seen.query = {"username": str(username or "")}
        if (
            self.username is None
            or username != self.username
            or form.get("password") != self.password
        ):
            return web.Response(status=403, text="user not found!")
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return web.json_response(
            {
                "accessToken": token,
                "tokenTtl": self.token_ttl,
                "globalAdmin": False,
                "username": self.username,
            }
        )

    def _selected(
        self, request: web.Request, cluster_param: str
    ) -> tuple[str, list[dict[str, object]]]:
        """The group and the instances a list request asks for (``healthyOnly`` aside)."""
        query = request.query
        service = query.get("serviceName", "")
        namespace = query.get("namespaceId") or DEFAULT_NAMESPACE
        group = query.get("groupName") or DEFAULT_GROUP
        clusters = {c for c in query.get(cluster_param, "").split(",") if c}
        instances = [
            i
            for i in self.registry.get(namespace, {}).get(service, [])
            if not clusters or i.cluster in clusters
        ]
        return group, [i.to_dict(service, group) for i in instances]

    def _service(self, request: web.Request, cluster_param: str) -> dict[str, object]:
        """The service as the v1 and v2 lists answer it."""
        group, hosts = self._selected(request, cluster_param)
        if request.query.get("healthyOnly", "false").lower() == "true":
            hosts = [h for h in hosts if h["healthy"]]
        return {
            "name": f"{group}@@{request.query['serviceName']}",
            "groupName": group,
            "clusters": request.query.get(cluster_param, ""),
            "cacheMillis": 10000,
            "hosts": hosts,
            "lastRefTime": 0,
            "checksum": "",
            "allIPs": False,
            "reachProtectionThreshold": False,
            "valid": True,
        }

    async def _v1_list(self, request: web.Request, seen: NacosRequest) -> web.StreamResponse:
        if not self._authorized(request, header=False):
            return web.Response(status=403, text="token invalid!")
        if not request.query.get("serviceName"):
            return web.Response(status=400, text="serviceName is required")
        return web.json_response(self._service(request, "clusters"))

    async def _v2_list(self, request: web.Request, seen: NacosRequest) -> web.StreamResponse:
        if not self._authorized(request, header=True):
            return _failure(403, 10001, "access denied")
        if not request.query.get("serviceName"):
            return _failure(400, 10000, "parameter missing")
        return _success(self._service(request, "clusterName"))

    async def _v3_list(self, request: web.Request, seen: NacosRequest) -> web.StreamResponse:
        if not self._authorized(request, header=True):
            return _failure(403, 10001, "access denied")
        if not request.query.get("serviceName"):
            return _failure(400, 10000, "parameter missing")
        _, hosts = self._selected(request, "clusterName")
        return _success([h for h in hosts if h["enabled"]])


def _success(data: object) -> web.Response:
    return web.json_response({"code": 0, "message": "success", "data": data})


def _failure(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "data": None}, status=status)


def _not_found(path: str) -> web.Response:
    """What the web framework under Nacos answers for a path it has no route for."""
    body = {"timestamp": "1970-01-01T00:00:00.000+00:00", "status": 404, "error": "Not Found"}
    return web.json_response({**body, "path": path}, status=404)


async def start_nacos(
    registry: Mapping[str, Mapping[str, Iterable[NacosInstance | str]]] | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    apis: Iterable[str] = NACOS_2,
    retired_status: int = 404,
    port: int = 0,
) -> tuple[NacosServer, str]:
    """Start a ``NacosServer`` on 127.0.0.1 (arguments as for ``NacosServer``).

    Returns:
        The running server (stop it with ``await server.stop()``) and its base URL.
    """
    server = NacosServer(
        registry, username=username, password=password, apis=apis, retired_status=retired_status
    )
    base_url = await server.start(port)
    return server, base_url
