"""The Step protocol and the one input object every step receives."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from switchover.clock import Clock
from switchover.discovery.protocol import Discovery
from switchover.domain.config import TenantConfig
from switchover.domain.status import ExecutionMode
from switchover.settings import Settings
from switchover.steps.locks import Fence


class StepJournal(Protocol):
    """Store-backed notes a step can leave on its task's event history."""

    async def warn(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        """Record a ``StepWarning`` event (e.g. a check skipped because none is configured)."""
        ...


@dataclass(frozen=True, slots=True)
class StepContext:
    """Everything a step may use; one object, so adding a field never breaks a step.

    ``config`` is the config this run applies: the task's new config going forward, its
    previous config when rolling back. ``source`` is the config being moved away from (the
    previous config going forward, the new one when rolling back), or None. ``version`` is
    the version to write and verify. ``fence`` is the task's claim on its tenant (None: writes
    are not fenced, e.g. a step run on its own).
    """

    plan_id: str
    task_id: str
    tenant_id: str
    stage: str
    mode: ExecutionMode
    config: TenantConfig
    source: TenantConfig | None
    version: int
    settings: Settings
    clock: Clock
    discovery: Discovery
    journal: StepJournal
    fence: Fence | None = None
    """The task's claim on its tenant; config writes apply only while it is current."""
    counters: Counter[str] = field(default_factory=Counter)
    """The engine's counters (``step_retries``, ``verify_attempts``), exposed as metrics."""


class Step(Protocol):
    """One action inside a stage: prepare → execute → validate.

    The stage builder makes fresh step objects for every run of a stage, so a step may keep
    what ``prepare`` computed for ``execute`` and ``validate`` on ``self``. A phase fails by
    raising ``StepFailedError`` (``TransientError`` for retryable I/O); steps are idempotent,
    since a stage interrupted by a crash runs again.
    """

    @property
    def name(self) -> str:
        """Short name, shown in events and FailureInfo."""
        ...

    async def prepare(self, ctx: StepContext) -> None:
        """Compute what to send; no side effects."""
        ...

    async def execute(self, ctx: StepContext) -> None:
        """Perform the action."""
        ...

    async def validate(self, ctx: StepContext) -> None:
        """Check the action took effect."""
        ...
