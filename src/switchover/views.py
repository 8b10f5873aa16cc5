"""JSON forms of the service layer's views: what ``--json`` prints and the HTTP API returns.

One place, so a script reading the CLI's output and one calling the API see the same shapes.
Records use the store codec's forms, plus the fields derived from them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from switchover.bulk import BulkOutcome
from switchover.domain.commands import Accepted
from switchover.domain.events import Event
from switchover.domain.records import Plan, Task
from switchover.domain.status import TaskStatus
from switchover.stores import codec
from switchover.stores.protocol import PlanSummary


def task_json(task: Task) -> dict[str, Any]:
    """A task, with its derived fields."""
    data = codec.task_to_dict(task)
    data["has_checkpoint"] = task.checkpoint is not None
    data["next_stage"] = task.next_stage
    data["run_version"] = task.run_version
    return data


def plan_json(plan: Plan, tasks: Iterable[Task]) -> dict[str, Any]:
    """A plan with the counts of the given tasks and the tasks themselves."""
    task_list = list(tasks)
    counts = Counter(t.status.value for t in task_list)
    return {
        **codec.plan_to_dict(plan),
        "counts": dict(counts),
        "tasks": [task_json(t) for t in task_list],
    }


def counts_json(counts: Mapping[TaskStatus, int]) -> dict[str, int]:
    """Task counts by status, every status present."""
    return {status.value: int(counts.get(status, 0)) for status in TaskStatus}


def summary_json(summary: PlanSummary) -> dict[str, Any]:
    """One plan of a list, with its task counts."""
    return codec.plan_to_dict(summary.plan) | {"counts": counts_json(summary.counts)}


def event_json(event: Event) -> dict[str, Any]:
    """An event as stored, with what triggered it."""
    return event.to_dict() | {"triggered_by": event.triggered_by.value}


def accepted_json(accepted: Accepted, since: int) -> dict[str, Any]:
    """What a command was accepted as, and the event to follow its work from."""
    return {
        "plan_id": accepted.plan_id,
        "task_ids": list(accepted.task_ids),
        "message": accepted.message,
        "since": since,
    }


def bulk_json(outcome: BulkOutcome) -> dict[str, Any]:
    """What a bulk operation did, task by task."""
    return {
        "plan_id": outcome.plan_id,
        "accepted": [
            {"task_ids": list(a.task_ids), "message": a.message} for a in outcome.accepted
        ],
        "refused": [
            {"task_id": r.task_id, "error_type": r.error_type, "message": r.message}
            for r in outcome.refused
        ],
        "since": outcome.since,
    }
