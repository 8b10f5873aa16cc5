"""SqliteStore: the embedded default Store — one WAL file, writes group-committed by one thread."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from switchover.domain.events import Event
from switchover.domain.records import ControlRequest, Lease, Plan, Task
from switchover.domain.status import TaskStatus
from switchover.errors import ConflictError, NotFoundError, StoreError, SwitchoverError
from switchover.stores.codec import (
    decode_control,
    decode_event,
    decode_lease,
    decode_plan,
    decode_task,
    dumps,
    encode_control,
    encode_lease,
    encode_plan,
    encode_task,
    with_seq,
)
from switchover.stores.protocol import Change

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

T = TypeVar("T")
A = TypeVar("A")

SCHEMA_VERSION = 1
"""The schema this code reads and writes, kept in ``PRAGMA user_version``."""

# _MIGRATIONS[v] takes a file from schema version v to v + 1 (statements split on ";").
_MIGRATIONS: tuple[str, ...] = (
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
# Not INSERT OR REPLACE: that deletes and re-inserts the row, and the new rowid would break
# find_task's "latest insertion wins" rule. Identity columns are fixed when a task is created.
_UPSERT_TASK = (
    f"{_INSERT_TASK} ON CONFLICT (task_id) DO UPDATE"
    " SET status = excluded.status, doc = excluded.doc"
)
_INSERT_EVENT = "INSERT INTO events (plan_id, seq, doc) VALUES (?, ?, ?)"

_SYNCHRONOUS_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})

_TaskRow = tuple[str, str, str, int, str, float, str]
_Op = Callable[["_Txn", Any], Any]
_Item = tuple[_Op | None, Any, "asyncio.Future[Any]"]  # op None: stop after what is queued
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


def _store_error(message: str, exc: BaseException) -> StoreError:
    error = StoreError(f"{message}: {exc}")
    error.__cause__ = exc
    return error


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # gone either way; the first error is reported
            conn.execute("ROLLBACK")


def _settle(outcomes: Sequence[_Outcome]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class _Txn:
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
        self.task_upserts: list[_TaskRow] = []
        self.event_rows: list[tuple[str, int, str]] = []

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
            (_UPSERT_TASK, self.task_upserts),
            (_INSERT_EVENT, self.event_rows),
        ):
            if rows:
                conn.executemany(sql, rows)
        stored = self.stored_seqs
        moved = [(seq, plan_id) for plan_id, seq in self.seqs.items() if seq != stored[plan_id]]
        if moved:
            conn.executemany(_UPDATE_SEQ, moved)


def _task_rows(plan_id: str, tasks: Sequence[Task]) -> list[_TaskRow]:
    rows: list[_TaskRow] = []
    for task in tasks:
        if task.plan_id != plan_id:
            raise StoreError(f"task {task.task_id} belongs to plan {task.plan_id}, not {plan_id}")
        # TaskStatus is a str subclass, so sqlite3 binds it as its text value.
        row = (task.task_id, plan_id, task.tenant_id, task.position, task.status, task.created_at)
        rows.append((*row, encode_task(task)))
    return rows


def _number_events(
    plan_id: str, last_seq: int, events: Sequence[Event]
) -> tuple[list[Event], list[tuple[str, int, str]]]:
    numbered: list[Event] = []
    rows: list[tuple[str, int, str]] = []
    for event in events:
        if event.plan_id != plan_id:
            raise StoreError(f"event {event.type} belongs to plan {event.plan_id}, not {plan_id}")
        last_seq += 1
        data = event.to_dict()
        data["seq"] = last_seq
        rows.append((plan_id, last_seq, dumps(data)))
        numbered.append(with_seq(event, last_seq))
    return numbered, rows


def _apply_create(txn: _Txn, arg: tuple[Plan, Sequence[Task], Sequence[Event]]) -> list[Event]:
    plan, tasks, events = arg
    plan_id = plan.plan_id
    if txn.last_seq(plan_id) is not None:
        raise ConflictError(f"plan {plan_id} already exists")
    task_rows = _task_rows(plan_id, tasks)
    numbered, event_rows = _number_events(plan_id, 0, events)
    last, doc = len(numbered), encode_plan(plan)
    txn.plan_inserts.append((plan_id, plan.status, plan.created_at, plan.updated_at, last, doc))
    txn.seqs[plan_id] = txn.stored_seqs[plan_id] = last
    txn.task_inserts += task_rows
    txn.event_rows += event_rows
    return numbered


def _apply_commit(txn: _Txn, change: Change) -> list[Event]:
    plan_id, plan = change.plan_id, change.plan
    last = txn.last_seq(plan_id)
    if last is None:
        raise StoreError(f"plan {plan_id} does not exist")
    if plan is not None and plan.plan_id != plan_id:
        raise StoreError(f"a change to plan {plan_id} carries plan {plan.plan_id}")
    task_rows = _task_rows(plan_id, change.tasks)
    numbered, event_rows = _number_events(plan_id, last, change.events)
    if plan is not None:
        txn.plan_updates.append((plan.status, plan.updated_at, encode_plan(plan), plan_id))
    if numbered:
        txn.seqs[plan_id] = numbered[-1].seq
    txn.task_upserts += task_rows
    txn.event_rows += event_rows
    return numbered


def _apply_submit_control(txn: _Txn, request: ControlRequest) -> None:
    sql = (
        "INSERT INTO controls (control_id, created_at, done, doc) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (control_id) DO NOTHING"
    )
    done, doc = request.result is not None, encode_control(request)
    if txn.conn.execute(sql, (request.control_id, request.created_at, done, doc)).rowcount != 1:
        raise ConflictError(f"control request {request.control_id} already exists")


def _apply_finish_control(txn: _Txn, request: ControlRequest) -> None:
    sql = "UPDATE controls SET done = ?, doc = ? WHERE control_id = ?"
    done, doc = request.result is not None, encode_control(request)
    if txn.conn.execute(sql, (done, doc, request.control_id)).rowcount != 1:
        raise NotFoundError("control request", request.control_id)


def _apply_swap_lease(txn: _Txn, arg: tuple[str | None, Lease]) -> bool:
    expected_owner, lease = arg
    values = (lease.owner, lease.expires_at, encode_lease(lease))
    if expected_owner is None:
        sql = "INSERT INTO lease VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
        cursor = txn.conn.execute(sql, values)
    else:
        sql = "UPDATE lease SET owner = ?, expires_at = ?, doc = ? WHERE id = 1 AND owner = ?"
        cursor = txn.conn.execute(sql, (*values, expected_owner))
    return cursor.rowcount == 1


def _apply_release_lease(txn: _Txn, owner: str) -> None:
    txn.conn.execute("DELETE FROM lease WHERE id = 1 AND owner = ?", (owner,))


class SqliteStore:
    """The Store on one SQLite file in WAL mode, shared safely by several processes.

    Every write goes through one writer thread with its own connection. It takes all queued
    operations (up to ``max_batch``) and applies them in one ``BEGIN IMMEDIATE`` transaction —
    group commit, so many tasks' stage checkpoints share one fsync — then wakes each caller,
    which returns only once its change is durable. When a batch fails, its operations are
    applied again one transaction each, so a bad change fails only its own caller. Sequence
    numbers are read and advanced inside the write transaction, so they stay gapless when
    another process writes to the same file. Reads run on a second connection in a reader
    thread and never block the event loop.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 10.0,
        max_batch: int = 512,
    ) -> None:
        """Configure the store; nothing is opened until ``open``.

        Args:
            path: the database file (created when missing).
            synchronous: SQLite's ``PRAGMA synchronous`` for writes. ``FULL`` survives power
                loss; ``NORMAL`` survives a process crash but may lose the last commits on
                power loss.
            busy_timeout: seconds to wait for another process's lock before failing.
            max_batch: most operations applied in one transaction.

        Raises:
            ValueError: ``synchronous`` is not a SQLite mode or ``max_batch`` is below 1.
        """
        mode = synchronous.upper()
        if mode not in _SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS_MODES)}")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.path = Path(path)
        self._synchronous = mode
        self._busy_timeout = busy_timeout
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item] | None = None
        self._writer: threading.Thread | None = None
        self._reader_pool: ThreadPoolExecutor | None = None
        self._reader: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r}, synchronous={self._synchronous!r})"

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the file, switch it to WAL, and create or migrate the schema (idempotent).

        Raises:
            StoreError: the file cannot be opened, or its schema is newer than this code.
        """
        if self._queue is not None:
            return
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Any] = loop.create_future()
        items: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        name = f"switchover-sqlite-writer:{self.path.name}"
        writer = threading.Thread(
            target=self._writer_main, args=(items, ready), name=name, daemon=True
        )
        writer.start()
        pool: ThreadPoolExecutor | None = None
        try:
            await ready
            pool = ThreadPoolExecutor(1, thread_name_prefix="switchover-sqlite-reader")
            self._reader = await loop.run_in_executor(pool, self._connect, True)
        except BaseException as exc:
            # A writer that failed has returned already; a running one stops at this item.
            items.put((None, None, loop.create_future()))
            writer.join()
            if pool is not None:
                pool.shutdown(wait=True)
            if isinstance(exc, sqlite3.Error):
                raise _store_error(f"cannot open {self.path}", exc) from exc
            raise
        self._queue, self._writer, self._reader_pool = items, writer, pool

    async def close(self) -> None:
        """Wait until every queued write has committed, then release connections and threads."""
        items, writer, pool = self._queue, self._writer, self._reader_pool
        if items is None or writer is None or pool is None:
            return
        self._queue = None  # new calls fail at once; writes already queued still commit
        stopped: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        items.put((None, None, stopped))
        try:
            await asyncio.shield(stopped)
        finally:
            writer.join()
            reader, self._reader = self._reader, None
            if reader is not None:
                pool.submit(reader.close)
            pool.shutdown(wait=True)
            self._writer = self._reader_pool = None

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        # Autocommit mode (isolation_level=None): transactions are begun explicitly, so a
        # reader never holds a snapshot open between queries.
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            if readonly:
                conn.execute("PRAGMA query_only = ON")
            else:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path} cannot use WAL (journal_mode={mode})")
                conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}; this code knows {SCHEMA_VERSION}"
                )
            if version < SCHEMA_VERSION:
                for step in _MIGRATIONS[version:]:
                    for statement in filter(str.strip, step.split(";")):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    # -- the writer thread ---------------------------------------------------------------------

    def _writer_main(self, items: queue.SimpleQueue[_Item], ready: asyncio.Future[Any]) -> None:
        loop, conn = ready.get_loop(), None
        try:
            conn = self._connect(False)
            self._migrate(conn)
        except Exception as exc:
            if conn is not None:
                conn.close()
            error = exc if isinstance(exc, StoreError) else _store_error(f"open {self.path}", exc)
            loop.call_soon_threadsafe(_settle, [(ready, None, error)])
            return
        loop.call_soon_threadsafe(_settle, [(ready, None, None)])
        stopped: asyncio.Future[Any] | None = None
        try:
            stopped = self._serve(conn, items)
        finally:
            with contextlib.suppress(sqlite3.Error):  # an optimisation: the WAL is durable
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.close()
            if stopped is not None:
                self._resolve([(stopped, None, None)])

    def _serve(
        self, conn: sqlite3.Connection, items: queue.SimpleQueue[_Item]
    ) -> asyncio.Future[Any]:
        get, get_nowait, limit = items.get, items.get_nowait, self._max_batch
        broken: StoreError | None = None
        while True:
            first = get()
            if first[0] is None:
                return first[2]
            batch, stop = [first], None
            while len(batch) < limit:
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
                if item[0] is None:
                    stop = item[2]
                    break
                batch.append(item)
            if broken is None:
                try:
                    outcomes = self._apply_batch(conn, batch)
                except Exception as exc:  # a bug; still never leave a caller waiting
                    _rollback(conn)
                    broken = _store_error("the writer stopped", exc)
            if broken is not None:  # refuse everything until close() asks to stop
                outcomes = [(future, None, broken) for _, _, future in batch]
            self._resolve(outcomes)
            if stop is not None:
                return stop

    @staticmethod
    def _resolve(outcomes: list[_Outcome]) -> None:
        # One wake-up per event loop and batch, not one per caller.
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
        for loop, group in by_loop.items():
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, group)

    def _apply_batch(self, conn: sqlite3.Connection, batch: list[_Item]) -> list[_Outcome]:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            busy = _store_error("cannot start a write transaction", exc)
            return [(future, None, busy) for _, _, future in batch]
        txn = _Txn(conn)
        outcomes: list[_Outcome] = []
        try:
            for op, arg, future in batch:
                assert op is not None
                try:
                    outcomes.append((future, op(txn, arg), None))
                except SwitchoverError as exc:  # refused before staging any write
                    outcomes.append((future, None, exc))
            txn.flush()
            conn.execute("COMMIT")
        except Exception as exc:
            _rollback(conn)
            if len(batch) > 1:  # find the culprit: one transaction per operation
                return [outcome for item in batch for outcome in self._apply_batch(conn, [item])]
            error: SwitchoverError = _store_error("write failed", exc)
            if isinstance(exc, sqlite3.IntegrityError):  # e.g. a task id another plan holds
                error = ConflictError(f"the write conflicts with stored state: {exc}")
                error.__cause__ = exc
            return [(batch[0][2], None, error)]
        return outcomes

    async def _write(self, op: Callable[[_Txn, A], T], arg: A) -> T:
        items = self._queue
        if items is None:
            raise StoreError(f"{self!r} is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        items.put((op, arg, future))
        return await future

    # -- reads ---------------------------------------------------------------------------------

    async def _all(self, decode: Callable[[str], T], sql: str, *params: object) -> list[T]:
        pool, reader = self._reader_pool, self._reader
        if pool is None or reader is None or self._queue is None:
            raise StoreError(f"{self!r} is not open")

        def query() -> list[T]:  # decodes in the reader thread too: big plans take a while
            return [decode(row[0]) for row in reader.execute(sql, params)]

        try:
            return await asyncio.get_running_loop().run_in_executor(pool, query)
        except sqlite3.Error as exc:
            raise StoreError(f"read from {self.path} failed: {exc}") from exc

    async def _one(self, decode: Callable[[str], T], sql: str, *params: object) -> T | None:
        found = await self._all(decode, sql, *params)
        return found[0] if found else None

    # -- the Store protocol --------------------------------------------------------------------

    async def create_plan(
        self, plan: Plan, tasks: Sequence[Task], events: Sequence[Event]
    ) -> list[Event]:
        """Insert a new plan with its tasks and first events in one transaction.

        Returns:
            The events as stored, numbered from 1.

        Raises:
            ConflictError: the plan id or a task id already exists (nothing is written).
            StoreError: the write failed (nothing is written).
        """
        return await self._write(_apply_create, (plan, tuple(tasks), tuple(events)))

    async def commit(self, change: Change) -> list[Event]:
        """Apply ``change`` atomically and durably.

        A caller cancelled while it waits may still see its change committed.

        Returns:
            Its events, numbered after the plan's last sequence number.

        Raises:
            StoreError: the plan does not exist, the change is malformed, or the write failed
                (nothing is written).
        """
        return await self._write(_apply_commit, change)

    async def get_plan(self, plan_id: str) -> Plan | None:
        """One plan, or None."""
        return await self._one(decode_plan, "SELECT doc FROM plans WHERE plan_id = ?", plan_id)

    async def list_plans(self) -> list[Plan]:
        """Every plan, most recently created first."""
        sql = "SELECT doc FROM plans ORDER BY created_at DESC, rowid DESC"
        return await self._all(decode_plan, sql)

    async def get_task(self, task_id: str) -> Task | None:
        """One task, or None."""
        return await self._one(decode_task, "SELECT doc FROM tasks WHERE task_id = ?", task_id)

    async def list_tasks(self, plan_id: str) -> list[Task]:
        """The plan's tasks in submission order."""
        sql = "SELECT doc FROM tasks WHERE plan_id = ? ORDER BY position, rowid"
        return await self._all(decode_task, sql, plan_id)

    async def find_task(self, tenant_id: str) -> Task | None:
        """The tenant's most recently created task (ties: the latest inserted), or None."""
        sql = "SELECT doc FROM tasks WHERE tenant_id = ? ORDER BY created_at DESC, rowid DESC"
        return await self._one(decode_task, sql + " LIMIT 1", tenant_id)

    async def tasks_with_status(self, statuses: Sequence[TaskStatus]) -> list[Task]:
        """Every task whose status is in ``statuses``, by plan creation then position."""
        wanted = sorted({status.value for status in statuses})
        if not wanted:
            return []
        sql = (
            "SELECT t.doc FROM tasks AS t JOIN plans AS p ON p.plan_id = t.plan_id"
            f" WHERE t.status IN ({', '.join('?' * len(wanted))})"
            " ORDER BY p.created_at, p.rowid, t.position, t.rowid"
        )
        return await self._all(decode_task, sql, *wanted)

    async def read_events(self, plan_id: str, since: int = 0, limit: int = 1000) -> list[Event]:
        """The plan's events with ``seq > since``, ascending, at most ``limit``."""
        sql = "SELECT doc FROM events WHERE plan_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        return await self._all(decode_event, sql, plan_id, since, max(limit, 0))

    async def last_seq(self, plan_id: str) -> int:
        """The plan's highest event sequence number (0 when it has none)."""
        seq = await self._one(int, "SELECT last_seq FROM plans WHERE plan_id = ?", plan_id)
        return seq or 0

    async def submit_control(self, request: ControlRequest) -> None:
        """Queue an operation for the live engine.

        Raises:
            ConflictError: a request with this id already exists.
        """
        await self._write(_apply_submit_control, request)

    async def pending_controls(self) -> list[ControlRequest]:
        """Queued operations without a result, oldest first."""
        sql = "SELECT doc FROM controls WHERE done = 0 ORDER BY created_at, rowid"
        return await self._all(decode_control, sql)

    async def finish_control(self, request: ControlRequest) -> None:
        """Record ``request.result`` for a queued operation.

        Raises:
            NotFoundError: no request has this id.
        """
        await self._write(_apply_finish_control, request)

    async def get_control(self, control_id: str) -> ControlRequest | None:
        """One control request, with its result once done."""
        sql = "SELECT doc FROM controls WHERE control_id = ?"
        return await self._one(decode_control, sql, control_id)

    async def get_lease(self) -> Lease | None:
        """The current engine lease, expired or not, or None."""
        return await self._one(decode_lease, "SELECT doc FROM lease WHERE id = 1")

    async def swap_lease(self, expected_owner: str | None, lease: Lease) -> bool:
        """Write ``lease`` iff the current holder is ``expected_owner`` (None: no lease row).

        Returns:
            Whether the lease was written.
        """
        return await self._write(_apply_swap_lease, (expected_owner, lease))

    async def release_lease(self, owner: str) -> None:
        """Delete the lease if ``owner`` holds it."""
        await self._write(_apply_release_lease, owner)
