"""A fake clock for tests: virtual time that jumps to the next sleeper when the loop is idle."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools


class FakeClock:
    """Implements the Clock protocol on virtual time.

    ``sleep`` parks the caller until virtual time reaches its deadline. A driver task jumps
    time to the earliest deadline once the event loop has had a few idle passes, so code that
    sleeps for minutes runs in microseconds, in deadline order.
    """

    def __init__(self, start: float = 1_700_000_000.0, idle_passes: int = 8) -> None:
        self._epoch = start
        self._time = 0.0
        self._idle_passes = idle_passes
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self._driver: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def now(self) -> float:
        return self._epoch + self._time

    def monotonic(self) -> float:
        return self._time

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._time + seconds, next(self._counter), future))
        self._ensure_driver()
        self._wake.set()
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward by hand, waking every sleeper that is due."""
        self._time += seconds
        self._release_due()

    def _release_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._time:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def _ensure_driver(self) -> None:
        if self._driver is None or self._driver.done():
            self._driver = asyncio.get_running_loop().create_task(self._drive())

    async def _drive(self) -> None:
        while True:
            if not self._sleepers:
                self._wake.clear()
                await self._wake.wait()
                continue
            for _ in range(self._idle_passes):
                await asyncio.sleep(0)
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if self._sleepers:
                self._time = max(self._time, self._sleepers[0][0])
                self._release_due()

    async def aclose(self) -> None:
        """Stop the driver task."""
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
            self._driver = None
