"""The SQLite store's read queries: task filters, pages and counts answered in SQL."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from switchover.domain.records import Plan, TargetKind
from switchover.domain.status import EXECUTING_TASK_STATUSES, TaskStatus
from switchover.errors import StoreError
from switchover.stores.codec import decode_plan
from switchover.stores.protocol import PlanSummary

__all__ = [
    "EXECUTING",
    "FAILURE_COUNTS",
    "PLAN_SUMMARIES",
    "TASKS",
    "TASK_COUNTS",
    "TASK_HISTORY",
    "TASK_ROW",
    "Query",
    "check_page",
    "ids_near_query",
    "plan_summaries",
    "prefix_successor",
    "status_counts",
    "task_filter",
    "tasks_source",
    "with_status_sql",
]

TASK_ROW = "t.doc, c.configs"
"""The columns ``decode_task`` takes, in its order, from ``TASKS``."""


def tasks_source(index: str | None = None) -> str:
    """The FROM clause of a query returning tasks: each task row with its configs row.

    A LEFT JOIN keeps the tasks table the outer loop (its indexes drive every query), and a
    task whose configs row is missing is reported as malformed instead of left out.

    Args:
        index: the tasks index SQLite must use, when its own choice would be worse.
    """
    indexed = f" INDEXED BY {index}" if index is not None else ""
    return f"tasks AS t{indexed} LEFT JOIN task_configs AS c ON c.task_id = t.task_id"


TASKS = tasks_source()
"""Every task with its configs."""

# Plans in rowid order, each plan's tasks through the covering (plan_id, status, position)
# index, so the groups arrive in order and no task row is read; only the few output rows are
# sorted.
PLAN_SUMMARIES = (
    "SELECT p.plan_id, p.doc, t.status, count(t.status) FROM plans AS p"
    " LEFT JOIN tasks AS t ON t.plan_id = p.plan_id GROUP BY p.rowid, t.status"
    " ORDER BY p.created_at DESC, p.rowid DESC, t.status"
)
TASK_COUNTS = "SELECT status, count(*) FROM tasks WHERE plan_id = ? GROUP BY status"
FAILURE_COUNTS = (
    "SELECT json_extract(doc, '$.failure.error_type'), json_extract(doc, '$.failure.stage'), "
    "count(*) FROM tasks WHERE plan_id = ? AND status IN ('FAILED', 'ROLLBACK_FAILED') "
    "GROUP BY 1, 2 ORDER BY 3 DESC"
)
"""The plan's failed tasks counted by the error type and stage of their failure."""
TASK_HISTORY = (
    f"SELECT {TASK_ROW} FROM {TASKS} WHERE t.tenant_id = ?"
    " ORDER BY t.created_at DESC, t.rowid DESC LIMIT ?"
)

EXECUTING: tuple[TaskStatus, ...] = tuple(sorted(EXECUTING_TASK_STATUSES))
"""The statuses of a task whose stages are being run, in a fixed order."""

_MAX_CHAR = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)

Query = tuple[str, list[Any]]
"""SQL text (a WHERE clause over ``tasks AS t``, or a whole query) and its parameters."""


def check_page(offset: int, limit: int | None) -> None:
    """Refuse a negative offset or limit.

    Raises:
        ValueError: ``offset`` or ``limit`` is negative.
    """
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")


def ids_near_query(
    kind: TargetKind, key: str, candidates: Collection[str], around: int, plan_id: str | None
) -> Query:
    """The query for ``StateStore.ids_near``: the ``candidates`` that exist, and ``around``
    ids on either side of ``key``, each once, in code point order.

    Each part is a walk of one index (the plans' primary key, ``tasks_by_tenant`` or
    ``tasks_by_plan_tenant``): exact seeks for the candidates, two bounded range scans.

    Raises:
        ValueError: ``kind`` is ``TASK``, or ``around`` is negative.
    """
    if around < 0:
        raise ValueError(f"around must not be negative, got {around}")
    scope: list[Any] = []
    if kind is TargetKind.PLAN:
        source, column, where = "plans", "plan_id", ""
    elif kind is TargetKind.TENANT:
        source, column, where = "tasks", "tenant_id", ""
        if plan_id is not None:
            where, scope = "plan_id = ? AND ", [plan_id]
    else:
        raise ValueError(f"ids_near looks up plans or tenants, not {kind.value}s")
    side = f"SELECT DISTINCT {column} FROM {source} WHERE {where}{column}"
    sql = (
        f"{side} IN (SELECT value FROM json_each(?))"
        f" UNION SELECT * FROM ({side} >= ? ORDER BY {column} LIMIT ?)"
        f" UNION SELECT * FROM ({side} < ? ORDER BY {column} DESC LIMIT ?)"
        " ORDER BY 1"
    )
    exact = json.dumps(sorted(set(candidates)))
    return sql, [*scope, exact, *scope, key, around, *scope, key, around]


def prefix_successor(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix``; None: there is none.

    SQLite compares text by its UTF-8 bytes, which orders it as code points, so the strings
    starting with ``prefix`` are exactly those in ``[prefix, prefix_successor(prefix))`` — a
    range an index can walk, where ``LIKE`` (with its wildcards) or ``substr`` alone cannot.
    """
    stem = prefix.rstrip(chr(_MAX_CHAR))
    if not stem:
        return None
    code = ord(stem[-1]) + 1
    if code in _SURROGATES:  # never in stored text: the next character there is U+E000
        code = _SURROGATES.stop
    return stem[:-1] + chr(code)


def task_filter(
    plan_id: str, statuses: Sequence[TaskStatus] | None, tenant_prefix: str | None
) -> Query | None:
    """The WHERE clause selecting the plan's tasks that pass the filters.

    Returns:
        The clause and its parameters; None when no task can pass (``statuses`` empty, or a
        prefix no stored tenant id can have).
    """
    clauses: list[str] = ["t.plan_id = ?"]
    params: list[Any] = [plan_id]
    if statuses is not None:
        wanted = sorted({TaskStatus(status).value for status in statuses})
        if not wanted:
            return None
        clauses.append(f"t.status IN ({', '.join('?' * len(wanted))})")
        params += wanted
    if tenant_prefix:
        try:
            tenant_prefix.encode()
        except UnicodeEncodeError:  # a lone surrogate: stored text is valid UTF-8
            return None
        # The range lets SQLite walk tasks_by_plan_tenant; substr states the rule itself.
        clauses.append("t.tenant_id >= ?")
        params.append(tenant_prefix)
        upper = prefix_successor(tenant_prefix)
        if upper is not None:
            clauses.append("t.tenant_id < ?")
            params.append(upper)
        clauses.append("substr(t.tenant_id, 1, ?) = ?")
        params += [len(tenant_prefix), tenant_prefix]
    return " AND ".join(clauses), params


def with_status_sql(statuses: Iterable[TaskStatus], plan_id: str | None = None) -> Query:
    """The query for the tasks with one of ``statuses`` (not empty), of one plan or of all,
    by plan creation then position.

    Plans are the outer loop and each plan's tasks are sought in (plan_id, status, position):
    a few seeks per plan, never a walk over tasks of other statuses. SQLite is told so, as
    without statistics it would rather scan the tasks table, or walk a plan in position order.
    """
    wanted = sorted({TaskStatus(status).value for status in statuses})
    where = f"t.plan_id = p.plan_id AND t.status IN ({', '.join('?' * len(wanted))})"
    params: list[Any] = list(wanted)
    if plan_id is not None:
        where += " AND p.plan_id = ?"
        params.append(plan_id)
    sql = (
        f"SELECT {TASK_ROW} FROM plans AS p CROSS JOIN {tasks_source('tasks_by_plan_status')}"
        f" WHERE {where} ORDER BY p.created_at, p.rowid, t.position, t.rowid"
    )
    return sql, params


def _status(text: str) -> TaskStatus:
    try:
        return TaskStatus(text)
    except ValueError as exc:
        raise StoreError(f"stored task status {text!r} is unknown") from exc


def status_counts(rows: Iterable[tuple[str, int]]) -> dict[TaskStatus, int]:
    """The rows of ``TASK_COUNTS`` as a mapping.

    Raises:
        StoreError: a stored status is unknown.
    """
    return {_status(status): int(count) for status, count in rows}


def plan_summaries(rows: Iterable[tuple[str, str, str | None, int | None]]) -> list[PlanSummary]:
    """Fold the rows of ``PLAN_SUMMARIES`` (one per plan and status) into summaries.

    Raises:
        StoreError: a plan row is malformed or a stored status unknown.
    """
    summaries: list[PlanSummary] = []
    current: tuple[str, Plan, dict[TaskStatus, int]] | None = None
    for plan_id, doc, status, count in rows:
        if current is None or current[0] != plan_id:
            current = (plan_id, decode_plan(doc), {})
            summaries.append(PlanSummary(current[1], current[2]))
        if status is not None and count:
            current[2][_status(status)] = int(count)
    return summaries
