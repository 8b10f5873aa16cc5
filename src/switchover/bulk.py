"""Bulk operations over a selection of a plan's tasks: each task handled on its own.

A selection names a plan and either statuses (``--status FAILED,PAUSED``) or tenants (a
tenants file). Every selected task gets the command exactly as if it had been named by
itself — a rollback stays task-level and never moves the plan — and each outcome is reported:
accepted, or refused with its reason. Queued runs (resume, retry, rollback) start as the
plan's slots allow, so ``max_concurrency`` holds for a bulk rollback of 500 tenants too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from msgspec.structs import replace

from switchover.domain.commands import Accepted, Command
from switchover.domain.records import Target
from switchover.domain.status import TaskStatus
from switchover.errors import SwitchoverError

MAX_SELECTED = 100_000
"""The most tasks one bulk operation may select."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which of a plan's tasks: those with one of ``statuses``, or those of ``tenants``."""

    plan_id: str
    statuses: tuple[TaskStatus, ...] = ()
    tenants: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.tenants:
            return f"{len(self.tenants)} tenant(s) of plan {self.plan_id}"
        names = ",".join(s.value for s in self.statuses)
        return f"the {names} tasks of plan {self.plan_id}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One selected task the command was refused for (nothing changed for it)."""

    task_id: str
    error_type: str
    message: str


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """What a bulk command did, task by task, and the event to follow its work from."""

    plan_id: str
    accepted: tuple[Accepted, ...]
    refused: tuple[Refusal, ...]
    since: int

    @property
    def task_ids(self) -> tuple[str, ...]:
        """The tasks the command was accepted for."""
        return tuple(t for a in self.accepted for t in a.task_ids)


async def perform_each(
    command: Command,
    task_ids: Sequence[str],
    perform: Callable[[Command], Awaitable[Accepted]],
) -> tuple[list[Accepted], list[Refusal]]:
    """``command`` for each task, on its own; the accepted ones and the refused ones."""
    accepted: list[Accepted] = []
    refused: list[Refusal] = []
    for task_id in task_ids:
        try:
            accepted.append(await perform(replace(command, target=Target.task(task_id))))
        except SwitchoverError as exc:
            refused.append(Refusal(task_id, exc.error_type.value, str(exc)))
    return accepted, refused
