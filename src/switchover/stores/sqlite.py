"""SqliteStore: the embedded default Store — one WAL file, writes group-committed by one thread."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from switchover.domain.events import Event
from switchover.domain.records import Lease, Plan, TargetKind, Task
from switchover.domain.status import TaskStatus
from switchover.errors import ConflictError, StoreError, SwitchoverError
from switchover.stores import sqlite_alerts as alerts
from switchover.stores import sqlite_queries as queries
from switchover.stores.codec import (
    decode_control,
    decode_event,
    decode_lease,
    decode_plan,
    decode_task,
)
from switchover.stores.protocol import Alert, AlertsQueued, AlertState, Change, PlanSummary
from switchover.stores.sqlite_txn import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SYNCHRONOUS_MODES,
    A,
    Item,
    Outcome,
    T,
    Txn,
    apply_commit,
    apply_create,
    apply_finish_control,
    apply_release_lease,
    apply_submit_control,
    apply_swap_lease,
    rollback,
    settle,
    store_error,
)

if TYPE_CHECKING:
    from switchover.domain.commands import ControlRequest

__all__ = ["SCHEMA_VERSION", "SqliteStore"]


def _task(doc: str, configs: str | None) -> Task:
    if configs is None:
        raise StoreError("a stored task has no configs row")
    return decode_task(doc, configs)


def _close_reader(pool: ThreadPoolExecutor, reader: sqlite3.Connection | None) -> None:
    """Close the reader connection in its own thread, then stop that thread."""
    if reader is not None:
        pool.submit(reader.close)
    pool.shutdown(wait=True)


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

    A task's two configs are written once, by ``create_plan`` (table ``task_configs``); a
    commit rewrites only the task's run (``tasks.doc``), so the configs a change carries are
    not written again — they must be those the task was created with (see ``Change``). Queries
    for front ends (counts, filtered pages) are answered in SQL and decode only what they
    return.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 10.0,
        max_batch: int = 512,
        read_only: bool = False,
    ) -> None:
        """Configure the store; nothing is opened until ``open``.

        Args:
            path: the database file (created when missing).
            synchronous: SQLite's ``PRAGMA synchronous`` for writes. ``FULL`` survives power
                loss; ``NORMAL`` survives a process crash but may lose the last commits on
                power loss.
            busy_timeout: seconds to wait for another process's lock before failing.
            max_batch: most operations applied in one transaction.
            read_only: open only the reader connection, for a front end that only reads:
                no writer thread, no write lock taken, nothing to checkpoint on close; every
                write fails with ``StoreError``. A file whose schema is older than this code
                is still opened for writing, once, to migrate it.

        Raises:
            ValueError: ``synchronous`` is not a SQLite mode or ``max_batch`` is below 1.
        """
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS_MODES)}")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.path = Path(path)
        self._synchronous = mode
        self._busy_timeout = busy_timeout
        self._max_batch = max_batch
        self._read_only = read_only
        self._queue: queue.SimpleQueue[Item] | None = None
        self._outbox: list[Item] = []
        self._writer: threading.Thread | None = None
        self._reader_pool: ThreadPoolExecutor | None = None
        self._reader: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r}, synchronous={self._synchronous!r})"

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the file, switch it to WAL, and create or migrate the schema (idempotent).

        Read-only, only the reader connection stays open; a file that is missing or has an
        older schema is first opened for writing, to create or migrate it, and closed again.

        Raises:
            StoreError: the file cannot be opened, or its schema is newer than this code.
        """
        if self._reader is not None:
            return
        if not self._read_only:
            await self._open_writer()
            return
        if not await self._open_reader():
            await self._open_writer()
            await self.close()
            if not await self._open_reader():
                raise StoreError(f"{self.path} is still not at schema version {SCHEMA_VERSION}")

    async def _open_writer(self) -> None:
        """Start the writer thread (which creates or migrates the schema), then the reader."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Any] = loop.create_future()
        items: queue.SimpleQueue[Item] = queue.SimpleQueue()
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
                raise store_error(f"cannot open {self.path}", exc) from exc
            raise
        self._queue, self._writer, self._reader_pool = items, writer, pool

    async def _open_reader(self) -> bool:
        """Open the reader connection alone; False (nothing open) when the file is missing or
        its schema must be migrated first.

        Raises:
            StoreError: the file cannot be read, or its schema is newer than this code.
        """
        if not self.path.exists():
            return False  # a writer creates it
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(1, thread_name_prefix="switchover-sqlite-reader")

        def connect() -> tuple[sqlite3.Connection, int]:
            conn = self._connect(True)
            try:
                return conn, int(conn.execute("PRAGMA user_version").fetchone()[0])
            except BaseException:
                conn.close()
                raise

        try:
            reader, version = await loop.run_in_executor(pool, connect)
        except BaseException as exc:
            pool.shutdown(wait=True)
            if isinstance(exc, sqlite3.Error):
                raise store_error(f"cannot open {self.path}", exc) from exc
            raise
        if version == SCHEMA_VERSION:
            self._reader, self._reader_pool = reader, pool
            return True
        _close_reader(pool, reader)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}; this code knows {SCHEMA_VERSION}"
            )
        return False

    async def close(self) -> None:
        """Wait until every queued write has committed, then release connections and threads."""
        items, writer, pool = self._queue, self._writer, self._reader_pool
        if writer is None and pool is not None:  # opened read-only
            reader, self._reader, self._reader_pool = self._reader, None, None
            _close_reader(pool, reader)
            return
        if items is None or writer is None or pool is None:
            return
        self._flush()  # writes made before close() still commit
        self._queue = None  # new calls fail at once; writes already queued still commit
        stopped: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        items.put((None, None, stopped))
        try:
            await asyncio.shield(stopped)
        finally:
            writer.join()
            reader, self._reader = self._reader, None
            _close_reader(pool, reader)
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
                for step in MIGRATIONS[version:]:
                    for statement in filter(str.strip, step.split(";")):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise

    # -- the writer thread ---------------------------------------------------------------------

    def _writer_main(self, items: queue.SimpleQueue[Item], ready: asyncio.Future[Any]) -> None:
        loop, conn = ready.get_loop(), None
        try:
            conn = self._connect(False)
            self._migrate(conn)
        except Exception as exc:
            if conn is not None:
                conn.close()
            error = exc if isinstance(exc, StoreError) else store_error(f"open {self.path}", exc)
            loop.call_soon_threadsafe(settle, [(ready, None, error)])
            return
        loop.call_soon_threadsafe(settle, [(ready, None, None)])
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
        self, conn: sqlite3.Connection, items: queue.SimpleQueue[Item]
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
                    rollback(conn)
                    broken = store_error("the writer stopped", exc)
            if broken is not None:  # refuse everything until close() asks to stop
                outcomes = [(future, None, broken) for _, _, future in batch]
            self._resolve(outcomes)
            if stop is not None:
                return stop

    @staticmethod
    def _resolve(outcomes: list[Outcome]) -> None:
        # One wake-up per event loop and batch, not one per caller.
        by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
        for loop, group in by_loop.items():
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
                loop.call_soon_threadsafe(settle, group)

    def _apply_batch(self, conn: sqlite3.Connection, batch: list[Item]) -> list[Outcome]:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            busy = store_error("cannot start a write transaction", exc)
            return [(future, None, busy) for _, _, future in batch]
        txn = Txn(conn)
        outcomes: list[Outcome] = []
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
            rollback(conn)
            if len(batch) > 1:  # find the culprit: one transaction per operation
                return [outcome for item in batch for outcome in self._apply_batch(conn, [item])]
            error: SwitchoverError = store_error("write failed", exc)
            if isinstance(exc, sqlite3.IntegrityError):  # e.g. a task id another plan holds
                error = ConflictError(f"the write conflicts with stored state: {exc}")
                error.__cause__ = exc
            return [(batch[0][2], None, error)]
        return outcomes

    def _enqueue(self, op: Callable[[Txn, A], T], arg: A) -> asyncio.Future[T]:
        """Queue one write, now; its future settles when it is durable.

        Writes made in one pass of the event loop reach the writer thread together, at the end
        of that pass (one wake-up, so they share a transaction), in the order they were made.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._queue is None:
            why = "opened read-only" if self._reader is not None else "not open"
            future.set_exception(StoreError(f"{self!r} is {why}"))
            return future
        self._outbox.append((op, arg, future))
        if len(self._outbox) == 1:
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        """Hand every write queued in this pass of the event loop to the writer thread."""
        outbox, self._outbox = self._outbox, []
        items = self._queue
        for item in outbox:
            if items is None:  # closed meanwhile: close() flushed what it could
                item[2].set_exception(StoreError(f"{self!r} is not open"))
            else:
                items.put(item)

    async def _write(self, op: Callable[[Txn, A], T], arg: A) -> T:
        return await self._enqueue(op, arg)

    # -- reads ---------------------------------------------------------------------------------

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query`` on the reader connection, in the reader thread.

        Rows are decoded there too, off the event loop: big plans take a while.
        """
        pool, reader = self._reader_pool, self._reader
        if pool is None or reader is None:
            raise StoreError(f"{self!r} is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, query, reader)
        except sqlite3.Error as exc:
            raise StoreError(f"read from {self.path} failed: {exc}") from exc

    async def _all(self, decode: Callable[[str], T], sql: str, *params: object) -> list[T]:
        def query(reader: sqlite3.Connection) -> list[T]:
            return [decode(row[0]) for row in reader.execute(sql, params)]

        return await self._read(query)

    async def _one(self, decode: Callable[[str], T], sql: str, *params: object) -> T | None:
        found = await self._all(decode, sql, *params)
        return found[0] if found else None

    async def _tasks(self, sql: str, *params: object) -> list[Task]:
        """The tasks of a query selecting ``TASK_ROW``, in its order."""

        def query(reader: sqlite3.Connection) -> list[Task]:
            return [_task(doc, configs) for doc, configs in reader.execute(sql, params)]

        return await self._read(query)

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
        return await self._write(apply_create, (plan, tuple(tasks), tuple(events)))

    def submit(self, change: Change) -> asyncio.Future[list[Event]]:
        """Queue ``change`` for the writer thread now, after every change submitted before it.

        Returns:
            A future of its events, numbered, set once its transaction has committed (see
            ``commit`` for the errors it may carry).
        """
        return self._enqueue(apply_commit, change)

    async def commit(self, change: Change) -> list[Event]:
        """Apply ``change`` atomically and durably.

        A caller cancelled while it waits may still see its change committed.

        Returns:
            Its events, numbered after the plan's last sequence number.

        Raises:
            LeaseLostError: ``change.fence`` is not the current lease epoch (nothing is written).
            StoreError: the plan does not exist, the change is malformed, or the write failed
                (nothing is written).
        """
        return await self.submit(change)

    async def get_plan(self, plan_id: str) -> Plan | None:
        """One plan, or None."""
        return await self._one(decode_plan, "SELECT doc FROM plans WHERE plan_id = ?", plan_id)

    async def list_plans(self) -> list[Plan]:
        """Every plan, most recently created first."""
        sql = "SELECT doc FROM plans ORDER BY created_at DESC, rowid DESC"
        return await self._all(decode_plan, sql)

    async def plan_summaries(self) -> list[PlanSummary]:
        """Every plan, most recently created first, with its task counts by status.

        One query; the counting reads the status index, never a task row.
        """

        def query(reader: sqlite3.Connection) -> list[PlanSummary]:
            return queries.plan_summaries(reader.execute(queries.PLAN_SUMMARIES))

        return await self._read(query)

    async def task_counts(self, plan_id: str) -> dict[TaskStatus, int]:
        """The plan's tasks counted by status (statuses no task has are left out)."""

        def query(reader: sqlite3.Connection) -> dict[TaskStatus, int]:
            return queries.status_counts(reader.execute(queries.TASK_COUNTS, (plan_id,)))

        return await self._read(query)

    async def failure_counts(self, plan_id: str) -> list[tuple[str, str | None, int]]:
        """The plan's FAILED / ROLLBACK_FAILED tasks by error type and stage, most first."""
        rows = await self._read(lambda r: r.execute(queries.FAILURE_COUNTS, (plan_id,)).fetchall())
        return [(str(kind or "UNKNOWN"), stage, int(count)) for kind, stage, count in rows]

    async def get_task(self, task_id: str) -> Task | None:
        """One task, or None."""
        sql = f"SELECT {queries.TASK_ROW} FROM {queries.TASKS} WHERE t.task_id = ?"
        found = await self._tasks(sql, task_id)
        return found[0] if found else None

    async def list_tasks(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        tenant_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[Task]:
        """The plan's tasks in submission order, filtered and paged in SQL.

        Only the tasks returned are decoded. See ``StateStore.list_tasks`` for the arguments.

        Raises:
            ValueError: ``offset`` or ``limit`` is negative.
        """
        queries.check_page(offset, limit)
        found = queries.task_filter(plan_id, statuses, tenant_prefix)
        if found is None or limit == 0:
            return []
        where, params = found
        sql = (
            f"SELECT {queries.TASK_ROW} FROM {queries.TASKS} WHERE {where}"
            " ORDER BY t.position, t.rowid LIMIT ? OFFSET ?"
        )
        return await self._tasks(sql, *params, -1 if limit is None else limit, offset)

    async def count_tasks(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        tenant_prefix: str | None = None,
    ) -> int:
        """How many of the plan's tasks pass the filters, counted in SQL."""
        found = queries.task_filter(plan_id, statuses, tenant_prefix)
        if found is None:
            return 0
        where, params = found
        counted = await self._one(int, f"SELECT count(*) FROM tasks AS t WHERE {where}", *params)
        return counted or 0

    async def tenant_history(self, tenant_id: str, *, limit: int = 100) -> list[Task]:
        """The tenant's tasks, most recently created first (ties: latest inserted first).

        Raises:
            ValueError: ``limit`` is negative.
        """
        queries.check_page(0, limit)
        return await self._tasks(queries.TASK_HISTORY, tenant_id, limit)

    async def executing_tasks(self, plan_id: str | None = None) -> list[Task]:
        """Tasks RUNNING or ROLLING_BACK (all plans, or one), sought in the status index."""
        sql, params = queries.with_status_sql(queries.EXECUTING, plan_id)
        return await self._tasks(sql, *params)

    async def find_task(self, tenant_id: str) -> Task | None:
        """The tenant's most recently created task (ties: the latest inserted), or None."""
        found = await self._tasks(queries.TASK_HISTORY, tenant_id, 1)
        return found[0] if found else None

    async def ids_near(
        self,
        kind: TargetKind,
        key: str,
        *,
        candidates: Collection[str] = (),
        around: int = 10,
        plan_id: str | None = None,
    ) -> list[str]:
        """Stored plan or tenant ids near ``key``: one query, index seeks and two bounded
        range scans (see ``StateStore.ids_near``).

        Raises:
            ValueError: ``kind`` is ``TASK``, or ``around`` is negative.
        """
        sql, params = queries.ids_near_query(kind, key, candidates, around, plan_id)
        return await self._all(str, sql, *params)

    async def tasks_with_status(self, statuses: Sequence[TaskStatus]) -> list[Task]:
        """Every task whose status is in ``statuses``, by plan creation then position."""
        if not statuses:
            return []
        sql, params = queries.with_status_sql(statuses)
        return await self._tasks(sql, *params)

    async def read_events(self, plan_id: str, since: int = 0, limit: int = 1000) -> list[Event]:
        """The plan's events with ``seq > since``, ascending, at most ``limit``."""
        sql = "SELECT doc FROM events WHERE plan_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        return await self._all(decode_event, sql, plan_id, since, max(limit, 0))

    async def task_events(self, task_id: str, since: int = 0, limit: int = 1000) -> list[Event]:
        """The task's events with ``seq > since``, ascending, at most ``limit``."""
        sql = (
            "SELECT doc FROM events INDEXED BY events_by_task"
            " WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        )
        return await self._all(decode_event, sql, task_id, since, max(limit, 0))

    async def last_seq(self, plan_id: str) -> int:
        """The plan's highest event sequence number (0 when it has none)."""
        seq = await self._one(int, "SELECT last_seq FROM plans WHERE plan_id = ?", plan_id)
        return seq or 0

    async def submit_control(self, request: ControlRequest) -> None:
        """Queue an operation for the live engine.

        Raises:
            ConflictError: a request with this id already exists.
        """
        await self._write(apply_submit_control, request)

    async def pending_controls(self) -> list[ControlRequest]:
        """Queued commands without an outcome, oldest first."""
        sql = "SELECT doc FROM controls WHERE done = 0 ORDER BY created_at, rowid"
        return await self._all(decode_control, sql)

    async def finish_control(self, request: ControlRequest, fence: int | None = None) -> None:
        """Record ``request.outcome`` for a queued command (fenced like ``commit``).

        Raises:
            NotFoundError: no request has this id.
            LeaseLostError: ``fence`` is not the current lease epoch.
        """
        await self._write(apply_finish_control, (request, fence))

    async def get_control(self, control_id: str) -> ControlRequest | None:
        """One control request, with its outcome once done."""
        sql = "SELECT doc FROM controls WHERE control_id = ?"
        return await self._one(decode_control, sql, control_id)

    async def get_lease(self) -> Lease | None:
        """The current engine lease, expired or not, or None."""
        return await self._one(decode_lease, "SELECT doc FROM lease WHERE id = 1")

    async def swap_lease(self, expected_owner: str | None, lease: Lease) -> Lease | None:
        """Write ``lease`` iff the current holder is ``expected_owner`` (None: no lease row).

        Returns:
            The lease as written, with the epoch the store assigned; None when not written.
        """
        return await self._write(apply_swap_lease, (expected_owner, lease))

    async def release_lease(self, owner: str) -> None:
        """Delete the lease if ``owner`` holds it."""
        await self._write(apply_release_lease, owner)

    async def identity(self) -> str:
        """The store's id, made when its file was created (kept in the ``meta`` table)."""
        found = await self._one(str, "SELECT value FROM meta WHERE key = 'store_id'")
        if found is None:
            raise StoreError(f"{self.path} has no store id")
        return found

    # -- the AlertOutbox protocol (see it for the arguments) -----------------------------------

    async def enqueue_alerts(
        self, types: Collection[str], webhooks: Sequence[str], *, at: float, limit: int = 1000
    ) -> AlertsQueued:
        """Turn the events past each plan's cursor into alerts, in one write transaction.

        Raises:
            ValueError: ``limit`` is below 1.
            StoreError: the write failed (nothing is written).
        """
        arg = alerts.enqueue_arg(types, webhooks, at, limit)
        if not await self._read(alerts.has_new_events):  # idle: take no write lock at all
            return AlertsQueued()
        return await self._write(alerts.apply_enqueue_alerts, arg)

    async def due_alerts(
        self, webhook: str, *, now: float, limit: int = 100, per_plan: int = 10
    ) -> list[Alert]:
        """The alerts to ``webhook`` that may be tried at ``now``, read in the reader thread."""
        alerts.check_limits(limit=limit, per_plan=per_plan)
        return await self._read(lambda r: alerts.due_alerts(r, webhook, now, limit, per_plan))

    async def alert_delivered(self, alert: Alert, *, at: float) -> None:
        """Record that ``alert`` was delivered, unless it already was; durable on return."""
        await self._write(alerts.apply_alert_delivered, (alert, at))

    async def alert_failed(
        self, alert: Alert, *, at: float, error: str, next_at: float | None
    ) -> None:
        """Record a failed attempt of a pending ``alert`` (next_at None: give it up)."""
        await self._write(alerts.apply_alert_failed, (alert, at, error, next_at))

    async def alert_counts(self) -> dict[AlertState, int]:
        """Every alert held, counted by state."""
        return await self._read(alerts.alert_counts)
