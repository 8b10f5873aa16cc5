"""The SQLite store's alert outbox: the write operations and reads over its two tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence

from switchover.errors import StoreError
from switchover.stores.codec import decode_event
from switchover.stores.protocol import Alert, AlertsQueued, AlertState
from switchover.stores.sqlite_txn import Txn

__all__ = [
    "DUE_ALERTS",
    "alert_counts",
    "apply_alert_delivered",
    "apply_alert_failed",
    "apply_enqueue_alerts",
    "check_limits",
    "due_alerts",
    "enqueue_arg",
    "has_new_events",
]

EnqueueArg = tuple[tuple[str, ...], tuple[str, ...], float, int]
"""``enqueue_alerts``'s arguments: event types, webhook keys, now, and the event budget."""

# Plans whose last event is past their cursor (no cursor: 0), oldest plan first. One pass over
# the plans table; it adds no index to it, as every commit moves `last_seq`.
_BEHIND = (
    "FROM plans AS p LEFT JOIN alert_cursors AS c ON c.plan_id = p.plan_id"
    " WHERE p.last_seq > coalesce(c.seq, 0)"
)
_PLANS_BEHIND = (
    f"SELECT p.plan_id, coalesce(c.seq, 0), p.last_seq {_BEHIND} ORDER BY p.created_at, p.rowid"
)
_ANY_BEHIND = f"SELECT 1 {_BEHIND} LIMIT 1"
_MOVE_CURSOR = (
    "INSERT INTO alert_cursors (plan_id, seq) VALUES (?, ?)"
    " ON CONFLICT (plan_id) DO UPDATE SET seq = excluded.seq"
)
_INSERT_ALERT = (
    "INSERT INTO alerts (webhook, plan_id, seq, state, attempts, created_at, next_at)"
    f" VALUES (?, ?, ?, '{AlertState.PENDING}', 0, ?, ?) ON CONFLICT DO NOTHING"
)
_KEY = "webhook = ? AND plan_id = ? AND seq = ?"
_DELIVERED = (
    f"UPDATE alerts SET state = '{AlertState.DELIVERED}', attempts = attempts + 1,"
    f" done_at = ?, last_error = NULL WHERE {_KEY} AND state != '{AlertState.DELIVERED}'"
)
_FAILED = (
    "UPDATE alerts SET state = ?, attempts = attempts + 1, next_at = coalesce(?, next_at),"
    f" done_at = ?, last_error = ? WHERE {_KEY} AND state = '{AlertState.PENDING}'"
)
# The alerts due to one webhook. `head`: each plan's oldest pending alert, whose `next_at` says
# when the plan's queue is due (SQLite takes a bare column beside min() from the row holding
# the minimum); `due`: the plans due, first due first, no more plans than alerts wanted; then
# each such plan's first alerts, sought plan by plan. Only the partial index of pending rows is
# read (SQLite, without statistics, would rather walk all the webhook's rows in the table,
# delivered ones included); the state is a literal, so that SQLite can tell that the index
# holds every row wanted. The document is the event's own row.
_PENDING = (
    f"alerts INDEXED BY alerts_pending WHERE webhook = :webhook AND state = '{AlertState.PENDING}'"
)
DUE_ALERTS = f"""
    WITH head AS (
        SELECT plan_id, min(seq) AS seq, next_at FROM {_PENDING} GROUP BY plan_id
    ), due AS (
        SELECT plan_id, next_at FROM head WHERE next_at <= :now
        ORDER BY next_at, plan_id LIMIT :limit
    )
    SELECT a.plan_id, a.seq, a.attempts, a.next_at, e.doc FROM due AS d
    JOIN alerts AS a INDEXED BY alerts_pending ON a.webhook = :webhook
        AND a.state = '{AlertState.PENDING}' AND a.plan_id = d.plan_id
        AND a.seq IN (SELECT seq FROM {_PENDING} AND plan_id = d.plan_id ORDER BY seq
                      LIMIT :per_plan)
    LEFT JOIN events AS e ON e.plan_id = a.plan_id AND e.seq = a.seq
    ORDER BY d.next_at, d.plan_id, a.seq LIMIT :limit
"""
_COUNTS = "SELECT state, count(*) FROM alerts GROUP BY state"


def enqueue_arg(
    types: Collection[str], webhooks: Sequence[str], at: float, limit: int
) -> EnqueueArg:
    """The writer's own copy of ``enqueue_alerts``' arguments, each type and webhook once.

    Raises:
        ValueError: ``limit`` is below 1.
    """
    check_limits(limit=limit)
    return tuple(dict.fromkeys(types)), tuple(dict.fromkeys(webhooks)), at, limit


def has_new_events(reader: sqlite3.Connection) -> bool:
    """Whether some plan has events past its cursor: the cheap read before a write."""
    return reader.execute(_ANY_BEHIND).fetchone() is not None


def apply_enqueue_alerts(txn: Txn, arg: EnqueueArg) -> AlertsQueued:
    """Write the alerts of the events past each plan's cursor, and move the cursors.

    Reads what is committed, not what this transaction staged: an event committed in the same
    batch is past the cursor it leaves, and is taken by the next call.
    """
    types, webhooks, at, budget = arg
    conn = txn.conn
    behind: list[tuple[str, int, int]] = conn.execute(_PLANS_BEHIND).fetchall()
    matching = (
        "SELECT seq FROM events WHERE plan_id = ? AND seq > ? AND seq <= ?"
        f" AND json_extract(doc, '$.type') IN ({', '.join('?' * len(types))}) ORDER BY seq"
    )
    alerts: list[tuple[str, str, int, float, float]] = []
    cursors: list[tuple[str, int]] = []
    passed, more = 0, False
    for plan_id, cursor, last in behind:
        if passed == budget:
            more = True
            break
        upto = min(last, cursor + budget - passed)  # sequence numbers have no gaps
        more = upto < last
        passed += upto - cursor
        if types and webhooks:
            for (seq,) in conn.execute(matching, (plan_id, cursor, upto, *types)):
                alerts += [(webhook, plan_id, seq, at, at) for webhook in webhooks]
        cursors.append((plan_id, upto))
    if alerts:
        conn.executemany(_INSERT_ALERT, alerts)
    conn.executemany(_MOVE_CURSOR, cursors)
    return AlertsQueued(alerts=len(alerts), events=passed, more=more)


def apply_alert_delivered(txn: Txn, arg: tuple[Alert, float]) -> None:
    """Mark one alert delivered (unless it already is)."""
    alert, at = arg
    key = (alert.webhook, alert.event.plan_id, alert.event.seq)
    txn.conn.execute(_DELIVERED, (at, *key))


def apply_alert_failed(txn: Txn, arg: tuple[Alert, float, str, float | None]) -> None:
    """Count a failed attempt of a pending alert: due again at ``next_at``, or given up."""
    alert, at, error, next_at = arg
    state, done_at = (
        (AlertState.PENDING, None) if next_at is not None else (AlertState.GIVEN_UP, at)
    )
    key = (alert.webhook, alert.event.plan_id, alert.event.seq)
    txn.conn.execute(_FAILED, (state.value, next_at, done_at, error, *key))


def check_limits(**limits: int) -> None:
    """Refuse a limit below 1.

    Raises:
        ValueError: one of ``limits`` is below 1.
    """
    for name, value in limits.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def due_alerts(
    reader: sqlite3.Connection, webhook: str, now: float, limit: int, per_plan: int
) -> list[Alert]:
    """The alerts ``AlertOutbox.due_alerts`` returns, decoded.

    Raises:
        StoreError: an alert's event is missing or malformed.
    """
    found: list[Alert] = []
    params = {"webhook": webhook, "now": now, "limit": limit, "per_plan": per_plan}
    rows: Sequence[tuple[str, int, int, float, str | None]] = reader.execute(
        DUE_ALERTS, params
    ).fetchall()
    for plan_id, seq, attempts, next_at, doc in rows:
        if doc is None:  # events are never deleted: the file was changed by hand
            raise StoreError(f"alert {plan_id}:{seq} names an event the store does not hold")
        found.append(Alert(decode_event(doc), webhook, int(attempts), float(next_at)))
    return found


def alert_counts(reader: sqlite3.Connection) -> dict[AlertState, int]:
    """Every alert counted by state.

    Raises:
        StoreError: a stored state is unknown.
    """
    counts: dict[AlertState, int] = {}
    for state, count in reader.execute(_COUNTS):
        try:
            counts[AlertState(state)] = int(count)
        except ValueError as exc:
            raise StoreError(f"stored alert state {state!r} is unknown") from exc
    return counts
