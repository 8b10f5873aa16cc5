"""A small Nacos look-alike on loopback: login and the instance list of the open API v1."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

DEFAULT_NAMESPACE = "public"
"""The namespace Nacos uses when a request names none."""


@dataclass(slots=True)
class NacosInstance:
    """One registered instance of a service."""

    ip: str
    port: int
    healthy: bool = True
    enabled: bool = True
    weight: float = 1.0

    def to_dict(self) -> dict[str, object]:
        """The instance as Nacos lists it."""
        return {
            "instanceId": f"{self.ip}#{self.port}",
            "ip": self.ip,
            "port": self.port,
            "weight": self.weight,
            "healthy": self.healthy,
            "enabled": self.enabled,
            "ephemeral": True,
            "metadata": {},
        }


Registry = dict[str, dict[str, list[NacosInstance]]]
"""namespace → service name → instances."""


@dataclass(slots=True)
class NacosRequest:
    """A request the server received (for tests to assert on)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)


class NacosServer:
    """Serves ``POST /nacos/v1/auth/login`` and ``GET /nacos/v1/ns/instance/list``.

    With ``username``/``password`` set, the instance list requires the ``accessToken`` handed
    out by a successful login; without them no login is needed. Setting ``failing`` makes every
    endpoint answer HTTP 500, to simulate an outage. ``requests`` records what was asked.
    """

    def __init__(
        self,
        registry: Mapping[str, Mapping[str, Iterable[NacosInstance | str]]] | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        token_ttl: int = 18000,
    ) -> None:
        """Create the server (not started).

        Args:
            registry: namespace → service name → instances (``NacosInstance`` or ``"ip:port"``).
            username: the one user allowed to log in; None disables authentication.
            password: that user's password.
            token_ttl: ``tokenTtl`` reported by login, in seconds.
        """
        self.registry: Registry = {}
        for namespace, services in (registry or {}).items():
            for service, instances in services.items():
                for instance in instances:
                    self.register(namespace, service, instance)
        self.username = username
        self.password = password
        self.token_ttl = token_ttl
        self.failing = False
        self.requests: list[NacosRequest] = []
        self.tokens: set[str] = set()
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

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (``port`` 0: a free one).

        Returns:
            The base URL.
        """
        app = web.Application()
        app.router.add_post("/nacos/v1/auth/login", self._login)
        app.router.add_get("/nacos/v1/ns/instance/list", self._instance_list)
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

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        self.requests.append(
            NacosRequest("POST", request.path, {"username": str(form.get("username", ""))})
        )
        if self.failing:
            return web.Response(status=500, text="server error")
        if self.username is None:
            return web.Response(status=404, text="auth is not enabled")
        if form.get("username") != self.username or form.get("password") != self.password:
            return web.Response(status=403, text="unknown user!")
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return web.json_response(
            {"accessToken": token, "tokenTtl": self.token_ttl, "globalAdmin": False}
        )

    async def _instance_list(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append(NacosRequest("GET", request.path, query))
        if self.failing:
            return web.Response(status=500, text="server error")
        if self.username is not None and query.get("accessToken") not in self.tokens:
            return web.Response(status=403, text="token invalid!")
        service = query.get("serviceName", "")
        if not service:
            return web.Response(status=400, text="serviceName is required")
        namespace = query.get("namespaceId") or DEFAULT_NAMESPACE
        group = query.get("groupName") or "DEFAULT_GROUP"
        healthy_only = query.get("healthyOnly", "false").lower() == "true"
        instances = self.registry.get(namespace, {}).get(service, [])
        hosts = [i.to_dict() for i in instances if i.healthy or not healthy_only]
        return web.json_response(
            {
                "name": f"{group}@@{service}",
                "groupName": group,
                "clusters": "",
                "cacheMillis": 10000,
                "hosts": hosts,
                "lastRefTime": 0,
                "checksum": "",
                "allIPs": False,
                "reachProtectionThreshold": False,
                "valid": True,
            }
        )


async def start_nacos(
    registry: Mapping[str, Mapping[str, Iterable[NacosInstance | str]]] | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    port: int = 0,
) -> tuple[NacosServer, str]:
    """Start a ``NacosServer`` on 127.0.0.1.

    Returns:
        The running server (stop it with ``await server.stop()``) and its base URL.
    """
    server = NacosServer(registry, username=username, password=password)
    base_url = await server.start(port)
    return server, base_url
