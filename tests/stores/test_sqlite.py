"""SqliteStore: the store contract, plus durability, multi-process and group-commit behaviour."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from msgspec.structs import replace

from switchover.domain.commands import Accepted, Cancel, Pause, Resume
from switchover.domain.events import Event, EventType
from switchover.domain.records import Checkpoint, Target
from switchover.domain.status import ExecutionMode, TaskStatus
from switchover.errors import ConflictError, NotFoundError, StoreError
from switchover.stores import codec
from switchover.stores import sqlite_queries as queries
from switchover.stores.codec import (
    control_to_dict,
    encode_event,
    encode_plan,
    plan_to_dict,
    task_configs_to_dict,
    task_run_to_dict,
    task_to_dict,
)
from switchover.stores.protocol import Change
from switchover.stores.sqlite import SCHEMA_VERSION, SqliteStore
from switchover.stores.sqlite_txn import MIGRATIONS
from tests.stores.contract import (
    StoreContract,
    create,
    make_config,
    make_control,
    make_event,
    make_plan,
    make_previous,
    make_task,
    new_id,
    seqs,
)
from tests.stores.contract_queries import QueryContract


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A fresh SqliteStore on a file in the test's temporary directory."""
    sqlite_store = SqliteStore(tmp_path / "state.db")
    await sqlite_store.open()
    try:
        yield sqlite_store
    finally:
        await sqlite_store.close()


@pytest.fixture
def batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the writer applies from now on."""
    sizes: list[int] = []
    apply_batch = SqliteStore._apply_batch

    def recording(self: SqliteStore, conn: sqlite3.Connection, batch: list[object]) -> object:
        sizes.append(len(batch))
        return apply_batch(self, conn, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(SqliteStore, "_apply_batch", recording)
    return sizes


class TestSqliteStoreContract(StoreContract):
    """SqliteStore meets the Store contract."""


class TestSqliteStoreQueries(QueryContract):
    """SqliteStore answers the front ends' queries as every backend does."""


async def test_state_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = SqliteStore(path)
    await first.open()
    plan, tasks = await create(first, 2)
    running = replace(tasks[0], status=TaskStatus.RUNNING)
    await first.commit(Change(plan.plan_id, [running], events=[make_event(plan.plan_id)]))
    control = make_control()
    await first.submit_control(control)
    await first.close()

    second = SqliteStore(path)
    await second.open()
    try:
        assert await second.get_plan(plan.plan_id) == plan
        assert await second.list_tasks(plan.plan_id) == [running, tasks[1]]
        assert await second.last_seq(plan.plan_id) == 2
        assert await second.pending_controls() == [control]
        # numbering continues where it stopped
        stored = await second.commit(Change(plan.plan_id, events=[make_event(plan.plan_id)]))
        assert seqs(stored) == [3]
    finally:
        await second.close()


async def test_writes_queued_before_close_are_committed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sqlite_store = SqliteStore(path)
    await sqlite_store.open()
    plan, _ = await create(sqlite_store, 1)
    pending = [
        asyncio.ensure_future(
            sqlite_store.commit(Change(plan.plan_id, events=[make_event(plan.plan_id)]))
        )
        for _ in range(50)
    ]
    await asyncio.sleep(0)  # let every commit reach the writer's queue
    await sqlite_store.close()
    assert all(task.done() for task in pending)
    assert sorted(s for task in pending for s in seqs(task.result())) == list(range(2, 52))
    reopened = SqliteStore(path)
    await reopened.open()
    try:
        assert await reopened.last_seq(plan.plan_id) == 51
    finally:
        await reopened.close()


async def test_calls_on_a_closed_store_raise_store_error(tmp_path: Path) -> None:
    sqlite_store = SqliteStore(tmp_path / "state.db")
    with pytest.raises(StoreError):
        await sqlite_store.get_plan("p")
    await sqlite_store.open()
    await sqlite_store.open()  # idempotent
    await sqlite_store.close()
    await sqlite_store.close()  # idempotent
    with pytest.raises(StoreError):
        await sqlite_store.commit(Change("p"))
    with pytest.raises(StoreError):
        await sqlite_store.last_seq("p")


async def test_unopenable_path_raises_store_error(tmp_path: Path) -> None:
    sqlite_store = SqliteStore(tmp_path / "missing-dir" / "state.db")
    with pytest.raises(StoreError):
        await sqlite_store.open()


def _newer_schema_file(path: Path) -> Path:
    """An empty database file that claims a schema version newer than this code's."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.commit()
    finally:
        conn.close()
    return path


async def test_file_with_newer_schema_is_refused(tmp_path: Path) -> None:
    path = _newer_schema_file(tmp_path / "state.db")
    with pytest.raises(StoreError, match="schema version"):
        await SqliteStore(path).open()


def _writer_threads() -> int:
    return sum(t.name.startswith("switchover-sqlite-writer") for t in threading.enumerate())


async def test_a_read_only_store_reads_a_writer_s_state_and_refuses_writes(
    tmp_path: Path,
) -> None:
    """Read-only: the same answers as the writer's, no writer thread, every write refused."""
    path = tmp_path / "state.db"
    writer = SqliteStore(path)
    await writer.open()
    reader = SqliteStore(path, read_only=True)
    try:
        plan, _ = await create(writer, 3)
        plan_id = plan.plan_id
        before = _writer_threads()
        await reader.open()
        assert _writer_threads() == before  # only the writer's own
        assert await reader.get_plan(plan_id) == await writer.get_plan(plan_id)
        assert await reader.list_tasks(plan_id) == await writer.list_tasks(plan_id)
        assert await reader.identity() == await writer.identity()
        with pytest.raises(StoreError, match="read-only"):
            await reader.commit(Change(plan_id, [], events=[make_event(plan_id)]))
        with pytest.raises(StoreError, match="read-only"):
            await reader.submit_control(make_control())
        assert await writer.last_seq(plan_id) == await reader.last_seq(plan_id)
    finally:
        await reader.close()
        await writer.close()
    with pytest.raises(StoreError, match="not open"):
        await reader.get_plan("any")


async def test_a_read_only_open_takes_no_write_lock(tmp_path: Path) -> None:
    """While another process holds the write lock, a read-only store opens and reads at
    once; opening for writing waits for the lock (the schema check is a write transaction)."""
    path = tmp_path / "state.db"
    writer = SqliteStore(path)
    await writer.open()
    plan, _ = await create(writer, 2)
    plan_id = plan.plan_id
    await writer.close()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        reader = SqliteStore(path, read_only=True, busy_timeout=0.2)
        await reader.open()
        try:
            assert len(await reader.list_tasks(plan_id)) == 2
        finally:
            await reader.close()
        with pytest.raises(StoreError, match="locked"):
            await SqliteStore(path, busy_timeout=0.2).open()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_read_only_open_brings_an_old_file_up_to_date_first(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    try:
        for statement in filter(str.strip, MIGRATIONS[0].split(";")):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    finally:
        conn.close()
    before = _writer_threads()
    reader = SqliteStore(path, read_only=True)
    await reader.open()
    try:
        assert _writer_threads() == before  # the migration's writer has gone again
        assert await reader.list_plans() == []
        with pytest.raises(StoreError, match="read-only"):
            await reader.create_plan(make_plan(new_id("plan"), 0), [], [])
    finally:
        await reader.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


async def test_a_read_only_open_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = _newer_schema_file(tmp_path / "state.db")
    before = _writer_threads()
    with pytest.raises(StoreError, match="schema version"):
        await SqliteStore(path, read_only=True).open()
    assert _writer_threads() == before


async def test_open_creates_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sqlite_store = SqliteStore(path, synchronous="normal")
    await sqlite_store.open()
    await sqlite_store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"plans", "tasks", "task_configs", "events", "controls", "lease", "meta"} <= tables
        indexes = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert {"tasks_by_plan", "tasks_by_plan_status", "tasks_by_plan_tenant"} <= indexes
        assert "tasks_by_status" not in indexes  # every boundary would rewrite its entry
    finally:
        conn.close()


async def test_rows_hold_the_shared_codec_documents(store: SqliteStore) -> None:
    """Each row's doc is the codec's JSON document, so other backends can share the format;
    a task's configs are kept apart from its run."""
    plan, tasks = await create(store, 1)
    stored = await store.commit(Change(plan.plan_id, tasks, events=[make_event(plan.plan_id)]))
    control = make_control()
    await store.submit_control(control)
    conn = sqlite3.connect(store.path)
    try:

        def doc(sql: str, *params: object) -> object:
            return json.loads(conn.execute(sql, params).fetchone()[0])

        assert doc("SELECT doc FROM plans") == plan_to_dict(plan)
        assert doc("SELECT doc FROM tasks") == task_run_to_dict(tasks[0])
        assert doc("SELECT configs FROM task_configs") == task_configs_to_dict(tasks[0])
        assert doc("SELECT doc FROM events WHERE seq = 2") == codec.event_to_dict(stored[0])
        assert doc("SELECT doc FROM controls") == control_to_dict(control)
    finally:
        conn.close()


async def test_configs_are_written_once_at_creation(store: SqliteStore) -> None:
    """A commit rewrites a task's run only: its configs row is never written again, and
    configs a change carries (a programming error) do not replace the stored ones."""
    plan_id, tenant = new_id("plan"), new_id("tenant")
    task = replace(make_task(plan_id, 0, tenant_id=tenant), previous=make_previous(tenant))
    await store.create_plan(make_plan(plan_id, 1), [task], [])

    def configs() -> str:
        conn = sqlite3.connect(store.path)
        try:
            return str(conn.execute("SELECT configs FROM task_configs").fetchone()[0])
        finally:
            conn.close()

    written = configs()
    running = replace(task, status=TaskStatus.RUNNING, current_stage="portal", updated_at=1.5)
    await store.commit(Change(plan_id, [running]))
    assert configs() == written
    assert await store.get_task(task.task_id) == running
    other = replace(running, config=make_config(tenant, "elsewhere", 99), previous=None)
    await store.commit(Change(plan_id, [other]))
    assert configs() == written
    assert await store.get_task(task.task_id) == running


async def test_a_schema_1_file_is_migrated_and_its_tasks_read_back_whole(tmp_path: Path) -> None:
    """A file written by schema 1 (configs inside each task's doc) opens, moves every task's
    configs to a table of their own, and reads back the same tasks, plans and events."""
    path = tmp_path / "v1.db"
    plan_id, tenant = "plan-v1", "tenant-ä"
    task = replace(
        make_task(plan_id, 0, tenant_id=tenant, at=1_700_000_000.125),
        config=make_config(tenant, plan_id, 20),
        previous=make_previous(tenant),
        status=TaskStatus.FAILED,
        updated_at=1_700_000_123.456789,
        checkpoint=Checkpoint(ExecutionMode.NORMAL, 0, ("asbc-gateway",), 1_700_000_100.5),
        stages=("asbc-gateway", "portal"),
        retry_count=1,
    )
    fresh = make_task(plan_id, 1, tenant_id="tenant-b", at=1_700_000_000.25)  # previous None
    plan = make_plan(plan_id, 2, at=1_700_000_000.0)
    event = replace(make_event(plan_id, EventType.PLAN_CREATED), seq=1)
    failed = replace(
        make_event(plan_id, EventType.TASK_FAILED, task_id=task.task_id, tenant_id=tenant), seq=2
    )
    conn = sqlite3.connect(path)
    try:
        for statement in filter(str.strip, MIGRATIONS[0].split(";")):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO plans (plan_id, status, created_at, updated_at, last_seq, doc)"
            " VALUES (?, ?, ?, ?, 1, ?)",
            (plan_id, plan.status.value, plan.created_at, plan.updated_at, encode_plan(plan)),
        )
        for row in (task, fresh):  # schema 1: the whole task, configs included, in doc
            conn.execute(
                "INSERT INTO tasks (task_id, plan_id, tenant_id, position, status, created_at,"
                " doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.task_id,
                    plan_id,
                    row.tenant_id,
                    row.position,
                    row.status.value,
                    row.created_at,
                    json.dumps(task_to_dict(row), ensure_ascii=False),
                ),
            )
        conn.execute(
            "INSERT INTO events (plan_id, seq, doc) VALUES (?, 1, ?), (?, 2, ?)",
            (plan_id, encode_event(event), plan_id, encode_event(failed)),
        )
        conn.execute("UPDATE plans SET last_seq = 2")
        conn.commit()
    finally:
        conn.close()

    migrated = SqliteStore(path)
    await migrated.open()
    try:
        assert await migrated.get_task(task.task_id) == task
        assert await migrated.list_tasks(plan_id) == [task, fresh]
        assert await migrated.find_task(tenant) == task
        assert await migrated.get_plan(plan_id) == plan
        assert await migrated.read_events(plan_id) == [event, failed]
        assert await migrated.task_events(task.task_id) == [failed]
        [summary] = await migrated.plan_summaries()
        assert summary.counts == {TaskStatus.FAILED: 1, TaskStatus.PENDING: 1}
        assert await migrated.list_tasks(plan_id, tenant_prefix="tenant-ä") == [task]
        retried = replace(task, status=TaskStatus.RUNNING, retry_count=2, failure=None)
        await migrated.commit(Change(plan_id, [retried], events=[make_event(plan_id)]))
        assert await migrated.get_task(task.task_id) == retried
    finally:
        await migrated.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        sql = "SELECT t.doc, c.configs FROM tasks AS t JOIN task_configs AS c USING (task_id)"
        rows = conn.execute(sql).fetchall()
        assert len(rows) == 2
        for doc, configs in rows:
            assert {"config", "previous"}.isdisjoint(json.loads(doc))
            assert set(json.loads(configs)) == {"config", "previous"}
    finally:
        conn.close()


def _query_plan(path: Path, sql: str, params: Sequence[object]) -> str:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", tuple(params)).fetchall()
    finally:
        conn.close()
    return " | ".join(str(row[3]) for row in rows)


async def test_front_end_queries_use_indexes(store: SqliteStore) -> None:
    """Counts read a covering index, never a task row; filters seek an index, none scans."""
    path = store.path
    summaries = _query_plan(path, queries.PLAN_SUMMARIES, ())
    assert "COVERING INDEX tasks_by_plan_status" in summaries
    counts = _query_plan(path, queries.TASK_COUNTS, ("p",))
    assert "COVERING INDEX tasks_by_plan_status" in counts
    where, params = queries.task_filter("p", None, "tenant-1") or ("", [])
    prefixed = _query_plan(path, f"SELECT count(*) FROM tasks AS t WHERE {where}", params)
    assert "COVERING INDEX tasks_by_plan_tenant (plan_id=? AND tenant_id>? AND tenant_id<?)" in (
        prefixed
    )
    executing = []
    for plan_id in ("p", None):
        sql, params = queries.with_status_sql(queries.EXECUTING, plan_id)
        executing.append(_query_plan(path, sql, params))
        assert "tasks_by_plan_status (plan_id=? AND status=?)" in executing[-1]
    history = _query_plan(path, queries.TASK_HISTORY, ("t", 5))
    assert "tasks_by_tenant (tenant_id=?)" in history
    for plan_text in (summaries, counts, prefixed, history, *executing):
        assert re.search(r"\bSCAN (t|tasks)\b", plan_text) is None, plan_text


@pytest.mark.parametrize(
    ("prefix", "successor"),
    [
        ("tenant-1", "tenant-2"),
        ("a", "b"),
        ("x\U0010ffff", "y"),
        ("x\U0010ffff\U0010ffff", "y"),
        ("\U0010ffff", None),
        ("a\ud7ff", "a\ue000"),
        ("ä", "å"),
    ],
)
def test_prefix_successor_bounds_every_string_with_the_prefix(
    prefix: str, successor: str | None
) -> None:
    assert queries.prefix_successor(prefix) == successor
    if successor is not None:
        for longer in (prefix, prefix + "\x00", prefix + "\U0010ffff" * 3):
            assert prefix <= longer < successor


async def test_control_request_ids_are_unique_and_unknown_ids_are_reported(
    store: SqliteStore,
) -> None:
    request = make_control()
    await store.submit_control(request)
    with pytest.raises(ConflictError):
        await store.submit_control(replace(request, command=Resume(target=request.command.target)))
    assert await store.get_control(request.control_id) == request
    with pytest.raises(NotFoundError):
        await store.finish_control(replace(make_control(), outcome=Accepted("p", (), "ok")))


async def test_tasks_are_listed_by_position_whatever_the_insertion_order(
    store: SqliteStore,
) -> None:
    plan_id = new_id("plan")
    tasks = [make_task(plan_id, i) for i in range(4)]
    await store.create_plan(make_plan(plan_id, 4), tasks[::-1], [])
    assert await store.list_tasks(plan_id) == tasks


def _corrupt(path: Path, sql: str, *params: object) -> None:
    """Change the file behind the store's back, as a faulty writer would."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "sql",
    ["UPDATE tasks SET doc = ?", "UPDATE task_configs SET configs = ?"],
    ids=["run", "configs"],
)
@pytest.mark.parametrize("doc", ["not json", "[1, 2]", '{"task_id": "t"}', "{}"])
async def test_corrupt_row_raises_store_error(store: SqliteStore, sql: str, doc: str) -> None:
    plan, tasks = await create(store, 1)
    _corrupt(store.path, sql, doc)
    with pytest.raises(StoreError):
        await store.get_task(tasks[0].task_id)
    with pytest.raises(StoreError):
        await store.list_tasks(plan.plan_id)


async def test_task_without_its_configs_row_raises_store_error(store: SqliteStore) -> None:
    plan, tasks = await create(store, 1)
    _corrupt(store.path, "DELETE FROM task_configs")
    with pytest.raises(StoreError, match="configs"):
        await store.get_task(tasks[0].task_id)
    with pytest.raises(StoreError, match="configs"):
        await store.list_tasks(plan.plan_id)


def test_unknown_synchronous_mode_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(tmp_path / "state.db", synchronous="SOMETIMES")


async def test_second_instance_on_same_file_shares_state_and_controls(
    store: SqliteStore,
) -> None:
    """A second store on the same file (another process's view) sees commits and vice versa."""
    other = SqliteStore(store.path)
    await other.open()
    try:
        plan, tasks = await create(store, 1)
        assert await other.get_plan(plan.plan_id) == plan
        assert await other.list_tasks(plan.plan_id) == tasks
        control = make_control(Cancel)
        await other.submit_control(control)
        assert await store.pending_controls() == [control]
        done = replace(control, outcome=Accepted("p", (), "cancelled"))
        await store.finish_control(done)
        assert await other.get_control(control.control_id) == done
        assert await other.pending_controls() == []
    finally:
        await other.close()


async def test_two_writers_on_one_file_keep_sequence_gapless(store: SqliteStore) -> None:
    other = SqliteStore(store.path)
    await other.open()
    try:
        plan, _ = await create(store, 1)

        async def commit(target: SqliteStore) -> list[Event]:
            return await target.commit(Change(plan.plan_id, events=[make_event(plan.plan_id)] * 2))

        results = await asyncio.gather(*(commit((store, other)[i % 2]) for i in range(200)))
        assert sorted(s for r in results for s in seqs(r)) == list(range(2, 402))
        assert seqs(await other.read_events(plan.plan_id, limit=1000)) == list(range(1, 402))
    finally:
        await other.close()


async def test_control_written_by_another_process_is_seen(store: SqliteStore) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        from switchover.domain.commands import ControlRequest, Pause
        from switchover.domain.records import Target
        from switchover.stores.sqlite import SqliteStore

        async def main() -> None:
            store = SqliteStore(sys.argv[1])
            await store.open()
            try:
                await store.submit_control(ControlRequest(
                    "ctl-from-cli", Pause(target=Target.plan("plan-1")), 1.0))
                print(await store.last_seq("plan-1"))
            finally:
                await store.close()

        asyncio.run(main())
        """
    )
    plan_id = "plan-1"
    await store.create_plan(make_plan(plan_id, 0), [], [make_event(plan_id)] * 3)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        str(store.path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "3"  # the other process saw this process's commit
    [pending] = await store.pending_controls()
    assert pending.control_id == "ctl-from-cli"
    assert pending.command == Pause(target=Target.plan("plan-1"))


async def _hold_write_lock(path: Path, release: asyncio.Event) -> None:
    """Hold the file's write lock, as another process would, until ``release`` is set."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        await release.wait()
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_failing_change_in_a_batch_fails_only_its_caller(
    store: SqliteStore, batch_sizes: list[int]
) -> None:
    plan, tasks = await create(store, 1)
    release = asyncio.Event()
    holder = asyncio.ensure_future(_hold_write_lock(store.path, release))
    await asyncio.sleep(0)
    # The writer takes this one and waits for the lock; the rest queue up behind it.
    blocked = asyncio.ensure_future(
        store.commit(Change(plan.plan_id, events=[make_event(plan.plan_id)]))
    )
    await asyncio.sleep(0.05)

    def good() -> Change:
        return Change(plan.plan_id, tasks, events=[make_event(plan.plan_id)] * 2)

    # A task id that already exists makes the batch's INSERT fail inside SQLite.
    clash_id = new_id("plan")
    clash = replace(make_task(clash_id, 0), task_id=tasks[0].task_id)
    unencodable = Change(plan.plan_id, events=[make_event(plan.plan_id, data={"x": object()})])
    calls = [
        store.commit(good()),
        store.create_plan(make_plan(clash_id, 1), [clash], [make_event(clash_id)]),
        store.commit(good()),
        store.commit(unencodable),
        store.commit(good()),
    ]
    gathered = asyncio.gather(*calls, return_exceptions=True)
    await asyncio.sleep(0.05)
    release.set()
    results = await gathered
    await holder
    await blocked

    assert isinstance(results[1], ConflictError)
    assert isinstance(results[3], StoreError)
    good_results = [r for i, r in enumerate(results) if i in (0, 2, 4)]
    assert sorted(s for r in good_results for s in seqs(r)) == [3, 4, 5, 6, 7, 8]  # type: ignore[arg-type]
    assert await store.get_plan(clash_id) is None
    assert await store.get_task(tasks[0].task_id) == tasks[0]
    assert await store.last_seq(clash_id) == 0
    stored = await store.read_events(plan.plan_id)
    assert seqs(stored) == list(range(1, 9))
    assert all(e.type is EventType.PLAN_CREATED or "x" not in e.data for e in stored)
    assert max(batch_sizes) >= 5  # the five calls really shared one batch


async def test_broken_writer_fails_callers_instead_of_hanging(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, _ = await create(store, 1)

    def broken(self: SqliteStore, conn: sqlite3.Connection, batch: list[object]) -> object:
        raise RuntimeError("bug in the writer")

    monkeypatch.setattr(SqliteStore, "_apply_batch", broken)
    for _ in range(2):
        with pytest.raises(StoreError, match="writer stopped"):
            await store.commit(Change(plan.plan_id, events=[make_event(plan.plan_id)]))
    assert await store.last_seq(plan.plan_id) == 1  # reads still work; close() still returns


async def test_batch_splits_at_max_batch(tmp_path: Path, batch_sizes: list[int]) -> None:
    sqlite_store = SqliteStore(tmp_path / "state.db", max_batch=4)
    await sqlite_store.open()
    try:
        plan, _ = await create(sqlite_store, 1)
        results = await asyncio.gather(
            *(
                sqlite_store.commit(Change(plan.plan_id, events=[make_event(plan.plan_id)]))
                for _ in range(40)
            )
        )
        assert sorted(s for r in results for s in seqs(r)) == list(range(2, 42))
        assert max(batch_sizes) <= 4
    finally:
        await sqlite_store.close()
