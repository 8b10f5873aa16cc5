"""How a large plan rolls out: waves with bake and approval, and a failure budget. Pure.

A plan's tenants are split, in file order, into waves. A wave is admitted only when every
task of the previous one has settled, its bake time has passed with no new failure, and —
where the wave asks for it — an operator has promoted the plan. The failure budget halts
admission (the plan goes PAUSED with a reason) once too many tasks have failed; tasks already
running finish their stages. Everything here is data and decisions; the engine applies them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import msgspec
from msgspec.structs import replace

from switchover.domain.status import TaskStatus

UNSETTLED = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.PAUSED})
"""Statuses of a task that keep its wave open."""


class Budget(msgspec.Struct, frozen=True):
    """How many forward failures a plan tolerates before it halts (None: no limit)."""

    max_failed: int | None = None
    max_failed_ratio: float | None = None

    def exceeded(self, failed: int, total: int) -> bool:
        """Whether ``failed`` of ``total`` tasks is over the budget."""
        if self.max_failed is not None and failed > self.max_failed:
            return True
        return (
            self.max_failed_ratio is not None
            and total > 0
            and failed / total > self.max_failed_ratio
        )

    def limits(self, each: str = "") -> str:
        """Its limits in words, ``each`` after each: ``more than 5 or more than 10%``."""
        parts = []
        if self.max_failed is not None:
            parts.append(f"more than {self.max_failed:,}{each}")
        if self.max_failed_ratio is not None:
            parts.append(f"more than {self.max_failed_ratio:.0%}{each}")
        return " or ".join(parts)


class Wave(msgspec.Struct, frozen=True):
    """One wave: the tasks at positions before ``end`` not in an earlier wave."""

    end: int
    approval: bool = False
    """Whether an operator must promote the plan before this wave is admitted."""
    budget: Budget | None = None
    """This wave's own failure budget (counted over its own tasks)."""


class Policy(msgspec.Struct, frozen=True):
    """A plan's rollout policy, as its file states it (waves resolved to positions)."""

    waves: tuple[Wave, ...] = ()
    bake: float = 0.0
    """Seconds a settled wave must run without a new failure before the next is admitted."""
    budget: Budget | None = None
    auto_rollback: bool = False
    """Roll back each task that fails, as an operator's rollback would (plan untouched)."""
    stage_deadline: float | None = None
    """Seconds a stage of this plan may take (None: ``engine.stage_deadline``)."""
    task_deadline: float | None = None
    """Seconds a run of a task of this plan may take (None: ``engine.task_deadline``)."""

    def wave_of(self, position: int) -> int:
        """The index of the wave holding ``position`` (0 without waves)."""
        for index, wave in enumerate(self.waves):
            if position < wave.end:
                return index
        return max(len(self.waves) - 1, 0)

    def limit(self, wave: int) -> int | None:
        """The first position wave ``wave`` does not admit (None: no limit)."""
        if not self.waves:
            return None
        return self.waves[min(wave, len(self.waves) - 1)].end


class GateKind(StrEnum):
    """What a plan between two waves waits for."""

    BAKE = "bake"
    APPROVAL = "approval"


class Gate(msgspec.Struct, frozen=True):
    """The wait before wave ``wave``: since when, until when (bake), failures at its start."""

    kind: GateKind
    wave: int
    since: float
    until: float | None = None
    failures_at: int = 0


class Rollout(msgspec.Struct, frozen=True):
    """Where a plan's rollout stands (kept in the plan record)."""

    wave: int = 0
    gate: Gate | None = None
    failures: int = 0
    """Forward runs that ended FAILED so far."""
    halted: str | None = None
    """Why admission stopped (the budget), until an operator resumes."""
    overridden: bool = False
    """An operator resumed a halted plan: the budget no longer halts it."""
    failed_by: Mapping[str, int] = msgspec.field(default_factory=dict)
    """Forward failures by ``ERROR_TYPE at stage``."""
    wave_failures: Mapping[int, int] = msgspec.field(default_factory=dict)
    """Forward failures by wave index."""


# ----------------------------------------------------------------------------- resolving


def resolve_waves(sizes: Sequence[int | str | Mapping[str, Any]], total: int) -> tuple[Wave, ...]:
    """Waves from their file form: a count, a cumulative percentage (``"5%"``), or an object
    ``{size: ..., approval: true}``; cumulative ends, strictly increasing, the last at
    ``total``.

    Raises:
        ValueError: a size is malformed, does not grow, or the waves do not cover the plan.
    """
    waves: list[Wave] = []
    end = 0
    for index, raw in enumerate(sizes, start=1):
        approval = False
        budget: Budget | None = None
        size: object = raw
        if isinstance(raw, Mapping):
            size = raw.get("size")
            approval = bool(raw.get("approval", False))
            given = raw.get("failure_budget")
            if isinstance(given, Mapping):
                budget = Budget(given.get("max_failed"), given.get("max_failed_ratio"))
        if isinstance(size, str) and size.strip().endswith("%"):
            try:
                percent = float(size.strip()[:-1])
            except ValueError:
                raise ValueError(f"wave {index}: {size!r} is not a percentage") from None
            if not 0 < percent <= 100:
                raise ValueError(f"wave {index}: {size!r} must be above 0% and at most 100%")
            new_end = max(math.ceil(total * percent / 100), 1)
        elif isinstance(size, int) and not isinstance(size, bool):
            if size < 1:
                raise ValueError(f"wave {index}: a count must be at least 1 (got {size})")
            new_end = end + size  # a count is the wave's own size
        else:
            raise ValueError(
                f'wave {index}: expected a count, a percentage like "5%", or '
                f"{{size: ..., approval: true}} (got {size!r})"
            )
        new_end = min(new_end, total)
        if new_end <= end:
            raise ValueError(
                f"wave {index}: {size!r} adds no tenant (the waves before it already reach "
                f"{end} of {total})"
            )
        waves.append(Wave(new_end, approval, budget))
        end = new_end
    if waves and end < total:
        raise ValueError(
            f'the waves reach {end} of {total} tenants; the last one must be "100%" (or '
            "the remaining count)"
        )
    return tuple(waves)


# ----------------------------------------------------------------------------- decisions


class Decision(msgspec.Struct, frozen=True):
    """What the rollout does next: its new state, and events as ``(type, data)`` pairs."""

    rollout: Rollout
    events: tuple[tuple[str, dict[str, Any]], ...] = ()
    wake_at: float | None = None
    """When to look again (a bake ends)."""


def after_failure(
    policy: Policy,
    rollout: Rollout,
    total: int,
    error_type: str,
    stage: str | None,
    position: int = 0,
) -> Decision:
    """A forward run ended FAILED: count it; halt when the plan's budget, or that of the
    task's wave, is exceeded."""
    key = f"{error_type} at {stage}" if stage else error_type
    failed_by = dict(rollout.failed_by)
    failed_by[key] = failed_by.get(key, 0) + 1
    wave = policy.wave_of(position)
    by_wave = dict(rollout.wave_failures)
    by_wave[wave] = by_wave.get(wave, 0) + 1
    counted = replace(
        rollout, failures=rollout.failures + 1, failed_by=failed_by, wave_failures=by_wave
    )
    if counted.halted is not None or counted.overridden:
        return Decision(counted)
    reason = None
    if policy.budget is not None and policy.budget.exceeded(counted.failures, total):
        reason = f"failure budget exceeded: {counted.failures} of {total} failed"
    elif policy.waves and policy.waves[wave].budget is not None:
        start = policy.waves[wave - 1].end if wave else 0
        size = policy.waves[wave].end - start
        wave_budget = policy.waves[wave].budget
        assert wave_budget is not None
        if wave_budget.exceeded(by_wave[wave], size):
            reason = f"failure budget of wave {wave + 1} exceeded: {by_wave[wave]} of {size} failed"
    if reason is None:
        return Decision(counted)
    halted = replace(counted, halted=reason)
    data = {"reason": reason, "failed": counted.failures, "failed_by": failed_by}
    return Decision(halted, (("PlanHalted", data),))


def advance(
    policy: Policy,
    rollout: Rollout,
    open_in_wave: int,
    now: float,
    *,
    promoted: bool = False,
) -> Decision:
    """Move the rollout on if it can: open a gate when the current wave settled, pass a bake
    that ended, admit the next wave; ``promoted``: an operator approved (and skipped a bake).

    Args:
        policy: the plan's policy.
        rollout: where it stands.
        open_in_wave: tasks of the current wave not settled yet.
        now: the time.
        promoted: an operator's ``promote``.
    """
    if not policy.waves or rollout.wave >= len(policy.waves) - 1 or rollout.halted:
        return Decision(rollout)
    following = rollout.wave + 1
    gate = rollout.gate
    if gate is None:
        if open_in_wave:
            return Decision(rollout)
        if policy.bake > 0 and not promoted:
            gate = Gate(GateKind.BAKE, following, now, now + policy.bake, rollout.failures)
            data = {"wave": following + 1, "bake": policy.bake, "until": gate.until}
            return Decision(replace(rollout, gate=gate), (("PlanWaveBaking", data),), gate.until)
        gate = Gate(GateKind.APPROVAL, following, now)
    if gate.kind is GateKind.BAKE and not promoted:
        assert gate.until is not None
        if rollout.failures > gate.failures_at:
            reason = (
                f"a task failed during the bake of wave {gate.wave}: "
                f"{rollout.failures - gate.failures_at} new failure(s)"
            )
            halted = replace(rollout, halted=reason, gate=None)
            return Decision(halted, (("PlanHalted", {"reason": reason}),))
        if now < gate.until:
            return Decision(rollout, wake_at=gate.until)
        gate = Gate(GateKind.APPROVAL, following, now)
    if policy.waves[following].approval and not promoted:
        if rollout.gate is not None and rollout.gate.kind is GateKind.APPROVAL:
            return Decision(rollout)
        waiting = replace(rollout, gate=gate)
        data = {"wave": following + 1, "of": len(policy.waves)}
        return Decision(waiting, (("PlanAwaitingApproval", data),))
    started = replace(rollout, wave=following, gate=None)
    data = {
        "wave": following + 1,
        "of": len(policy.waves),
        "tasks": policy.waves[following].end - policy.waves[following - 1].end,
        "promoted": promoted,
    }
    return Decision(started, (("PlanWaveStarted", data),))


def describe(policy: Policy | None, rollout: Rollout) -> str | None:
    """One line on what the rollout waits for, or None when it waits for nothing."""
    if rollout.halted:
        return f"halted: {rollout.halted} (resume overrides the budget, or cancel)"
    if policy is None or not policy.waves:
        return None
    of = len(policy.waves)
    gate = rollout.gate
    if gate is None:
        return f"wave {rollout.wave + 1} of {of}"
    if gate.kind is GateKind.BAKE:
        until = _clock_time(gate.until) if gate.until is not None else "?"
        return f"wave {gate.wave} of {of} settled; baking until {until} before wave {gate.wave + 1}"
    return (
        f"waiting for approval of wave {gate.wave + 1} of {of} since {_clock_time(gate.since)} "
        "(switchover promote --plan)"
    )


def _clock_time(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S UTC")
