"""Stages as the engine sees them, and the StageBuilder protocol that makes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from switchover.domain.config import TenantConfig
from switchover.domain.status import ExecutionMode
from switchover.steps.protocol import Step


@dataclass(frozen=True, slots=True)
class Stage:
    """An indivisible unit of a task: a name and its ordered steps."""

    name: str
    steps: Sequence[Step]


@dataclass(frozen=True, slots=True)
class StageRequest:
    """What to build stages for: the config a run applies, and in which mode."""

    tenant_id: str
    config: TenantConfig
    mode: ExecutionMode


class StageBuilder(Protocol):
    """Builds a task's stage list. Forward runs, retries and rollbacks all go through it."""

    def names(self, request: StageRequest) -> tuple[str, ...]:
        """The stage names ``build`` would return, cheaply (no step objects)."""
        ...

    def build(self, request: StageRequest) -> Sequence[Stage]:
        """Fresh stages, with fresh step objects, in execution order."""
        ...


def forward_stages(builder: StageBuilder) -> Callable[[TenantConfig], tuple[str, ...]]:
    """The names of the stages ``builder`` gives a config's forward run (what a new task
    records: ``lifecycle.created``)."""
    return lambda config: builder.names(
        StageRequest(config.tenant_id, config, ExecutionMode.NORMAL)
    )
