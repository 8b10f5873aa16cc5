"""JSON forms of the service layer's views: what ``--json`` prints, the HTTP API returns and
webhooks are sent.

One place, so a script reading the CLI's output, one calling the API and a webhook receiver
see the same shapes (``docs/json.md``). Every document a front end emits carries
``"schema": "switchover/v1"`` (``document``); within a version, fields are only ever added.
Times are RFC 3339 in UTC with milliseconds (``timestamp``); durations stay numbers of
seconds. Records start from the store codec's forms, whose times are epoch seconds, and
``plan_from_json``, ``task_from_json`` and ``event_from_json`` read the views back into
records (what ``client`` does with a server's answers).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from switchover.domain.events import EventType
from switchover.domain.rollout import describe
from switchover.domain.status import TaskStatus
from switchover.errors import StoreError
from switchover.stores import codec

if TYPE_CHECKING:
    from switchover.bulk import BulkOutcome
    from switchover.domain.commands import Accepted
    from switchover.domain.events import Event
    from switchover.domain.records import Plan, Task
    from switchover.domain.revert import Skipped
    from switchover.service import PlanDetail
    from switchover.stores.protocol import PlanSummary

__all__ = [
    "SCHEMA",
    "accepted_json",
    "bulk_json",
    "counts_json",
    "document",
    "event_from_json",
    "event_json",
    "events_page_json",
    "history_json",
    "parse_timestamp",
    "plan_detail_json",
    "plan_from_json",
    "plans_json",
    "revert_json",
    "summary_json",
    "task_from_json",
    "task_json",
    "timestamp",
]

SCHEMA = "switchover/v1"
"""The version of every JSON document: fields are only added within it (``docs/json.md``)."""

_R = TypeVar("_R")

# Event data fields that hold a time, by event type (the rest of ``data`` has none).
_EVENT_DATA_TIMES: Mapping[str, tuple[str, ...]] = {EventType.PLAN_WAVE_BAKING.value: ("until",)}


# -- times and documents ---------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _second(epoch_second: int) -> str:
    # Most times of one view share a few seconds: formatting each second once makes a
    # timestamp cost about a microsecond, which a page of 1,000 tasks or a stream notices.
    t = time.gmtime(epoch_second)
    if not 1 <= t.tm_year <= 9999:
        raise ValueError(f"{epoch_second} s after the epoch is outside RFC 3339's years")
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )


def timestamp(at: float) -> str:
    """An epoch time as RFC 3339 text in UTC, to the millisecond: ``2026-12-01T13:42:14.123Z``.

    Args:
        at: seconds since the epoch (what records hold); rounded to the nearest millisecond.

    Returns:
        ``YYYY-MM-DDTHH:MM:SS.mmmZ``: always three fraction digits and ``Z``, so the texts of
        two times sort as the times do.

    Raises:
        ValueError: ``at`` is not finite or falls outside the years 0001-9999.
    """
    seconds, millis = divmod(round(at * 1000), 1000)
    return f"{_second(seconds)}.{millis:03d}Z"


def parse_timestamp(value: object) -> float:
    """The epoch time of an RFC 3339 text (the inverse of ``timestamp``).

    Any offset is accepted, and any number of fraction digits; a number is taken as epoch
    seconds as it is (the form of views before ``switchover/v1``).

    Raises:
        ValueError: ``value`` is neither a number nor an RFC 3339 time with an offset.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 time, got {type(value).__name__}")
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset (expected e.g. a trailing 'Z')")
    return parsed.timestamp()


def _optional_timestamp(at: float | None) -> str | None:
    return timestamp(at) if at is not None else None


def document(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as a document: ``"schema": SCHEMA`` first, then its fields.

    Every JSON object a front end emits at the top level goes through here: each ``--json``
    line, each API answer, each SSE ``data``, each webhook body.
    """
    return {"schema": SCHEMA, **data}


# -- records ---------------------------------------------------------------------------------


def _plan(plan: Plan) -> dict[str, Any]:
    """A plan's codec form, with its times as text."""
    data = codec.plan_to_dict(plan)
    data["created_at"] = timestamp(plan.created_at)
    data["updated_at"] = timestamp(plan.updated_at)
    gate = plan.rollout.gate
    if gate is not None:
        data["rollout"]["gate"] |= {
            "since": timestamp(gate.since),
            "until": _optional_timestamp(gate.until),
        }
    return data


def task_json(task: Task) -> dict[str, Any]:
    """A task, with its derived fields."""
    data = codec.task_to_dict(task)
    data["created_at"] = timestamp(task.created_at)
    data["updated_at"] = timestamp(task.updated_at)
    if task.checkpoint is not None:
        data["checkpoint"]["at"] = timestamp(task.checkpoint.at)
    data["has_checkpoint"] = task.checkpoint is not None
    data["next_stage"] = task.next_stage
    data["run_version"] = task.run_version
    return data


def event_json(event: Event) -> dict[str, Any]:
    """An event as stored, its times as text, with what triggered it."""
    data = codec.event_to_dict(event)
    data["at"] = timestamp(event.at)
    times = _EVENT_DATA_TIMES.get(event.type.value)
    if times:
        data["data"] = _convert(data["data"], times, _optional_timestamp)
    data["triggered_by"] = event.triggered_by.value
    return data


def counts_json(counts: Mapping[TaskStatus, int]) -> dict[str, int]:
    """Task counts by status, every status present."""
    return {status.value: int(counts.get(status, 0)) for status in TaskStatus}


def summary_json(summary: PlanSummary) -> dict[str, Any]:
    """One plan of a list, with its task counts."""
    return _plan(summary.plan) | {"counts": counts_json(summary.counts)}


# -- documents -------------------------------------------------------------------------------


def plans_json(summaries: Iterable[PlanSummary]) -> dict[str, Any]:
    """Every plan, most recent first, with its counts (``status``, ``GET /plans``)."""
    return {"plans": [summary_json(s) for s in summaries]}


def plan_detail_json(
    detail: PlanDetail, *, offset: int = 0, limit: int | None = None
) -> dict[str, Any]:
    """A plan with its counts, failures and one page of its tasks (``status PLAN``,
    ``GET /plans/{plan}``); ``limit`` None: the page is every matching task."""
    return {
        **_plan(detail.plan),
        "counts": counts_json(detail.counts),
        "matching": detail.matching,
        "last_seq": detail.last_seq,
        "rollout_text": describe(detail.plan.policy, detail.plan.rollout),
        "failures": [
            {"error_type": kind, "stage": stage, "count": count}
            for kind, stage, count in detail.failures
        ],
        "offset": offset,
        "limit": limit,
        "tasks": [task_json(t) for t in detail.tasks],
    }


def history_json(tenant_id: str, tasks: Iterable[Task]) -> dict[str, Any]:
    """A tenant's tasks across plans, most recent first."""
    return {"tenant_id": tenant_id, "tasks": [task_json(t) for t in tasks]}


def events_page_json(plan_id: str, since: int, events: Sequence[Event]) -> dict[str, Any]:
    """One page of a plan's events after ``since``; ``next`` is the ``since`` of the next."""
    return {
        "plan_id": plan_id,
        "since": since,
        "events": [event_json(e) for e in events],
        "next": events[-1].seq if events else since,
    }


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


def revert_json(plan: Plan, reverts: str, skipped: Iterable[Skipped]) -> dict[str, Any]:
    """The plan that puts tasks of plan ``reverts`` back, and the tasks left out (and why)."""
    return {
        "plan_id": plan.plan_id,
        "reverts": reverts,
        "status": plan.status.value,
        "task_count": plan.task_count,
        "skipped": [{"task_id": s.task_id, "reason": s.reason} for s in skipped],
        "since": 0,
    }


# -- back into records -----------------------------------------------------------------------


def _convert(
    data: Mapping[str, Any], keys: Iterable[str], convert: Callable[[Any], Any]
) -> dict[str, Any]:
    """A copy of ``data`` with ``convert`` applied to those of ``keys`` it holds."""
    copy = dict(data)
    for key in keys:
        if key in copy:
            try:
                copy[key] = convert(copy[key])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{key}: {exc}") from exc
    return copy


def _optional_time(value: object) -> float | None:
    return parse_timestamp(value) if value is not None else None


def _reading(kind: str, build: Callable[[Mapping[str, Any]], _R], data: Mapping[str, Any]) -> _R:
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(f"{kind} document is malformed: {exc}") from exc


def _plan_record(data: Mapping[str, Any]) -> dict[str, Any]:
    record = _convert(data, ("created_at", "updated_at"), parse_timestamp)
    rollout = record.get("rollout")
    if rollout and rollout.get("gate"):
        gate = _convert(rollout["gate"], ("since",), parse_timestamp)
        record["rollout"] = {**rollout, "gate": _convert(gate, ("until",), _optional_time)}
    return record


def _task_record(data: Mapping[str, Any]) -> dict[str, Any]:
    record = _convert(data, ("created_at", "updated_at"), parse_timestamp)
    checkpoint = record.get("checkpoint")
    if checkpoint is not None:
        record["checkpoint"] = _convert(checkpoint, ("at",), parse_timestamp)
    return record


def _event_record(data: Mapping[str, Any]) -> dict[str, Any]:
    record = _convert(data, ("at",), parse_timestamp)
    times = _EVENT_DATA_TIMES.get(str(record.get("type")))
    if times and isinstance(record.get("data"), Mapping):
        record["data"] = _convert(record["data"], times, _optional_time)
    return record


def plan_from_json(data: Mapping[str, Any]) -> Plan:
    """The plan a plan view (``summary_json``, ``plan_detail_json``) shows.

    Raises:
        StoreError: ``data`` is not a plan view.
    """
    return codec.plan_from_dict(_reading("plan", _plan_record, data))


def task_from_json(data: Mapping[str, Any]) -> Task:
    """The task ``task_json`` shows (times to the millisecond).

    Raises:
        StoreError: ``data`` is not a task view.
    """
    return codec.task_from_dict(_reading("task", _task_record, data))


def event_from_json(data: Mapping[str, Any]) -> Event:
    """The event ``event_json`` shows (times to the millisecond).

    Raises:
        StoreError: ``data`` is not an event view.
    """
    return codec.event_from_dict(_reading("event", _event_record, data))
