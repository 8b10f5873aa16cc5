"""Plan, task, checkpoint, control-request and lease records: frozen, changed by ``replace``."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec

from switchover.domain.config import TenantConfig
from switchover.domain.failure import FailureInfo
from switchover.domain.rollout import Policy, Rollout
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus


class TenantSpec(msgspec.Struct, frozen=True):
    """One tenant as submitted: its new config and the previous one (None: cannot roll back)."""

    config: TenantConfig
    previous: TenantConfig | None


class PlanSpec(msgspec.Struct, frozen=True):
    """A validated plan file, ready to submit."""

    plan_id: str
    version: int
    max_concurrency: int
    tenants: tuple[TenantSpec, ...]
    policy: Policy | None = None
    """Waves, bake, failure budget, auto rollback (None: admit as capacity allows)."""


class Plan(msgspec.Struct, frozen=True):
    """A submitted plan. ``operator_paused`` is set by a plan pause and cleared by resume."""

    plan_id: str
    version: int
    max_concurrency: int
    status: PlanStatus
    task_count: int
    created_at: float
    updated_at: float
    operator_paused: bool = False
    binding: Mapping[str, str] = msgspec.field(default_factory=dict)
    """The target settings the plan runs with (``Settings.binding``); empty: not recorded."""
    settings_file: str | None = None
    """The settings file the plan was created with, if any."""
    created_by: str | None = None
    """Who submitted the plan (a token's name, or ``user@host``)."""
    reason: str | None = None
    """Why, as the submitter said."""
    policy: Policy | None = None
    """How it rolls out (waves, bake, budget); None: as capacity allows."""
    rollout: Rollout = msgspec.field(default_factory=Rollout)
    """Where its rollout stands: current wave, what it waits for, failures, halt."""


def bound_elsewhere(plan: Plan, here: Mapping[str, str], whose: str) -> str | None:
    """Why ``plan`` must be left alone by ``whose`` settings (``here``), or None when they
    are the ones it runs with: the differing settings, and the file it was created with."""
    differences = binding_differences(plan.binding, here)
    if not differences:
        return None
    where = f" (--config {plan.settings_file})" if plan.settings_file else ""
    return (
        f"plan {plan.plan_id} runs with other settings than {whose}: "
        f"{'; '.join(differences)}. Use the settings it was created with{where}"
    )


def binding_differences(plan: Mapping[str, str], here: Mapping[str, str]) -> list[str]:
    """Where ``here`` (an engine's or a command's settings) differs from a plan's binding,
    one ``name: plan 'A', here 'B'`` per setting; none when either side recorded none."""
    if not plan or not here:
        return []
    return [
        f"{name}: plan {plan.get(name)!r}, here {here.get(name)!r}"
        for name in sorted(set(plan) | set(here))
        if plan.get(name) != here.get(name)
    ]


class Checkpoint(msgspec.Struct, frozen=True):
    """The durable mark of progress within one run (forward or rollback) of a task.

    ``last_stage`` is the index of the last stage that completed; the run continues at
    ``last_stage + 1``. ``completed`` names the stages completed so far in this run.
    """

    mode: ExecutionMode
    last_stage: int
    completed: tuple[str, ...]
    at: float

    @property
    def next_stage(self) -> int:
        """Index of the stage a resumed run starts with."""
        return self.last_stage + 1


class BoundaryRequest(StrEnum):
    """What an operator asked a running task to do at its next stage boundary."""

    PAUSE = "PAUSE"
    CANCEL = "CANCEL"


class Task(msgspec.Struct, frozen=True):
    """One tenant inside one plan.

    ``config`` and ``previous`` are fixed at creation (``previous`` is the rollback snapshot).
    ``mode`` and ``stages`` describe the current run: forward (NORMAL, built from ``config``)
    or rollback (ROLLBACK, built from ``previous``). ``checkpoint`` marks progress in that run.
    """

    task_id: str
    plan_id: str
    tenant_id: str
    position: int
    config: TenantConfig
    previous: TenantConfig | None
    status: TaskStatus
    created_at: float
    updated_at: float
    mode: ExecutionMode = ExecutionMode.NORMAL
    stages: tuple[str, ...] = ()
    checkpoint: Checkpoint | None = None
    retry_count: int = 0
    version_override: int | None = None
    failure: FailureInfo | None = None
    requested: BoundaryRequest | None = None
    current_stage: str | None = None
    waiting_for: str | None = None
    """Who holds the tenant's claim in the targets while this task waits to start, or None."""

    @property
    def next_stage(self) -> int:
        """Index of the stage the current run continues with."""
        return self.checkpoint.next_stage if self.checkpoint else 0

    @property
    def run_version(self) -> int:
        """The version this run writes and verifies (rollback: override or previous version)."""
        if self.mode is ExecutionMode.ROLLBACK and self.previous is not None:
            if self.version_override is not None:
                return self.version_override
            return self.previous.plan_version
        return self.config.plan_version


class TargetKind(StrEnum):
    """What an operation is addressed to."""

    PLAN = "plan"
    TASK = "task"
    TENANT = "tenant"


class Target(msgspec.Struct, frozen=True):
    """The addressee of an operation: a plan, a task id, or a tenant (its most recent task)."""

    kind: TargetKind
    key: str

    @classmethod
    def plan(cls, plan_id: str) -> Target:
        """Address a whole plan."""
        return cls(TargetKind.PLAN, plan_id)

    @classmethod
    def task(cls, task_id: str) -> Target:
        """Address one task by id."""
        return cls(TargetKind.TASK, task_id)

    @classmethod
    def tenant(cls, tenant_id: str) -> Target:
        """Address the tenant's most recent task."""
        return cls(TargetKind.TENANT, tenant_id)

    def __str__(self) -> str:
        return f"{self.kind.value} {self.key}"


class Lease(msgspec.Struct, frozen=True):
    """Which engine process currently owns the store's work, until ``expires_at``.

    ``epoch`` grows by one each time the lease changes hands (the store assigns it); every
    commit of an engine names its epoch, and the store refuses it once the epoch has moved on.
    """

    owner: str
    host: str
    pid: int
    expires_at: float
    extra: Mapping[str, Any] = msgspec.field(default_factory=dict)
    epoch: int = 0
