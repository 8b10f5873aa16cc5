"""A Discovery wrapper that keeps only instances whose health endpoint reports ``UP``."""

from __future__ import annotations

import asyncio
from types import TracebackType

import httpx

from switchover.clock import Clock
from switchover.discovery.protocol import Discovery, DiscoveryQuery
from switchover.errors import ErrorType, StepFailedError
from switchover.settings import Settings


class HealthCheckedDiscovery:
    """Asks ``inner`` for instances, then keeps those whose health endpoint body contains ``UP``.

    Every instance is probed concurrently with ``GET http://{instance}{discovery.health_path}``;
    an unreachable instance, a timeout or a body without ``UP`` drops it. Used when
    ``settings.discovery.health_check`` is true. The healthy subset is cached per (service key,
    namespace) for ``settings.nacos.cache_ttl`` seconds of ``clock.monotonic()``, as long as
    ``inner`` keeps returning the same instances.
    """

    def __init__(
        self,
        inner: Discovery,
        settings: Settings,
        http: httpx.AsyncClient | None,
        clock: Clock,
    ) -> None:
        """Wrap ``inner``.

        Args:
            inner: where the instances come from.
            settings: ``discovery.health_path``, ``nacos.cache_ttl`` and, when ``http`` is None,
                the ``http`` timeouts of the client made here.
            http: a shared httpx client, or None to own one (closed by ``aclose``).
            clock: ``monotonic()`` times the cache.
        """
        self._inner = inner
        self._path = settings.discovery.health_path
        self._ttl = settings.nacos.cache_ttl
        self._owns_http = http is None
        if http is None:
            connect, read = settings.http.connect_timeout, settings.http.read_timeout
            http = httpx.AsyncClient(
                timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=connect + read)
            )
        self._http = http
        self._clock = clock
        self._cache: dict[tuple[str, str | None], tuple[float, tuple[str, ...], list[str]]] = {}

    async def instances(self, query: DiscoveryQuery) -> list[str]:
        """The instances of ``inner`` that report ``UP``.

        Raises:
            StepFailedError: ``inner`` found none, or none is healthy (SERVICE_UNAVAILABLE).
        """
        candidates = await self._inner.instances(query)
        key = (query.service_key, query.namespace)
        entry = self._cache.get(key)
        if (
            entry is not None
            and self._clock.monotonic() < entry[0]
            and entry[1] == tuple(candidates)
        ):
            return list(entry[2])
        healthy: dict[str, bool] = {}
        async with asyncio.TaskGroup() as group:
            for instance in candidates:
                group.create_task(self._probe(instance, healthy))
        found = [instance for instance in candidates if healthy.get(instance)]
        if not found:
            raise StepFailedError(
                ErrorType.SERVICE_UNAVAILABLE,
                f"no healthy instance of {query.service_key}: none of {len(candidates)} "
                f"instance(s) reported UP on {self._path}",
                details={
                    "service_key": query.service_key,
                    "namespace": query.namespace,
                    "unhealthy": list(candidates),
                },
            )
        self._cache[key] = (self._clock.monotonic() + self._ttl, tuple(candidates), found)
        return list(found)

    async def _probe(self, instance: str, healthy: dict[str, bool]) -> None:
        try:
            response = await self._http.get(f"http://{instance}{self._path}")
        except (httpx.HTTPError, httpx.InvalidURL):
            healthy[instance] = False
            return
        healthy[instance] = "UP" in response.text

    async def aclose(self) -> None:
        """Close the HTTP client when this object made it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> HealthCheckedDiscovery:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
