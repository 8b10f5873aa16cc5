"""The one place that turns settings into concrete parts: store, clients, discovery, engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from switchover.clock import Clock, SystemClock
from switchover.settings import Settings
from switchover.stores.protocol import Store
from switchover.stores.sqlite import SqliteStore

if TYPE_CHECKING:
    from switchover.discovery.protocol import Discovery
    from switchover.engine.engine import Engine
    from switchover.engine.session import Session
    from switchover.stages.catalogue import CatalogueStageBuilder
    from switchover.steps.redis_client import RedisClient

# The engine, the stages and the HTTP and Redis clients are imported by the functions that make
# them: a command that only reads the store (``status``, ``events``) does not load them.


def make_store(path: Path, *, read_only: bool = False) -> Store:
    """The default embedded store (SQLite, WAL) at ``path`` (``read_only``: for reading)."""
    return SqliteStore(path, read_only=read_only)


@asynccontextmanager
async def open_store(settings: Settings, *, read_only: bool = False) -> AsyncIterator[Store]:
    """The store alone, opened; for commands that only read (``read_only``) or queue
    requests."""
    store = make_store(settings.store, read_only=read_only)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything a command needs to run work: the store, the stage builder, an engine factory."""

    settings: Settings
    store: Store
    builder: CatalogueStageBuilder
    discovery: Discovery
    make_engine: Callable[[], Engine]
    clock: Clock
    redis: RedisClient

    def session(self) -> Session:
        """A session over this runtime's store and engine factory."""
        from switchover.engine.session import Session

        return Session(
            self.store,
            self.make_engine,
            self.builder,
            request_ttl=self.settings.engine.control_ttl,
            clock=self.clock,
            binding=self.settings.binding(),
            settings_file=str(source) if (source := self.settings.source_file) else None,
        )


@asynccontextmanager
async def runtime(settings: Settings, *, clock: Clock | None = None) -> AsyncIterator[Runtime]:
    """Open the store and make the clients, discovery and stage builder; close all on exit.

    Raises:
        SettingsError: e.g. ``agent.check`` cannot be imported.
    """
    from switchover.engine.engine import Engine
    from switchover.steps.redis_locks import RedisTenantLocks
    from switchover.steps.redis_targets import RedisTargetState

    the_clock: Clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(settings))
        clients = await stack.enter_async_context(open_targets(settings, clock=the_clock))
        redis, discovery, builder = clients.redis, clients.discovery, clients.builder
        locks = RedisTenantLocks(redis, settings)
        targets = RedisTargetState(redis, settings)

        def make_engine() -> Engine:
            return Engine(
                store,
                builder,
                settings=settings,
                discovery=discovery,
                clock=the_clock,
                locks=locks,
                targets=targets,
            )

        yield Runtime(settings, store, builder, discovery, make_engine, the_clock, redis)


@dataclass(frozen=True, slots=True)
class TargetClients:
    """The clients of the systems a plan's stages use, without a store or an engine.

    For commands that only look at the targets (``preflight``, ``diff``): made as
    ``runtime`` makes them, so they see what a run would see.
    """

    settings: Settings
    redis: RedisClient
    discovery: Discovery
    builder: CatalogueStageBuilder


@asynccontextmanager
async def open_targets(
    settings: Settings, *, clock: Clock | None = None
) -> AsyncIterator[TargetClients]:
    """Make the Redis client, discovery and stage builder of ``runtime``; close all on exit.

    No store is opened, nothing is connected until first used.

    Raises:
        SettingsError: e.g. ``agent.check`` cannot be imported.
    """
    from switchover.discovery.health import HealthCheckedDiscovery
    from switchover.discovery.nacos import NacosDiscovery
    from switchover.discovery.static import StaticDiscovery
    from switchover.stages.catalogue import CatalogueStageBuilder
    from switchover.steps.http_client import HttpClient
    from switchover.steps.redis_client import RedisClient

    the_clock: Clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        http = HttpClient(settings)
        stack.push_async_callback(http.aclose)
        redis = RedisClient(settings)
        stack.push_async_callback(redis.close)
        static = StaticDiscovery(settings)
        discovery: Discovery = static
        if settings.nacos.enabled:
            nacos = NacosDiscovery(settings, http.client, the_clock, static)
            stack.push_async_callback(nacos.aclose)
            discovery = nacos
        if settings.discovery.health_check:
            checked = HealthCheckedDiscovery(discovery, settings, http.client, the_clock)
            stack.push_async_callback(checked.aclose)
            discovery = checked
        builder = CatalogueStageBuilder(http, redis, settings)
        yield TargetClients(settings, redis, discovery, builder)
