"""Run a plan on a SQLite store with slow scripted stages; the crash test kills this process.

Usage: python -m tests.support.crash_driver STORE TENANTS [--submit]
Prints "ready" once the engine runs; exits 0 when every task has settled.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from switchover.discovery.protocol import DiscoveryQuery
from switchover.engine.engine import Engine
from switchover.settings import Settings
from switchover.stages.base import Stage, StageRequest
from switchover.steps.protocol import StepContext
from switchover.stores.sqlite import SqliteStore
from tests.support.stages import make_spec


class NoDiscovery:
    async def instances(self, query: DiscoveryQuery) -> list[str]:
        return []


class SlowStep:
    """Sleeps a little in real time, so a kill lands mid-stage."""

    @property
    def name(self) -> str:
        return "slow"

    async def prepare(self, ctx: StepContext) -> None:
        return None

    async def execute(self, ctx: StepContext) -> None:
        await asyncio.sleep(0.03)

    async def validate(self, ctx: StepContext) -> None:
        return None


class SlowBuilder:
    def names(self, request: StageRequest) -> tuple[str, ...]:
        return ("alpha", "beta", "gamma")

    def build(self, request: StageRequest) -> list[Stage]:
        return [Stage(name, [SlowStep()]) for name in self.names(request)]


async def main(path: Path, tenants: int, submit: bool) -> None:
    store = SqliteStore(path)
    await store.open()
    settings = Settings.of(engine={"max_concurrency": 8, "lease_ttl": 2.0})
    engine = Engine(store, SlowBuilder(), settings=settings, discovery=NoDiscovery())
    try:
        await engine.start()
        if submit:
            await engine.submit_plan(make_spec(tenants, plan_id="crash", max_concurrency=8))
        print("ready", flush=True)
        await engine.wait_idle()
    finally:
        await engine.stop()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), "--submit" in sys.argv))
