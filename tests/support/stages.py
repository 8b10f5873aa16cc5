"""Scripted stages for engine tests: steps that succeed, fail, sleep or wait, as told."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from switchover.domain.config import TenantConfig
from switchover.domain.records import PlanSpec, TenantSpec
from switchover.domain.status import ExecutionMode
from switchover.errors import ErrorType, StepFailedError
from switchover.stages.base import Stage, StageRequest
from switchover.steps.protocol import StepContext


@dataclass(frozen=True, slots=True)
class Fail:
    """The step fails with this error type."""

    error_type: ErrorType = ErrorType.BUSINESS_ERROR
    message: str = "scripted failure"


@dataclass(frozen=True, slots=True)
class Sleep:
    """The step sleeps this long on the engine's clock, then succeeds."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Real:
    """The step takes this long in real time (deadlines run on the event loop's clock)."""

    seconds: float


@dataclass(slots=True)
class Gate:
    """The step waits until the gate is opened (``entered`` is set when one arrives)."""

    opened: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    def open(self) -> None:
        self.opened.set()


class Boom:
    """The step raises a plain exception (a bug)."""


@dataclass(frozen=True, slots=True)
class Warn:
    """The step leaves a warning on its task's history, then succeeds."""

    message: str
    details: tuple[tuple[str, str], ...] = (("hint", "configure it"),)


Outcome = Fail | Sleep | Real | Gate | Boom | Warn | None


@dataclass(frozen=True, slots=True)
class Call:
    """One stage run as the scripted step saw it."""

    tenant_id: str
    stage: str
    mode: ExecutionMode
    version: int
    unit: str | None


class Script:
    """What each (tenant, stage, mode) does; outcomes are used up in order, then success."""

    def __init__(self) -> None:
        self._outcomes: dict[tuple[str, str, ExecutionMode], list[Outcome]] = {}
        self.calls: list[Call] = []
        self.on_step: Callable[[StepContext], None] | None = None
        self.running = 0
        self.max_running = 0

    def set(
        self,
        tenant_id: str,
        stage: str,
        *outcomes: Outcome,
        mode: ExecutionMode = ExecutionMode.NORMAL,
    ) -> None:
        self._outcomes[(tenant_id, stage, mode)] = list(outcomes)

    def next(self, ctx: StepContext) -> Outcome:
        queue = self._outcomes.get((ctx.tenant_id, ctx.stage, ctx.mode))
        return queue.pop(0) if queue else None

    def stages_run(self, tenant_id: str, mode: ExecutionMode | None = None) -> list[str]:
        return [
            c.stage
            for c in self.calls
            if c.tenant_id == tenant_id and (mode is None or c.mode is mode)
        ]


class ScriptedStep:
    """A step whose execute phase does what the script says."""

    def __init__(self, script: Script) -> None:
        self._script = script

    @property
    def name(self) -> str:
        return "scripted"

    async def prepare(self, ctx: StepContext) -> None:
        return None

    async def execute(self, ctx: StepContext) -> None:
        script = self._script
        script.calls.append(
            Call(ctx.tenant_id, ctx.stage, ctx.mode, ctx.version, ctx.config.deploy_unit_name)
        )
        if script.on_step is not None:
            script.on_step(ctx)
        script.running += 1
        script.max_running = max(script.max_running, script.running)
        try:
            outcome = script.next(ctx)
            match outcome:
                case Fail(error_type, message):
                    raise StepFailedError(error_type, message, details={"why": "scripted"})
                case Sleep(seconds):
                    await ctx.clock.sleep(seconds)
                case Real(seconds):
                    await asyncio.sleep(seconds)
                case Gate():
                    outcome.entered.set()
                    await outcome.opened.wait()
                case Boom():
                    raise RuntimeError("scripted bug")
                case Warn(message, details):
                    await ctx.journal.warn(message, dict(details))
                case None:
                    await asyncio.sleep(0)
        finally:
            script.running -= 1

    async def validate(self, ctx: StepContext) -> None:
        return None


class ScriptedBuilder:
    """Three stages (alpha, beta, gamma) of one scripted step each, whatever the config."""

    def __init__(self, script: Script, names: Sequence[str] = ("alpha", "beta", "gamma")) -> None:
        self._script = script
        self._names = tuple(names)

    def names(self, request: StageRequest) -> tuple[str, ...]:
        return self._names

    def build(self, request: StageRequest) -> list[Stage]:
        return [Stage(name, [ScriptedStep(self._script)]) for name in self._names]


def make_spec(
    tenants: Sequence[str] | int,
    *,
    plan_id: str = "p1",
    version: int = 20,
    previous_version: int | None = 19,
    max_concurrency: int = 10,
) -> PlanSpec:
    """A plan of tenants (names or a count) moving blue → green, previous config at 19."""
    names = [f"t{i:03d}" for i in range(tenants)] if isinstance(tenants, int) else list(tenants)
    specs = []
    for name in names:
        config = TenantConfig(
            tenant_id=name, plan_id=plan_id, plan_version=version, deploy_unit_name="green"
        )
        previous = (
            None
            if previous_version is None
            else TenantConfig(
                tenant_id=name,
                plan_id="p0",
                plan_version=previous_version,
                deploy_unit_name="blue",
            )
        )
        specs.append(TenantSpec(config, previous))
    return PlanSpec(plan_id, version, max_concurrency, tuple(specs))
