"""Loopback HTTP instances that behave like the platform's services, with fault knobs.

Many instances share one aiohttp application and one ``AppRunner`` (an ``InstanceServer``):
each instance owns a listening socket on its own port, and a request is routed to its
instance by the local port it arrived on. Config instances (blue-green gateways, OB services)
learn tenant configs from a ``ConfigFeed`` (the fleet's one shared Redis subscription), so a
thousand instances cost one pub/sub connection and one hash read per notification.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from switchover import wire
from switchover.settings import Settings

LOOPBACK = "127.0.0.1"
"""Every fleet socket binds here and nowhere else."""

BG_GATEWAY_APP = wire.BG_GATEWAY_FIELD
"""appName of the blue-green gateway instances."""

OB_APP = wire.OB_FIELD
"""appName of the OB service instances."""

REJECT_MESSAGE = "rejected by fault"
"""Message of every answer shaped by the ``reject_code`` fault."""

ADMIN_PREFIX = "/_fleet/"
"""Paths under this prefix are the fleet's own admin endpoints, never slowed or dropped."""

_log = logging.getLogger(__name__)

_I = TypeVar("_I", bound="Instance")


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault knobs of one instance; change them with ``Instance.set_faults``.

    Attributes:
        lag: seconds between a notification and applying it (config instances).
        down: refuse connections; the port stays reserved and the instance comes back on it.
            Notifications still apply meanwhile: this plays a network outage, and a gateway
            coming back reports the current config as a restarted one would.
        stale: never apply notifications; keep reporting what was loaded before.
        stale_tenants: like ``stale``, for these tenants only.
        reject_code: the portal answers this code, the ASBC fails every number, a config
            instance answers 500 on verify.
        slow: seconds added to every response.
        unhealthy: ``/actuator/health`` answers ``DOWN``.
    """

    lag: float = 0.0
    down: bool = False
    stale: bool = False
    stale_tenants: tuple[str, ...] = ()
    reject_code: str | None = None
    slow: float = 0.0
    unhealthy: bool = False

    def __post_init__(self) -> None:
        # Accept any iterable of tenant ids; keep a tuple so the knobs stay immutable.
        object.__setattr__(self, "stale_tenants", tuple(self.stale_tenants))
        for name in ("lag", "slow"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"fault {name!r} must be a finite number >= 0, not {value!r}")

    def to_json(self) -> dict[str, Any]:
        """The knobs as a JSON object, as ``GET /_fleet/faults`` shows them."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["stale_tenants"] = list(self.stale_tenants)
        return values

    def ignores(self, tenant_id: str) -> bool:
        """Whether notifications for this tenant are not applied (``stale``)."""
        return self.stale or tenant_id in self.stale_tenants

    def updated(self, changes: Mapping[str, Any]) -> Faults:
        """A copy with ``changes`` applied; unnamed knobs keep their value.

        Raises:
            ValueError: an unknown knob or a value of the wrong type.
        """
        values = self.to_json()
        for name, value in changes.items():
            if name not in values:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(values)}")
            values[name] = _check_knob(name, value)
        return Faults(**values)


def _check_knob(name: str, value: Any) -> Any:
    if name in ("lag", "slow"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"fault {name!r} must be a number, not {value!r}")
        return float(value)
    if name == "stale_tenants":
        if isinstance(value, list | tuple) and all(isinstance(t, str) for t in value):
            return tuple(value)
        raise ValueError(f"fault 'stale_tenants' must be a list of tenant ids, not {value!r}")
    if name == "reject_code":
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"fault 'reject_code' must be a string or null, not {value!r}")
    if not isinstance(value, bool):
        raise ValueError(f"fault {name!r} must be true or false, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """What a config instance loaded for a tenant: ``metadata.version`` and its own field."""

    version: Any
    config: Mapping[str, Any] | None

    @classmethod
    def from_hash(cls, fields_: Mapping[str, str], app_name: str) -> LoadedConfig | None:
        """Parse a tenant hash as an instance of ``app_name`` reads it; None if it is empty."""
        if not fields_:
            return None
        metadata = wire.parse_json_object(fields_.get(wire.METADATA_FIELD))
        version = metadata.get("version") if metadata is not None else None
        return cls(version=version, config=wire.parse_json_object(fields_.get(app_name)))


class Instance:
    """One service instance: a loopback port, fault knobs and the calls it received.

    ``calls`` holds the JSON bodies of well-formed, authorised business requests in arrival
    order; ``requests`` counts every non-admin request.
    """

    def __init__(self, faults: Faults | None = None) -> None:
        """Create an instance; it serves nothing until ``InstanceServer.add`` binds it.

        Args:
            faults: initial fault knobs (none by default).
        """
        self._faults = faults or Faults()
        self._server: InstanceServer | None = None
        self.port = 0
        self.calls: list[dict[str, Any]] = []
        self.requests = 0

    @property
    def service_key(self) -> str:
        """Discovery key of this instance's service (one of ``SERVICE_KEYS``)."""
        raise NotImplementedError

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as discovery lists it."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def faults(self) -> Faults:
        """The current fault knobs."""
        return self._faults

    async def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the fault knobs, or change some of them.

        Args:
            faults: the new knobs (default: the current ones).
            **changes: knobs to change on top, e.g. ``down=True``.

        Returns:
            The knobs now in force.

        Raises:
            ValueError: an unknown knob or a bad value.
            OSError: coming back up failed because the port could not be bound again.
        """
        new = (faults or self._faults).updated(changes)
        old, self._faults = self._faults, new
        if self._server is not None:
            await self._server.faults_changed(self, old, new)
        return new

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        self.calls.clear()


class ConfigInstance(Instance):
    """A blue-green gateway (``icc-bg-gateway``) or OB service (``ob-campaign``) instance."""

    def __init__(self, app_name: str = BG_GATEWAY_APP, faults: Faults | None = None) -> None:
        """Create a config instance.

        Args:
            app_name: the appName it answers to, and the hash field it reads.
            faults: initial fault knobs.
        """
        super().__init__(faults)
        self.app_name = app_name
        self.feed: ConfigFeed | None = None
        # Tenants for which this instance diverges from its app's shared view (lag, stale).
        self.pinned: dict[str, LoadedConfig | None] = {}

    @property
    def service_key(self) -> str:
        """``blueGreenGatewayService`` or ``obService``, after the app name."""
        return "obService" if self.app_name == OB_APP else "blueGreenGatewayService"

    def loaded(self, tenant_id: str) -> LoadedConfig | None:
        """What this instance has loaded for a tenant, without touching Redis."""
        if tenant_id in self.pinned:
            return self.pinned[tenant_id]
        if self.feed is None or self._faults.ignores(tenant_id):
            return None
        return self.feed.shared(self.app_name).get(tenant_id)

    async def current(self, tenant_id: str) -> LoadedConfig | None:
        """What the verify endpoint reports: loaded state, read from Redis on first sight.

        An instance ignoring the tenant (stale) loads nothing new, not even on first sight.
        """
        found = self.loaded(tenant_id)
        if found is not None or tenant_id in self.pinned or self._faults.ignores(tenant_id):
            return found
        return await self.feed.lazy_load(self.app_name, tenant_id) if self.feed else None


class ConfigFeed(Protocol):
    """Where config instances learn tenant configs: notifications and lazy reads."""

    def register(self, instance: ConfigInstance) -> None:
        """Deliver notifications of ``instance.app_name`` to ``instance`` from now on."""
        ...

    def faults_changed(self, instance: ConfigInstance, old: Faults) -> None:
        """Take note of an instance's new fault knobs (``old``: the previous ones)."""
        ...

    def shared(self, app_name: str) -> Mapping[str, LoadedConfig]:
        """The view of every tenant shared by the in-sync instances of an app."""
        ...

    async def lazy_load(self, app_name: str, tenant_id: str) -> LoadedConfig | None:
        """Load a tenant nobody has seen yet (None when it is not stored)."""
        ...


class PortalInstance(Instance):
    """The agent portal: accepts blue-green switch notifications."""

    @property
    def service_key(self) -> str:
        """``portalService``."""
        return "portalService"


class AsbcInstance(Instance):
    """The ASBC session border controller: switches called-number traffic to a trunk group."""

    @property
    def service_key(self) -> str:
        """``asbcService``."""
        return "asbcService"

    def __init__(self, token: str | None = None, faults: Faults | None = None) -> None:
        """Create an ASBC instance.

        Args:
            token: when set, requests need ``Authorization: Bearer <token>`` (else 401).
            faults: initial fault knobs.
        """
        super().__init__(faults)
        self.token = token


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=wire.dumps)


async def _json_body(request: web.Request) -> Mapping[str, Any] | None:
    return wire.parse_json_object(await request.read())


def _portal_problem(body: Mapping[str, Any] | None) -> str | None:
    if body is None:
        return "body must be a JSON object"
    for name in ("tenantId", "targetDeployUnit"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} must be a non-empty string"
    timestamp = body.get("timestamp")
    if not isinstance(timestamp, str) or not timestamp.isdigit():
        return "timestamp must be a string of epoch milliseconds"
    return None


def _asbc_problem(body: Mapping[str, Any] | None) -> str | None:
    if body is None:
        return "body must be a JSON object"
    numbers = body.get("calledNumberMatch")
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        return "calledNumberMatch must be a list of strings"
    trunk = body.get("targetTrunkGroupName")
    if not isinstance(trunk, str) or not trunk:
        return "targetTrunkGroupName must be a non-empty string"
    return None


def _bind(port: int) -> socket.socket:
    """A TCP socket bound to the loopback port (0: any free one), not yet listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
    except OSError:
        sock.close()
        raise
    return sock


class InstanceServer:
    """One aiohttp application and runner serving many instances, each on its own port.

    Routes (paths from settings): ``GET {verify.path}`` on config instances, ``POST
    {portal.path}`` on portals, ``POST {asbc.path}`` on ASBCs, ``GET {discovery.health_path}``
    on all, and the admin endpoints ``GET|POST /_fleet/faults`` and ``GET|DELETE
    /_fleet/calls`` (``?port=N`` addresses another instance of this server, e.g. one that is
    down).
    """

    def __init__(
        self, settings: Settings, feed: ConfigFeed | None = None, *, shutdown_timeout: float = 1.0
    ) -> None:
        """Create the server; ``start`` sets it up.

        Args:
            settings: paths of the routes.
            feed: where config instances learn tenant configs (required to add one).
            shutdown_timeout: seconds in-flight requests get at ``close``.
        """
        self._settings = settings
        self._feed = feed
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._by_port: dict[int, Instance] = {}
        self._sites: dict[int, web.SockSite] = {}
        self._reserved: dict[int, socket.socket] = {}

    @property
    def instances(self) -> list[Instance]:
        """Every instance added, in order."""
        return list(self._by_port.values())

    def get(self, port: int) -> Instance | None:
        """The instance on a port, if any."""
        return self._by_port.get(port)

    async def start(self) -> None:
        """Set up the application and runner (no port is bound yet)."""
        app = web.Application(middlewares=[self._middleware])
        router = app.router
        router.add_get(self._settings.verify.path, self._verify)
        router.add_post(self._settings.portal.path, self._portal)
        router.add_post(self._settings.asbc.path, self._asbc)
        router.add_get(self._settings.discovery.health_path, self._health)
        router.add_get(ADMIN_PREFIX + "faults", self._get_faults)
        router.add_post(ADMIN_PREFIX + "faults", self._post_faults)
        router.add_get(ADMIN_PREFIX + "calls", self._get_calls)
        router.add_delete(ADMIN_PREFIX + "calls", self._delete_calls)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=self._shutdown_timeout)
        await self._runner.setup()

    async def add(self, instance: _I, port: int = 0) -> _I:
        """Bind an instance to a loopback port and start serving it.

        Args:
            instance: the instance; a ``ConfigInstance`` is also registered with the feed.
            port: the port, or 0 for a free one; read it back from ``instance.port``.

        Returns:
            The same instance.

        Raises:
            OSError: the port could not be bound.
        """
        if self._runner is None:
            raise RuntimeError("InstanceServer.start() was not called")
        sock = _bind(port)
        instance.port = sock.getsockname()[1]
        instance._server = self
        self._by_port[instance.port] = instance
        if isinstance(instance, ConfigInstance):
            if self._feed is None:
                raise RuntimeError("a ConfigInstance needs an InstanceServer with a ConfigFeed")
            instance.feed = self._feed
            self._feed.register(instance)
        if instance.faults.down:
            self._reserved[instance.port] = sock
        else:
            await self._listen(instance.port, sock)
        return instance

    async def close(self) -> None:
        """Stop every listener, end open connections, release reserved ports."""
        for sock in self._reserved.values():
            sock.close()
        self._reserved.clear()
        self._sites.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def faults_changed(self, instance: Instance, old: Faults, new: Faults) -> None:
        """Apply a change of knobs: go down or come back, tell the feed."""
        if isinstance(instance, ConfigInstance) and self._feed is not None:
            self._feed.faults_changed(instance, old)
        if new.down and not old.down:
            site = self._sites.pop(instance.port, None)
            if site is not None:
                await site.stop()  # closes the listening socket
            # Bound but not listening: connections are refused and the port stays ours.
            try:
                self._reserved[instance.port] = _bind(instance.port)
            except OSError as exc:
                _log.warning("fleet: cannot reserve port %s while down: %s", instance.port, exc)
        elif old.down and not new.down:
            sock = self._reserved.pop(instance.port, None) or _bind(instance.port)
            await self._listen(instance.port, sock)

    async def _listen(self, port: int, sock: socket.socket) -> None:
        assert self._runner is not None
        site = web.SockSite(self._runner, sock, backlog=512)
        try:
            await site.start()
        except OSError:
            sock.close()
            raise
        self._sites[port] = site

    def _instance(self, request: web.Request) -> Instance:
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        instance = self._by_port.get(sockname[1]) if sockname else None
        if instance is None:
            raise web.HTTPNotFound(text="no instance on this port")
        return instance

    def _target(self, request: web.Request) -> Instance:
        port = request.query.get("port")
        if port is None:
            return self._instance(request)
        instance = self._by_port.get(int(port)) if port.isdigit() else None
        if instance is None:
            raise web.HTTPNotFound(text=f"no instance on port {port}")
        return instance

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        instance = self._instance(request)
        instance.requests += 1
        faults = instance.faults
        if faults.down and request.transport is not None:
            # A connection opened before the instance went down: drop it, answer nothing.
            request.transport.abort()
            return web.Response(status=503)
        if faults.slow > 0:
            await asyncio.sleep(faults.slow)
        return await handler(request)

    async def _verify(self, request: web.Request) -> web.Response:
        instance = self._instance(request)
        if not isinstance(instance, ConfigInstance):
            raise web.HTTPNotFound()
        tenant_id = next(iter(request.match_info.values()), "")
        if instance.faults.reject_code is not None:
            return _json({"code": instance.faults.reject_code, "message": REJECT_MESSAGE}, 500)
        loaded = await instance.current(tenant_id)
        if loaded is None:
            return _json({"tenantId": tenant_id, "version": None}, 404)
        return _json(
            {
                "tenantId": tenant_id,
                "version": loaded.version,
                "appName": instance.app_name,
                "config": loaded.config,
            }
        )

    async def _portal(self, request: web.Request) -> web.Response:
        instance = self._instance(request)
        if not isinstance(instance, PortalInstance):
            raise web.HTTPNotFound()
        body = await _json_body(request)
        problem = _portal_problem(body)
        if problem is not None or body is None:
            return _json({"code": "400", "message": problem}, 400)
        instance.calls.append(dict(body))
        if instance.faults.reject_code is not None:
            return _json({"code": instance.faults.reject_code, "message": REJECT_MESSAGE})
        return _json({"code": "0", "message": "ok"})

    async def _asbc(self, request: web.Request) -> web.Response:
        instance = self._instance(request)
        if not isinstance(instance, AsbcInstance):
            raise web.HTTPNotFound()
        if instance.token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {instance.token}".encode()):
                return _json({"code": 401, "message": "unauthorized"}, 401)
        body = await _json_body(request)
        problem = _asbc_problem(body)
        if problem is not None or body is None:
            return _json({"code": 400, "message": problem}, 400)
        instance.calls.append(dict(body))
        numbers: list[str] = body["calledNumberMatch"]
        if instance.faults.reject_code is not None:
            failed = [{"calledNumberMatch": n, "message": REJECT_MESSAGE} for n in numbers]
            data: dict[str, Any] = {"successList": [], "failList": failed}
        else:
            data = {"successList": list(numbers), "failList": []}
        return _json({"code": 0, "message": "success", "data": data})

    async def _health(self, request: web.Request) -> web.Response:
        if self._instance(request).faults.unhealthy:
            return _json({"status": "DOWN"}, 503)
        return _json({"status": "UP"})

    async def _get_faults(self, request: web.Request) -> web.Response:
        instance = self._target(request)
        return _json({"address": instance.address, "faults": instance.faults.to_json()})

    async def _post_faults(self, request: web.Request) -> web.Response:
        instance = self._target(request)
        body = await _json_body(request)
        if body is None:
            return _json({"error": "body must be a JSON object of fault knobs"}, 400)
        try:
            faults = await instance.set_faults(instance.faults.updated(body))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"address": instance.address, "faults": faults.to_json()})

    async def _get_calls(self, request: web.Request) -> web.Response:
        instance = self._target(request)
        return _json({"address": instance.address, "calls": instance.calls})

    async def _delete_calls(self, request: web.Request) -> web.Response:
        instance = self._target(request)
        instance.clear_calls()
        return _json({"address": instance.address, "calls": []})


__all__ = [
    "BG_GATEWAY_APP",
    "LOOPBACK",
    "OB_APP",
    "REJECT_MESSAGE",
    "AsbcInstance",
    "ConfigFeed",
    "ConfigInstance",
    "Faults",
    "Instance",
    "InstanceServer",
    "LoadedConfig",
    "PortalInstance",
]
