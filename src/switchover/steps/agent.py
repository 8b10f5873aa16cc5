"""OB agent-readiness polling through a pluggable ``judge_agent(tenant_id, plan_id)`` check."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeAlias, cast

from switchover.errors import ErrorType, SettingsError, StepFailedError, TransientError
from switchover.steps.protocol import StepContext

JudgeAgent: TypeAlias = Callable[[str, str], bool | Awaitable[bool]]
"""``judge_agent(tenant_id, plan_id)``: whether the tenant's agents are ready (sync or async)."""


def load_judge_agent(path: str | None) -> JudgeAgent | None:
    """Import the check named ``module:function`` (``settings.agent.check``).

    Args:
        path: ``"package.module:function"``, or None / empty for no check.

    Returns:
        The callable, or None when no check is configured.

    Raises:
        SettingsError: the path is malformed, the module cannot be imported, or the name is
            missing or not callable.
    """
    if not path:
        return None
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise SettingsError(f"agent.check {path!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SettingsError(f"agent.check {path!r}: cannot import {module_name!r}: {exc}") from exc
    target: object = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise SettingsError(f"agent.check {path!r}: {module_name!r} has no {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise SettingsError(f"agent.check {path!r} is not callable")
    return cast(JudgeAgent, target)


class AgentReadinessStep:
    """Waits until ``judge_agent`` says the tenant's OB agents are ready.

    The check is called every ``agent.interval`` seconds, at most ``agent.max_attempts`` times.
    It may be sync (it must not block: do I/O in an async one) or async. A ``TransientError``
    from it counts as "not ready yet"; any other exception fails the step (SYSTEM_ERROR).
    Never ready fails with TIMEOUT_ERROR (``details.attempts``): the agents did not come up in
    the time allowed, which an operator retry may well fix. Without a check the step is
    skipped and a warning event records that.
    """

    name = "agent-readiness"

    def __init__(self, judge_agent: JudgeAgent | None) -> None:
        """Create the step.

        Args:
            judge_agent: the check, or None when none is configured.
        """
        self._judge = judge_agent

    async def prepare(self, ctx: StepContext) -> None:
        """Nothing to prepare."""

    async def execute(self, ctx: StepContext) -> None:
        """Nothing to do: readiness is observed, not caused."""

    async def validate(self, ctx: StepContext) -> None:
        """Poll the check until it says ready."""
        if self._judge is None:
            await ctx.journal.warn(
                "agent readiness check not configured; skipped",
                {"tenant_id": ctx.tenant_id, "stage": ctx.stage, "step": self.name},
            )
            return
        settings = ctx.settings.agent
        deadline = ctx.settings.verify.deadline  # every wait is bounded by the verify deadline
        started = ctx.clock.monotonic()
        last = "not ready"
        attempts = 0
        for attempt in range(1, settings.max_attempts + 1):
            attempts = attempt
            try:
                if await self._ask(ctx):
                    return
                last = "not ready"
            except TransientError as exc:
                last = str(exc)
            elapsed = ctx.clock.monotonic() - started
            if attempt < settings.max_attempts and elapsed + settings.interval >= deadline:
                raise StepFailedError(
                    ErrorType.TIMEOUT_ERROR,
                    f"agents of tenant {ctx.tenant_id} not ready within the verify deadline "
                    f"of {deadline:g}s ({attempt} check(s); last: {last})",
                    retryable=True,
                    details={"attempts": attempt, "last": last, "deadline": deadline},
                )
            if attempt < settings.max_attempts:
                await ctx.clock.sleep(settings.interval)
        raise StepFailedError(
            ErrorType.TIMEOUT_ERROR,
            f"agents of tenant {ctx.tenant_id} not ready after {attempts} "
            f"check(s) {settings.interval:g}s apart (last: {last})",
            retryable=True,
            details={"attempts": attempts, "last": last},
        )

    async def _ask(self, ctx: StepContext) -> bool:
        assert self._judge is not None
        try:
            answer = self._judge(ctx.tenant_id, ctx.plan_id)
            if inspect.isawaitable(answer):
                answer = await answer
        except StepFailedError:
            raise
        except Exception as exc:
            raise StepFailedError(
                ErrorType.SYSTEM_ERROR,
                f"agent readiness check raised {type(exc).__name__}: {exc}",
            ) from exc
        return bool(answer)
