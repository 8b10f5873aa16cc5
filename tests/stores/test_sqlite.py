"""SqliteStore: the store contract, plus durability, multi-process and group-commit behaviour."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from switchover.domain.commands import Accepted, Cancel, Pause, Resume
from switchover.domain.events import Event, EventType
from switchover.domain.records import Target
from switchover.domain.status import TaskStatus
from switchover.errors import ConflictError, NotFoundError, StoreError
from switchover.stores.codec import control_to_dict, plan_to_dict, task_to_dict
from switchover.stores.protocol import Change
from switchover.stores.sqlite import SCHEMA_VERSION, SqliteStore
from tests.stores.contract import (
    StoreContract,
    create,
    make_control,
    make_event,
    make_plan,
    make_task,
    new_id,
    seqs,
)


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


async def test_file_with_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(StoreError, match="schema version"):
        await SqliteStore(path).open()


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
        assert {"plans", "tasks", "events", "controls", "lease"} <= tables
    finally:
        conn.close()


async def test_rows_hold_the_shared_codec_documents(store: SqliteStore) -> None:
    """Each row's doc is the codec's JSON document, so other backends can share the format."""
    plan, tasks = await create(store, 1)
    stored = await store.commit(Change(plan.plan_id, tasks, events=[make_event(plan.plan_id)]))
    control = make_control()
    await store.submit_control(control)
    conn = sqlite3.connect(store.path)
    try:

        def doc(sql: str, *params: object) -> object:
            return json.loads(conn.execute(sql, params).fetchone()[0])

        assert doc("SELECT doc FROM plans") == plan_to_dict(plan)
        assert doc("SELECT doc FROM tasks") == task_to_dict(tasks[0])
        assert doc("SELECT doc FROM events WHERE seq = 2") == stored[0].to_dict()
        assert doc("SELECT doc FROM controls") == control_to_dict(control)
    finally:
        conn.close()


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


@pytest.mark.parametrize("doc", ["not json", "[1, 2]", '{"task_id": "t"}'])
async def test_corrupt_row_raises_store_error(store: SqliteStore, doc: str) -> None:
    plan, tasks = await create(store, 1)
    conn = sqlite3.connect(store.path)
    try:
        conn.execute("UPDATE tasks SET doc = ?", (doc,))
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(StoreError):
        await store.get_task(tasks[0].task_id)
    with pytest.raises(StoreError):
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
