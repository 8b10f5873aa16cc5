"""Plans whose tasks do nothing: three stages of one no-op step, to measure the engine alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from switchover.discovery.protocol import DiscoveryQuery
from switchover.domain.config import TenantConfig
from switchover.domain.records import PlanSpec, TenantSpec
from switchover.stages.base import Stage, StageRequest
from switchover.steps.protocol import StepContext

STAGE_NAMES = ("alpha", "beta", "gamma")


class NoopStep:
    """A step whose three phases return at once (one yield to the loop in execute)."""

    name = "noop"

    async def prepare(self, ctx: StepContext) -> None:
        return None

    async def execute(self, ctx: StepContext) -> None:
        await asyncio.sleep(0)

    async def validate(self, ctx: StepContext) -> None:
        return None


class NoopBuilder:
    """Three stages of one ``NoopStep`` each, whatever the config."""

    def names(self, request: StageRequest) -> tuple[str, ...]:
        return STAGE_NAMES

    def build(self, request: StageRequest) -> Sequence[Stage]:
        return [Stage(name, [NoopStep()]) for name in STAGE_NAMES]


class NoDiscovery:
    """Discovery for steps that never look anything up."""

    async def instances(self, query: DiscoveryQuery) -> list[str]:
        return []


def noop_spec(tenants: int, max_concurrency: int, plan_id: str = "bench") -> PlanSpec:
    """A plan of ``tenants`` tenants moving blue → green, each with a previous config."""
    specs = []
    for index in range(tenants):
        tenant = f"tenant-{index:06d}"
        config = TenantConfig(
            tenant_id=tenant, plan_id=plan_id, plan_version=20, deploy_unit_name="green"
        )
        previous = TenantConfig(
            tenant_id=tenant, plan_id="previous", plan_version=19, deploy_unit_name="blue"
        )
        specs.append(TenantSpec(config, previous))
    return PlanSpec(plan_id, 20, max_concurrency, tuple(specs))
