"""A whole local fleet in one event loop: gateways, OB instances, a portal and an ASBC.

``FleetBus`` is the fleet's one Redis connection and subscription; it feeds every config
instance. ``Fleet`` puts the bus, one ``InstanceServer`` and the instances together.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from switchover import wire
from switchover.errors import SwitchoverError
from switchover.fleet.instances import (
    BG_GATEWAY_APP,
    OB_APP,
    AsbcInstance,
    ConfigInstance,
    Faults,
    Instance,
    InstanceServer,
    LoadedConfig,
    PortalInstance,
)
from switchover.settings import SERVICE_KEYS, Settings

_log = logging.getLogger(__name__)

_FDS_PER_INSTANCE = 4
"""File descriptors to budget per instance: its listener plus connections on both ends."""


@dataclass(frozen=True, slots=True)
class InstanceReport:
    """What one config instance reports for a tenant right now."""

    service: str
    address: str
    app_name: str
    reachable: bool
    version: Any
    config: Mapping[str, Any] | None
    faults: Faults

    def to_json(self) -> dict[str, Any]:
        """A JSON object for display."""
        return {
            "service": self.service,
            "address": self.address,
            "appName": self.app_name,
            "reachable": self.reachable,
            "version": self.version,
            "config": self.config,
            "faults": self.faults.to_json(),
        }


@dataclass(frozen=True, slots=True)
class FleetReport:
    """A tenant as Redis stores it and as every config instance and the portal see it."""

    tenant_id: str
    redis: Mapping[str, Any]
    instances: tuple[InstanceReport, ...]
    portal_calls: tuple[Mapping[str, Any], ...]

    def versions(self, service: str | None = None) -> dict[str, Any]:
        """``address -> reported version`` (None when nothing is loaded or it is down)."""
        return {
            r.address: r.version if r.reachable else None
            for r in self.instances
            if service is None or r.service == service
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON object for display."""
        return {
            "tenantId": self.tenant_id,
            "redis": dict(self.redis),
            "instances": [r.to_json() for r in self.instances],
            "portalCalls": [dict(c) for c in self.portal_calls],
        }


class FleetError(SwitchoverError):
    """The local fleet could not start (Redis unreachable, no free port)."""


@dataclass(slots=True)
class _AppGroup:
    shared: dict[str, LoadedConfig] = field(default_factory=dict)
    # Instances that are lagging or stale, or still pin a tenant from when they were.
    special: set[ConfigInstance] = field(default_factory=set)


class FleetBus:
    """One Redis connection and subscription fanning tenant notifications out to instances.

    Instances of an app share one view of each tenant (``shared``); an instance that lags or
    is stale pins its own view of a tenant when a notification arrives, so faulted instances
    cost memory and nobody else does. Reads of a tenant's hash are serialised per tenant, so
    views are applied in the order Redis served them.
    """

    def __init__(self, redis_url: str, settings: Settings) -> None:
        """Create the bus; ``start`` connects.

        Args:
            redis_url: the Redis the engine writes to.
            settings: key prefix and topic come from ``settings.redis``.
        """
        self._url = redis_url
        self._prefix = settings.redis.key_prefix
        self._topic = settings.redis.topic
        self._timeout = settings.redis.socket_timeout
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        # Work started by notifications and requests; owned here, cancelled by close().
        self._tasks: set[asyncio.Task[Any]] = set()
        self._groups: dict[str, _AppGroup] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._inflight: dict[tuple[str, str], asyncio.Task[LoadedConfig | None]] = {}
        self.notifications = 0

    async def start(self) -> None:
        """Connect and subscribe; notifications published after this returns are seen.

        Raises:
            FleetError: Redis is unreachable.
        """
        self._client = aioredis.Redis.from_url(
            self._url, decode_responses=True, socket_connect_timeout=self._timeout
        )
        try:
            await self._subscribe()
        except (RedisError, OSError, TimeoutError) as exc:
            await self.close()
            raise FleetError(f"cannot subscribe to Redis: {exc}") from exc
        self._reader = asyncio.create_task(self._read_loop(), name="fleet-bus")

    async def close(self) -> None:
        """Stop reading, cancel pending applies, close the subscription and the connection."""
        tasks = [t for t in (self._reader, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        # Close the subscription's socket first: a reader blocked inside redis-py after a
        # Redis restart may not honour the cancel until its connection goes away.
        await self._close_pubsub()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=2.0)
            if stuck:
                _log.warning("fleet: %d task(s) did not stop in time", len(stuck))
        self._reader = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def register(self, instance: ConfigInstance) -> None:
        """Deliver notifications of ``instance.app_name`` to ``instance``."""
        self._groups.setdefault(instance.app_name, _AppGroup())
        self.faults_changed(instance, Faults())

    def faults_changed(self, instance: ConfigInstance, old: Faults) -> None:
        """Take note of an instance's new knobs (lagging and stale ones get their own views).

        Tenants it starts ignoring are pinned at what it showed until now.
        """
        faults = instance.faults
        if not (faults.lag > 0 or faults.stale or faults.stale_tenants):
            return
        group = self._groups[instance.app_name]
        group.special.add(instance)
        newly = group.shared.keys() if faults.stale and not old.stale else faults.stale_tenants
        for tenant_id in newly:
            shown = group.shared.get(tenant_id)
            if shown is not None and not old.ignores(tenant_id):
                instance.pinned.setdefault(tenant_id, shown)

    def shared(self, app_name: str) -> Mapping[str, LoadedConfig]:
        """The view of every tenant shared by the in-sync instances of an app."""
        group = self._groups.get(app_name)
        return group.shared if group is not None else {}

    async def read_hash(self, tenant_id: str) -> dict[str, str]:
        """The tenant's config hash as stored (empty when absent).

        Raises:
            RedisError: Redis failed.
            TimeoutError: Redis did not answer within ``redis.socket_timeout``.
        """
        if self._client is None:
            raise RedisError("fleet bus is not started")
        key = wire.tenant_config_key(self._prefix, tenant_id)
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._client.hgetall(key)
        except RedisConnectionError:
            # A pooled connection from before a Redis restart: one fresh attempt.
            async with asyncio.timeout(self._timeout):
                raw = await self._client.hgetall(key)
        # The client decodes responses, so keys and values are str.
        return cast("dict[str, str]", raw)

    async def lazy_load(self, app_name: str, tenant_id: str) -> LoadedConfig | None:
        """Load a tenant nobody has seen yet into the shared view; one read for all callers."""
        key = (app_name, tenant_id)
        task = self._inflight.get(key)
        if task is None:
            task = self._spawn(self._lazy_read(app_name, tenant_id))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        # Shielded: one caller giving up must not cancel the read the others wait for.
        return await asyncio.shield(task)

    async def _lazy_read(self, app_name: str, tenant_id: str) -> LoadedConfig | None:
        shared = self._groups[app_name].shared
        async with self._lock(tenant_id):
            if tenant_id not in shared:
                try:
                    loaded = LoadedConfig.from_hash(await self.read_hash(tenant_id), app_name)
                except (RedisError, OSError, TimeoutError) as exc:
                    _log.warning("fleet: cannot read tenant %s: %s", tenant_id, exc)
                    return None
                if loaded is not None:
                    shared[tenant_id] = loaded
            return shared.get(tenant_id)

    def _lock(self, tenant_id: str) -> asyncio.Lock:
        return self._locks.setdefault(tenant_id, asyncio.Lock())

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _subscribe(self) -> None:
        assert self._client is not None
        self._pubsub = self._client.pubsub()
        await self._pubsub.subscribe(self._topic)
        # Wait for the confirmation: from then on Redis delivers every publish to us.
        async with asyncio.timeout(self._timeout):
            while True:
                message = await self._pubsub.get_message(timeout=self._timeout)
                if message is not None and message.get("type") == "subscribe":
                    return

    async def _close_pubsub(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
            self._pubsub = None

    async def _read_loop(self) -> None:
        delay = 0.05
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
            except (RedisError, OSError) as exc:
                _log.warning("fleet: subscription lost (%s); resubscribing", exc)
                await self._resubscribe(delay)
                continue
            if message is not None and message.get("type") == "message":
                self._dispatch(message.get("data"))

    async def _resubscribe(self, delay: float) -> None:
        while True:
            await self._close_pubsub()
            await asyncio.sleep(delay)
            try:
                await self._subscribe()
                return
            except (RedisError, OSError, TimeoutError):
                delay = min(delay * 2, 2.0)

    def _dispatch(self, data: Any) -> None:
        message = wire.parse_json_object(data)
        if message is None:
            return
        tenant_id, app_name = message.get("tenantId"), message.get("appName")
        if not isinstance(tenant_id, str) or not isinstance(app_name, str):
            return
        group = self._groups.get(app_name)
        if group is None:
            return
        self.notifications += 1
        following: list[ConfigInstance] = []
        lagging: dict[float, list[ConfigInstance]] = {}
        for instance in list(group.special):
            faults = instance.faults
            ignored = faults.ignores(tenant_id)
            if ignored or faults.lag > 0:
                # Keep showing what it showed until its own (possibly never) apply.
                instance.pinned.setdefault(tenant_id, instance.loaded(tenant_id))
                if not ignored:
                    lagging.setdefault(faults.lag, []).append(instance)
            elif instance.pinned:
                following.append(instance)
            else:
                group.special.discard(instance)
        self._spawn(self._apply(app_name, tenant_id, 0.0, following, shared=True))
        for lag, instances in lagging.items():
            self._spawn(self._apply(app_name, tenant_id, lag, instances, shared=False))

    async def _apply(
        self,
        app_name: str,
        tenant_id: str,
        lag: float,
        instances: list[ConfigInstance],
        *,
        shared: bool,
    ) -> None:
        if lag > 0:
            await asyncio.sleep(lag)
        group = self._groups[app_name]
        async with self._lock(tenant_id):
            try:
                loaded = LoadedConfig.from_hash(await self.read_hash(tenant_id), app_name)
            except (RedisError, OSError, TimeoutError) as exc:
                _log.warning("fleet: cannot read tenant %s: %s", tenant_id, exc)
                return
            if loaded is None:
                return
            if shared:
                group.shared[tenant_id] = loaded
                for instance in instances:
                    instance.pinned.pop(tenant_id, None)
            else:
                for instance in instances:
                    if not instance.faults.ignores(tenant_id):
                        instance.pinned[tenant_id] = loaded


class Fleet:
    """Gateways, OB instances, one portal and one ASBC on free loopback ports.

    Use as ``async with Fleet(redis_url) as fleet:``; everything runs in the current event
    loop and is gone, tasks and sockets included, when the block ends. All instances share one
    aiohttp runner and one Redis subscription, so a thousand gateways are cheap.
    """

    def __init__(
        self,
        redis_url: str,
        settings: Settings | None = None,
        *,
        gateways: int = 3,
        ob_instances: int = 2,
        asbc_token: str | None = None,
        shutdown_timeout: float = 1.0,
    ) -> None:
        """Describe the fleet; ``start`` (or ``async with``) brings it up.

        Args:
            redis_url: the Redis the engine writes tenant configs to.
            settings: key prefix, topic and HTTP paths (defaults: ``Settings()``).
            gateways: number of blue-green gateway instances.
            ob_instances: number of OB service instances.
            asbc_token: bearer token the ASBC requires (default: ``settings.asbc.token``).
            shutdown_timeout: seconds in-flight requests get when the fleet stops.
        """
        if gateways < 0 or ob_instances < 0:
            raise ValueError("gateways and ob_instances must be >= 0")
        self.redis_url = redis_url
        self.settings = settings if settings is not None else Settings()
        if asbc_token is None and self.settings.asbc.token is not None:
            asbc_token = self.settings.asbc.token.get_secret_value()
        self._bus = FleetBus(redis_url, self.settings)
        self._server = InstanceServer(self.settings, self._bus, shutdown_timeout=shutdown_timeout)
        self.gateways = [ConfigInstance(BG_GATEWAY_APP) for _ in range(gateways)]
        self.ob_instances = [ConfigInstance(OB_APP) for _ in range(ob_instances)]
        self.portal = PortalInstance()
        self.asbc = AsbcInstance(token=asbc_token)
        self._started = False

    @property
    def bus(self) -> FleetBus:
        """The shared Redis subscription of the config instances."""
        return self._bus

    @property
    def all_instances(self) -> list[Instance]:
        """Every instance: gateways, OB instances, portal, ASBC."""
        return [*self.gateways, *self.ob_instances, self.portal, self.asbc]

    @property
    def instances(self) -> dict[str, list[str]]:
        """``service key -> ["127.0.0.1:PORT", ...]`` for every key in ``SERVICE_KEYS``."""
        found: dict[str, list[str]] = {key: [] for key in SERVICE_KEYS}
        for instance in self.all_instances:
            found[instance.service_key].append(instance.address)
        return found

    def instance(self, address: str) -> Instance:
        """The instance at ``127.0.0.1:PORT``.

        Raises:
            KeyError: no instance of this fleet has that address.
        """
        for candidate in self.all_instances:
            if candidate.address == address:
                return candidate
        raise KeyError(address)

    def settings_overrides(self) -> dict[str, Any]:
        """Settings values that point the engine at this fleet (for ``Settings.of(**...)``)."""
        return {
            "discovery": {"fallback_instances": self.instances},
            "portal": {"scheme": "http"},
            "asbc": {"scheme": "http"},
        }

    async def start(self) -> Fleet:
        """Subscribe to Redis and bind every instance.

        Raises the process's soft open-files limit (up to the hard one) when the fleet needs
        more descriptors than it allows: a thousand gateways do.

        Raises:
            FleetError: Redis is unreachable or a port could not be bound.
        """
        if self._started:
            return self
        _raise_fd_limit(_FDS_PER_INSTANCE * len(self.all_instances) + 256)
        await self._bus.start()
        self._started = True
        try:
            await self._server.start()
            for instance in self.all_instances:
                await self._server.add(instance)
        except BaseException as exc:
            await self.close()
            if isinstance(exc, OSError):
                raise FleetError(f"cannot bind a fleet instance: {exc}") from exc
            raise
        return self

    async def close(self) -> None:
        """Stop every instance and the subscription (idempotent)."""
        if not self._started:
            return
        self._started = False
        try:
            await self._server.close()
        finally:
            await self._bus.close()

    async def __aenter__(self) -> Fleet:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def set_faults(self, instances: Sequence[Instance] | None = None, **changes: Any) -> None:
        """Change fault knobs on several instances at once (default: every gateway), e.g.
        ``await fleet.set_faults(fleet.ob_instances, stale_tenants=["tenant-c"])``."""
        targets = self.gateways if instances is None else instances
        await asyncio.gather(*(i.set_faults(**changes) for i in targets))

    async def report(self, tenant_id: str) -> FleetReport:
        """What Redis holds for a tenant and what every config instance reports for it.

        A down instance is listed as unreachable with the state it would serve on return.

        Raises:
            FleetError: Redis could not be read.
        """
        try:
            stored = await self._bus.read_hash(tenant_id)
        except (RedisError, OSError, TimeoutError) as exc:
            raise FleetError(f"cannot read tenant {tenant_id!r} from Redis: {exc}") from exc
        redis = {name: _decoded(value) for name, value in sorted(stored.items())}
        reports = []
        for instance in [*self.gateways, *self.ob_instances]:
            loaded = await instance.current(tenant_id)
            reports.append(
                InstanceReport(
                    service=instance.service_key,
                    address=instance.address,
                    app_name=instance.app_name,
                    reachable=not instance.faults.down,
                    version=loaded.version if loaded is not None else None,
                    config=loaded.config if loaded is not None else None,
                    faults=instance.faults,
                )
            )
        calls = tuple(c for c in self.portal.calls if c.get("tenantId") == tenant_id)
        return FleetReport(tenant_id, redis, tuple(reports), calls)


def _decoded(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _raise_fd_limit(wanted: int) -> None:
    """Raise the soft open-files limit towards ``wanted`` (never above the hard limit)."""
    try:
        import resource
    except ImportError:  # not on Unix: nothing to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


__all__ = ["Fleet", "FleetBus", "FleetError", "FleetReport", "InstanceReport"]
