"""Putting COMPLETED and CANCELLED tenants back, without touching the seeds' rollback.

A revert is a new plan: each selected task's previous-config snapshot becomes the new
config, and the config being left becomes the new task's previous one. It runs forward
through the same stages, verify included, and the original plan is left as it is. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from switchover.domain.records import Plan, PlanSpec, Task, TenantSpec
from switchover.domain.status import TaskStatus

REVERTIBLE = frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED})
"""Statuses a task can be reverted from (others have their own way back: rollback)."""


class Skipped(msgspec.Struct, frozen=True):
    """A selected task the revert leaves out, and why."""

    task_id: str
    reason: str


def revert_id(plan_id: str, taken: Iterable[str]) -> str:
    """The first free ``{plan_id}-revert-N``."""
    used = set(taken)
    number = 1
    while f"{plan_id}-revert-{number}" in used:
        number += 1
    candidate = f"{plan_id}-revert-{number}"
    return candidate[-64:] if len(candidate) > 64 else candidate


def revert_spec(
    plan: Plan,
    tasks: Sequence[Task],
    new_id: str,
    newer: dict[str, str],
) -> tuple[PlanSpec | None, list[Skipped]]:
    """The plan that puts ``tasks`` back, and the tasks left out (with why).

    Args:
        plan: the plan the tasks belong to.
        tasks: the selected tasks.
        new_id: the new plan's id.
        newer: tenant → a newer task that has switched it since (those are left out).
    """
    specs: list[TenantSpec] = []
    skipped: list[Skipped] = []
    for task in tasks:
        if task.status not in REVERTIBLE:
            skipped.append(
                Skipped(
                    task.task_id,
                    f"{task.status.value}: only COMPLETED or CANCELLED tasks are reverted "
                    "(roll FAILED or PAUSED ones back with 'switchover rollback')",
                )
            )
        elif task.previous is None:
            skipped.append(Skipped(task.task_id, "no previous config: nothing to go back to"))
        elif task.status is TaskStatus.CANCELLED and task.checkpoint is None:
            skipped.append(Skipped(task.task_id, "cancelled before any stage: nothing to undo"))
        elif task.tenant_id in newer:
            skipped.append(
                Skipped(
                    task.task_id,
                    f"tenant switched since by task {newer[task.tenant_id]}; revert that one",
                )
            )
        else:
            specs.append(TenantSpec(config=task.previous, previous=task.config))
    if not specs:
        return None, skipped
    version = max(spec.config.plan_version for spec in specs)
    return PlanSpec(new_id, version, plan.max_concurrency, tuple(specs)), skipped
