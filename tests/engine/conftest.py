"""Engine test fixtures: an engine on a MemoryStore, a fake clock and scripted stages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from switchover.discovery.protocol import DiscoveryQuery
from switchover.domain.events import Event
from switchover.domain.records import Plan, Task
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.engine.engine import Engine
from switchover.settings import Settings
from switchover.stores.memory import MemoryStore
from tests.support.clock import FakeClock
from tests.support.stages import Script, ScriptedBuilder


class NoDiscovery:
    """Discovery for steps that never look anything up."""

    async def instances(self, query: DiscoveryQuery) -> list[str]:
        return []


def engine_settings(**engine: object) -> Settings:
    values: dict[str, object] = {"control_poll_interval": 0.02, "lease_ttl": 5.0}
    values.update(engine)
    return Settings.of(engine=values)


@dataclass
class Harness:
    """An engine with its store, clock and script, plus helpers to read what happened."""

    engine: Engine
    store: MemoryStore
    clock: FakeClock
    script: Script

    async def events(self, plan_id: str = "p1") -> list[Event]:
        return await self.store.read_events(plan_id, 0, 1_000_000)

    async def types(self, plan_id: str = "p1", task_id: str | None = None) -> list[str]:
        return [
            e.type.value
            for e in await self.events(plan_id)
            if task_id is None or e.task_id == task_id
        ]

    async def task(self, task_id: str) -> Task:
        stored = await self.store.get_task(task_id)
        assert stored is not None
        return stored

    async def plan(self, plan_id: str = "p1") -> Plan:
        stored = await self.store.get_plan(plan_id)
        assert stored is not None
        return stored

    async def statuses(self, plan_id: str = "p1") -> dict[str, TaskStatus]:
        return {t.tenant_id: t.status for t in await self.store.list_tasks(plan_id)}

    async def settle(self) -> None:
        await self.engine.wait_idle()

    def new_engine(self, **engine: object) -> Engine:
        return Engine(
            self.store,
            ScriptedBuilder(self.script),
            settings=engine_settings(**engine),
            discovery=NoDiscovery(),
            clock=self.clock,
        )


@asynccontextmanager
async def running(script: Script | None = None) -> AsyncIterator[Harness]:
    """A started engine on a fresh MemoryStore and FakeClock, running ``script``'s stages;
    stopped (and the clock closed) on the way out. For tests that cannot take a fixture
    (property tests run many engines in one test)."""
    store, clock, script = MemoryStore(), FakeClock(), script or Script()
    engine = Engine(
        store,
        ScriptedBuilder(script),
        settings=engine_settings(),
        discovery=NoDiscovery(),
        clock=clock,
    )
    await engine.start()
    try:
        yield Harness(engine, store, clock, script)
    finally:
        await engine.stop()
        await clock.aclose()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with running() as started:
        yield started


__all__ = ["Harness", "PlanStatus", "engine_settings", "running"]
