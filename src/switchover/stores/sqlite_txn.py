"""The SQLite store's schema and the operations it applies inside one write transaction."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from msgspec.structs import replace

from switchover.domain.events import Event
from switchover.domain.records import Lease, Plan, Task
from switchover.errors import ConflictError, LeaseLostError, NotFoundError, StoreError
from switchover.stores.codec import (
    dumps,
    encode_control,
    encode_lease,
    encode_plan,
    encode_task_configs,
    encode_task_run,
    event_to_dict,
)
from switchover.stores.protocol import Change

if TYPE_CHECKING:
    from switchover.domain.commands import ControlRequest

T = TypeVar("T")
A = TypeVar("A")

SCHEMA_VERSION = 4
"""The schema this code reads and writes, kept in ``PRAGMA user_version``."""

# MIGRATIONS[v] takes a file from schema version v to v + 1 (statements split on ";").
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE plans (plan_id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at REAL NOT NULL,
        updated_at REAL NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL);
    CREATE INDEX plans_by_created ON plans (created_at);
    CREATE TABLE tasks (task_id TEXT PRIMARY KEY, plan_id TEXT NOT NULL, tenant_id TEXT NOT NULL,
        position INTEGER NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
        doc TEXT NOT NULL);
    CREATE INDEX tasks_by_plan ON tasks (plan_id, position);
    CREATE INDEX tasks_by_tenant ON tasks (tenant_id, created_at);
    CREATE INDEX tasks_by_status ON tasks (status);
    CREATE TABLE events (plan_id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL,
        PRIMARY KEY (plan_id, seq)) WITHOUT ROWID;
    CREATE TABLE controls (control_id TEXT PRIMARY KEY, created_at REAL NOT NULL,
        done INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX controls_pending ON controls (created_at) WHERE done = 0;
    CREATE TABLE lease (id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT NOT NULL,
        expires_at REAL NOT NULL, doc TEXT NOT NULL)
    """,
    # 2: lease epochs (fenced commits) and the store's identity; control requests hold typed
    # commands now (requests live seconds: those of older versions are dropped). A task's two
    # configs move out of its doc into `task_configs`, written once when the task is created:
    # a stage boundary rewrites only the run (`tasks.doc`), and a task row a third the size
    # means a third of the pages written per boundary. Indexes for the front ends' queries:
    # counts and pages by status within a plan (which also finds a status across plans, plan
    # by plan, so the status-only index goes: every boundary rewrites each status index's
    # entry), tenant-prefix filters within a plan.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    ALTER TABLE lease ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
    INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
    INSERT INTO meta (key, value) VALUES ('lease_epoch', '0');
    DELETE FROM controls;
    CREATE TABLE task_configs (task_id TEXT PRIMARY KEY, configs TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO task_configs (task_id, configs)
        SELECT task_id, json_object('config', json(json_extract(doc, '$.config')),
                                    'previous', json(json_extract(doc, '$.previous')))
        FROM tasks;
    UPDATE tasks SET doc = json_remove(doc, '$.config', '$.previous');
    DROP INDEX tasks_by_status;
    CREATE INDEX tasks_by_plan_status ON tasks (plan_id, status, position);
    CREATE INDEX tasks_by_plan_tenant ON tasks (plan_id, tenant_id)
    """,
    # 3: webhook alerts from a durable outbox. `alert_cursors` holds each plan's last event
    # considered for alerts; plans that exist already start at their last event, so an upgrade
    # does not alert on history. `alerts` has one row per (webhook, event) owed, the webhook
    # named by a digest of its URL (URLs are secrets); the event itself is read from `events`.
    # The dispatcher reads only the pending rows' index, which delivered rows leave at once
    # (it holds `state` too, constant as it is: SQLite reads a row to test a column it lacks).
    """
    CREATE TABLE alert_cursors (plan_id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO alert_cursors (plan_id, seq) SELECT plan_id, last_seq FROM plans;
    CREATE TABLE alerts (webhook TEXT NOT NULL, plan_id TEXT NOT NULL, seq INTEGER NOT NULL,
        state TEXT NOT NULL, attempts INTEGER NOT NULL, created_at REAL NOT NULL,
        next_at REAL NOT NULL, done_at REAL, last_error TEXT,
        PRIMARY KEY (webhook, plan_id, seq)) WITHOUT ROWID;
    CREATE INDEX alerts_pending ON alerts (webhook, plan_id, seq, next_at, attempts, state)
        WHERE state = 'pending'
    """,
    # 4: a task's own events, for its page (stage timeline, history, audit trail), without
    # reading the whole plan's log: the task id as a column, indexed where set (plan-level
    # events carry none). The index ends in the primary key (plan_id, seq), so a task's
    # events come out in order.
    """
    ALTER TABLE events ADD COLUMN task_id TEXT;
    UPDATE events SET task_id = json_extract(doc, '$.task_id');
    CREATE INDEX events_by_task ON events (task_id) WHERE task_id IS NOT NULL
    """,
)

_INSERT_PLAN = (
    "INSERT INTO plans (plan_id, status, created_at, updated_at, last_seq, doc)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_UPDATE_PLAN = "UPDATE plans SET status = ?, updated_at = ?, doc = ? WHERE plan_id = ?"
_UPDATE_SEQ = "UPDATE plans SET last_seq = ? WHERE plan_id = ?"
_INSERT_TASK = (
    "INSERT INTO tasks (task_id, plan_id, tenant_id, position, status, created_at, doc)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CONFIGS = "INSERT INTO task_configs (task_id, configs) VALUES (?, ?)"
# A stage boundary rewrites the run only: identity columns and configs are fixed at creation.
# An UPDATE, not an upsert, so a change naming a task that was never created is refused.
_UPDATE_TASK = "UPDATE tasks SET status = ?, doc = ? WHERE task_id = ? AND plan_id = ?"
_INSERT_EVENT = "INSERT INTO events (plan_id, seq, doc, task_id) VALUES (?, ?, ?, ?)"

SYNCHRONOUS_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})

_TaskRow = tuple[str, str, str, int, str, float, str]
_TaskUpdate = tuple[str, str, str, str]
_Op = Callable[["Txn", Any], Any]
Item = tuple[_Op | None, Any, "asyncio.Future[Any]"]  # op None: stop after what is queued
Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


def store_error(message: str, exc: BaseException) -> StoreError:
    error = StoreError(f"{message}: {exc}")
    error.__cause__ = exc
    return error


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # gone either way; the first error is reported
            conn.execute("ROLLBACK")


def settle(outcomes: Sequence[Outcome]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class Txn:
    """The writes of one transaction, gathered per table so each gets a single executemany.

    An operation stages its writes only after every check passed and every row is encoded,
    so an operation that raises a ``SwitchoverError`` has written nothing.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.seqs: dict[str, int] = {}
        self.stored_seqs: dict[str, int] = {}
        self.plan_inserts: list[tuple[str, str, float, float, int, str]] = []
        self.plan_updates: list[tuple[str, float, str, str]] = []
        self.task_inserts: list[_TaskRow] = []
        self.config_inserts: list[tuple[str, str]] = []
        self.task_updates: list[_TaskUpdate] = []
        self.event_rows: list[tuple[str, int, str, str | None]] = []
        self._epoch: tuple[int | None] | None = None

    def lease_epoch(self) -> int | None:
        """The current lease epoch in this transaction, or None: nobody holds the lease."""
        if self._epoch is None:
            row = self.conn.execute("SELECT epoch FROM lease WHERE id = 1").fetchone()
            self._epoch = (None if row is None else int(row[0]),)
        return self._epoch[0]

    def check_fence(self, fence: int | None) -> None:
        """Refuse a fenced write whose epoch is not the lease's current one.

        Raises:
            LeaseLostError: another engine holds the lease now (or nobody does).
        """
        if fence is None:
            return
        current = self.lease_epoch()
        if current != fence:
            holder = "nobody" if current is None else f"epoch {current}"
            raise LeaseLostError(
                f"this engine's lease (epoch {fence}) is no longer current ({holder} holds "
                "the store now); its write was refused"
            )

    def set_lease_epoch(self, epoch: int | None) -> None:
        """Keep the cached epoch right after this transaction changed the lease."""
        self._epoch = (epoch,)

    def last_seq(self, plan_id: str) -> int | None:
        """The plan's last sequence number in this transaction, or None: no such plan."""
        seq = self.seqs.get(plan_id)
        if seq is None:
            sql = "SELECT last_seq FROM plans WHERE plan_id = ?"
            row = self.conn.execute(sql, (plan_id,)).fetchone()
            if row is None:
                return None
            seq = self.seqs[plan_id] = self.stored_seqs[plan_id] = int(row[0])
        return seq

    def flush(self) -> None:
        """Write everything staged; creations go before updates."""
        conn = self.conn
        for sql, rows in (
            (_INSERT_PLAN, self.plan_inserts),
            (_UPDATE_PLAN, self.plan_updates),
            (_INSERT_TASK, self.task_inserts),
            (_INSERT_CONFIGS, self.config_inserts),
            (_INSERT_EVENT, self.event_rows),
        ):
            if rows:
                conn.executemany(sql, rows)
        updates = self.task_updates
        # executemany sums the rows each update changed: one per update when every task exists.
        if updates and conn.executemany(_UPDATE_TASK, updates).rowcount != len(updates):
            raise StoreError("a change names a task its plan does not have")
        stored = self.stored_seqs
        moved = [(seq, plan_id) for plan_id, seq in self.seqs.items() if seq != stored[plan_id]]
        if moved:
            conn.executemany(_UPDATE_SEQ, moved)


def _check_tasks(plan_id: str, tasks: Sequence[Task]) -> None:
    for task in tasks:
        if task.plan_id != plan_id:
            raise StoreError(f"task {task.task_id} belongs to plan {task.plan_id}, not {plan_id}")


def _task_inserts(plan_id: str, tasks: Sequence[Task]) -> list[_TaskRow]:
    _check_tasks(plan_id, tasks)
    # TaskStatus is a str subclass, so sqlite3 binds it as its text value.
    return [
        (
            task.task_id,
            plan_id,
            task.tenant_id,
            task.position,
            task.status,
            task.created_at,
            encode_task_run(task),
        )
        for task in tasks
    ]


def _task_updates(plan_id: str, tasks: Sequence[Task]) -> list[_TaskUpdate]:
    _check_tasks(plan_id, tasks)
    return [(task.status, encode_task_run(task), task.task_id, plan_id) for task in tasks]


def _number_events(
    plan_id: str, last_seq: int, events: Sequence[Event]
) -> tuple[list[Event], list[tuple[str, int, str, str | None]]]:
    numbered: list[Event] = []
    rows: list[tuple[str, int, str, str | None]] = []
    for event in events:
        if event.plan_id != plan_id:
            raise StoreError(f"event {event.type} belongs to plan {event.plan_id}, not {plan_id}")
        last_seq += 1
        data = event_to_dict(event)
        data["seq"] = last_seq
        rows.append((plan_id, last_seq, dumps(data), event.task_id))
        numbered.append(replace(event, seq=last_seq))
    return numbered, rows


def apply_create(txn: Txn, arg: tuple[Plan, Sequence[Task], Sequence[Event]]) -> list[Event]:
    plan, tasks, events = arg
    plan_id = plan.plan_id
    if txn.last_seq(plan_id) is not None:
        raise ConflictError(f"plan {plan_id} already exists")
    task_rows = _task_inserts(plan_id, tasks)
    numbered, event_rows = _number_events(plan_id, 0, events)
    last, doc = len(numbered), encode_plan(plan)
    txn.plan_inserts.append((plan_id, plan.status, plan.created_at, plan.updated_at, last, doc))
    txn.seqs[plan_id] = txn.stored_seqs[plan_id] = last
    txn.task_inserts += task_rows
    txn.config_inserts += [(task.task_id, encode_task_configs(task)) for task in tasks]
    txn.event_rows += event_rows
    return numbered


def apply_commit(txn: Txn, change: Change) -> list[Event]:
    txn.check_fence(change.fence)
    plan_id, plan = change.plan_id, change.plan
    last = txn.last_seq(plan_id)
    if last is None:
        raise StoreError(f"plan {plan_id} does not exist")
    if plan is not None and plan.plan_id != plan_id:
        raise StoreError(f"a change to plan {plan_id} carries plan {plan.plan_id}")
    task_rows = _task_updates(plan_id, change.tasks)
    numbered, event_rows = _number_events(plan_id, last, change.events)
    if plan is not None:
        txn.plan_updates.append((plan.status, plan.updated_at, encode_plan(plan), plan_id))
    if numbered:
        txn.seqs[plan_id] = numbered[-1].seq
    txn.task_updates += task_rows
    txn.event_rows += event_rows
    return numbered


def apply_submit_control(txn: Txn, request: ControlRequest) -> None:
    sql = (
        "INSERT INTO controls (control_id, created_at, done, doc) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (control_id) DO NOTHING"
    )
    done, doc = request.outcome is not None, encode_control(request)
    if txn.conn.execute(sql, (request.control_id, request.created_at, done, doc)).rowcount != 1:
        raise ConflictError(f"control request {request.control_id} already exists")


def apply_finish_control(txn: Txn, arg: tuple[ControlRequest, int | None]) -> None:
    request, fence = arg
    txn.check_fence(fence)
    sql = "UPDATE controls SET done = ?, doc = ? WHERE control_id = ?"
    done, doc = request.outcome is not None, encode_control(request)
    if txn.conn.execute(sql, (done, doc, request.control_id)).rowcount != 1:
        raise NotFoundError("control request", request.control_id)


def apply_swap_lease(txn: Txn, arg: tuple[str | None, Lease]) -> Lease | None:
    expected_owner, lease = arg
    conn = txn.conn
    row = conn.execute("SELECT owner, epoch FROM lease WHERE id = 1").fetchone()
    current_owner = None if row is None else str(row[0])
    if current_owner != expected_owner:
        return None
    if row is not None and current_owner == lease.owner:
        epoch = int(row[1])  # a renewal keeps the epoch
    else:
        issued = conn.execute("SELECT value FROM meta WHERE key = 'lease_epoch'").fetchone()
        epoch = max(int(issued[0]) if issued else 0, int(row[1]) if row else 0) + 1
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('lease_epoch', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(epoch),),
        )
    written = replace(lease, epoch=epoch)
    conn.execute(
        "INSERT INTO lease (id, owner, expires_at, doc, epoch) VALUES (1, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET owner = excluded.owner,"
        " expires_at = excluded.expires_at, doc = excluded.doc, epoch = excluded.epoch",
        (written.owner, written.expires_at, encode_lease(written), epoch),
    )
    txn.set_lease_epoch(epoch)
    return written


def apply_release_lease(txn: Txn, owner: str) -> None:
    cursor = txn.conn.execute("DELETE FROM lease WHERE id = 1 AND owner = ?", (owner,))
    if cursor.rowcount:
        txn.set_lease_epoch(None)
