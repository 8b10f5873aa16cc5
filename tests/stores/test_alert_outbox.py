"""The alert outbox: the same contract on every backend, plus SQLite's durability and indexes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from switchover.domain.events import Event, EventType
from switchover.stores.codec import encode_event, encode_plan
from switchover.stores.memory import MemoryStore
from switchover.stores.protocol import Alert, AlertsQueued, AlertState, Change, Store
from switchover.stores.sqlite import SqliteStore
from switchover.stores.sqlite_alerts import DUE_ALERTS, apply_enqueue_alerts, enqueue_arg
from switchover.stores.sqlite_txn import MIGRATIONS
from tests.stores.contract import create, make_event, make_plan

FAILED = EventType.TASK_FAILED
TYPES = (EventType.TASK_FAILED.value, EventType.PLAN_COMPLETED.value)
HOOKS = ("hook-a", "hook-b")
NOW = 1_000.0


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, opened store of each backend."""
    backend: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "a.db")
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


async def commit(store: Store, plan_id: str, *kinds: EventType) -> list[Event]:
    """Commit one event of each kind to the plan; the events as numbered."""
    return await store.commit(Change(plan_id, events=[make_event(plan_id, kind) for kind in kinds]))


def ids(alerts: Sequence[Alert]) -> list[str]:
    """The alert ids, in order."""
    return [alert.alert_id for alert in alerts]


async def pending(store: Store, webhook: str) -> list[Alert]:
    """Every pending alert to ``webhook`` that is due by the end of time, in order."""
    return await store.due_alerts(webhook, now=float("inf"), limit=10_000, per_plan=10_000)


class TestAlertOutboxContract:
    """Behaviour every AlertOutbox backend has."""

    async def test_one_alert_per_matching_event_and_webhook(self, store: Store) -> None:
        plan, _ = await create(store, 1)
        stored = await commit(store, plan.plan_id, FAILED, EventType.TASK_PROGRESS, FAILED)
        queued = await store.enqueue_alerts(TYPES, HOOKS, at=NOW)
        assert queued == AlertsQueued(alerts=4, events=4, more=False)
        for hook in HOOKS:
            due = await store.due_alerts(hook, now=NOW)
            assert [alert.event for alert in due] == [stored[0], stored[2]]
            assert {(a.webhook, a.attempts, a.next_at) for a in due} == {(hook, 0, NOW)}
        assert ids(due) == [f"{plan.plan_id}:2", f"{plan.plan_id}:4"]
        assert await store.alert_counts() == {AlertState.PENDING: 4}

    async def test_an_event_is_enqueued_exactly_once(self, store: Store) -> None:
        plan, _ = await create(store, 1)
        await commit(store, plan.plan_id, FAILED)
        assert (await store.enqueue_alerts(TYPES, HOOKS, at=NOW)).alerts == 2
        assert await store.enqueue_alerts(TYPES, HOOKS, at=NOW) == AlertsQueued()
        await commit(store, plan.plan_id, EventType.PLAN_COMPLETED)
        queued = await store.enqueue_alerts(TYPES, HOOKS, at=NOW)
        assert queued == AlertsQueued(alerts=2, events=1)
        assert ids(await pending(store, "hook-a")) == [f"{plan.plan_id}:2", f"{plan.plan_id}:3"]

    async def test_events_of_other_types_and_no_webhooks_only_move_the_cursors(
        self, store: Store
    ) -> None:
        plan, _ = await create(store, 1)
        await commit(store, plan.plan_id, EventType.TASK_PROGRESS, FAILED)
        assert await store.enqueue_alerts(TYPES, [], at=NOW) == AlertsQueued(events=3)
        await commit(store, plan.plan_id, FAILED)
        assert await store.enqueue_alerts([], HOOKS, at=NOW) == AlertsQueued(events=1)
        assert await store.enqueue_alerts(TYPES, HOOKS, at=NOW) == AlertsQueued()
        assert await store.alert_counts() == {}

    async def test_a_limit_bounds_the_events_passed_and_says_more_wait(self, store: Store) -> None:
        first, _ = await create(store, 1)
        second, _ = await create(store, 1)
        await commit(store, first.plan_id, FAILED, FAILED)
        await commit(store, second.plan_id, FAILED)
        assert await store.enqueue_alerts(TYPES, ["h"], at=NOW, limit=2) == AlertsQueued(1, 2, True)
        assert await store.enqueue_alerts(TYPES, ["h"], at=NOW, limit=2) == AlertsQueued(1, 2, True)
        assert await store.enqueue_alerts(TYPES, ["h"], at=NOW, limit=2) == AlertsQueued(1, 1)
        assert await store.enqueue_alerts(TYPES, ["h"], at=NOW, limit=2) == AlertsQueued()
        expected = [f"{first.plan_id}:2", f"{first.plan_id}:3", f"{second.plan_id}:2"]
        assert sorted(ids(await pending(store, "h"))) == sorted(expected)

    async def test_each_plans_queue_is_due_from_its_oldest_alert(self, store: Store) -> None:
        """Only plans whose oldest pending alert is due; each plan's first ``per_plan`` in
        order; plans by when their oldest became due; ``limit`` in all."""
        early, _ = await create(store, 1)
        await commit(store, early.plan_id, FAILED, FAILED, FAILED)
        await store.enqueue_alerts(TYPES, ["h"], at=NOW)
        late, _ = await create(store, 1)
        await commit(store, late.plan_id, FAILED, FAILED)
        await store.enqueue_alerts(TYPES, ["h"], at=NOW + 5)
        e, lt = early.plan_id, late.plan_id
        assert ids(await store.due_alerts("h", now=NOW)) == [f"{e}:2", f"{e}:3", f"{e}:4"]
        both = await store.due_alerts("h", now=NOW + 5, per_plan=2)
        assert ids(both) == [f"{e}:2", f"{e}:3", f"{lt}:2", f"{lt}:3"]
        limited = await store.due_alerts("h", now=NOW + 5, limit=4)
        assert ids(limited) == [f"{e}:2", f"{e}:3", f"{e}:4", f"{lt}:2"]
        assert await store.due_alerts("h", now=NOW - 1) == []
        assert await store.due_alerts("other", now=NOW + 5) == []

    async def test_a_failed_alert_holds_its_plans_queue_until_due_again(self, store: Store) -> None:
        held, _ = await create(store, 1)
        other, _ = await create(store, 1)
        await commit(store, held.plan_id, FAILED, FAILED)
        await store.enqueue_alerts(TYPES, HOOKS, at=NOW - 1)
        await commit(store, other.plan_id, FAILED)
        await store.enqueue_alerts(TYPES, HOOKS, at=NOW)
        head = (await store.due_alerts("hook-a", now=NOW))[0]
        assert head.alert_id == f"{held.plan_id}:2"
        await store.alert_failed(head, at=NOW, error="HTTP status 503", next_at=NOW + 10)
        assert ids(await store.due_alerts("hook-a", now=NOW + 9)) == [f"{other.plan_id}:2"]
        assert len(await store.due_alerts("hook-b", now=NOW)) == 3  # another webhook's queue
        again = await store.due_alerts("hook-a", now=NOW + 10)  # plans by when due: other first
        assert ids(again) == [f"{other.plan_id}:2", f"{held.plan_id}:2", f"{held.plan_id}:3"]
        again = again[1:]
        assert (again[0].attempts, again[0].next_at) == (1, NOW + 10)
        assert again[0].event == head.event

    async def test_a_given_up_alert_leaves_its_queue(self, store: Store) -> None:
        plan, _ = await create(store, 1)
        await commit(store, plan.plan_id, FAILED, FAILED)
        await store.enqueue_alerts(TYPES, ["h"], at=NOW)
        head = (await store.due_alerts("h", now=NOW))[0]
        await store.alert_failed(head, at=NOW, error="HTTP status 500", next_at=None)
        assert ids(await pending(store, "h")) == [f"{plan.plan_id}:3"]
        await store.alert_failed(head, at=NOW, error="again", next_at=NOW)  # not pending: ignored
        assert ids(await pending(store, "h")) == [f"{plan.plan_id}:3"]
        assert await store.alert_counts() == {AlertState.GIVEN_UP: 1, AlertState.PENDING: 1}

    async def test_a_delivered_alert_is_never_due_again(self, store: Store) -> None:
        plan, _ = await create(store, 1)
        await commit(store, plan.plan_id, FAILED, FAILED)
        await store.enqueue_alerts(TYPES, ["h"], at=NOW)
        head = (await store.due_alerts("h", now=NOW))[0]
        await store.alert_delivered(head, at=NOW)
        await store.alert_delivered(head, at=NOW + 1)  # already delivered: nothing changes
        await store.alert_failed(head, at=NOW, error="late", next_at=NOW)
        assert ids(await pending(store, "h")) == [f"{plan.plan_id}:3"]
        assert await store.alert_counts() == {AlertState.DELIVERED: 1, AlertState.PENDING: 1}
        unknown = Alert(head.event, "no-such-webhook")
        await store.alert_delivered(unknown, at=NOW)  # not held: ignored
        await store.alert_failed(unknown, at=NOW, error="x", next_at=None)
        assert await store.alert_counts() == {AlertState.DELIVERED: 1, AlertState.PENDING: 1}

    async def test_limits_below_one_are_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="limit"):
            await store.enqueue_alerts(TYPES, HOOKS, at=NOW, limit=0)
        with pytest.raises(ValueError, match="limit"):
            await store.due_alerts("h", now=NOW, limit=0)
        with pytest.raises(ValueError, match="per_plan"):
            await store.due_alerts("h", now=NOW, per_plan=0)

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        steps=st.lists(
            st.tuples(st.integers(0, 2), st.lists(st.booleans(), max_size=4), st.integers(1, 4)),
            min_size=1,
            max_size=10,
        )
    )
    async def test_commits_and_enqueues_in_any_interleaving_enqueue_each_event_once(
        self, store: Store, steps: list[tuple[int, list[bool], int]]
    ) -> None:
        """Enqueues racing commits still take every matching event exactly once, whatever
        the limits."""
        plans = [(await create(store, 1))[0].plan_id for _ in range(3)]
        hook = f"hook-{plans[0]}"  # the fixture's store is shared by every example
        expected: set[str] = set()

        async def one(plan_id: str, kinds: list[bool], limit: int) -> None:
            types = [FAILED if kind else EventType.TASK_PROGRESS for kind in kinds]
            stored, _ = await asyncio.gather(
                commit(store, plan_id, *types), store.enqueue_alerts(TYPES, [hook], at=NOW)
            )
            expected.update(f"{plan_id}:{e.seq}" for e in stored if e.type is FAILED)
            await store.enqueue_alerts(TYPES, [hook], at=NOW, limit=limit)

        for index, kinds, limit in steps:
            await one(plans[index], kinds, limit)
        while (await store.enqueue_alerts(TYPES, [hook], at=NOW, limit=3)).more:
            pass
        found = ids(await pending(store, hook))
        assert sorted(found) == sorted(expected)
        assert len(found) == len(set(found))


# -- SQLite only ------------------------------------------------------------------------------


async def test_the_outbox_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    first = SqliteStore(path)
    await first.open()
    plan, _ = await create(first, 1)
    await commit(first, plan.plan_id, FAILED, FAILED, FAILED)
    await first.enqueue_alerts(TYPES, ["h"], at=NOW)
    delivered, failed, _ = await first.due_alerts("h", now=NOW)
    await first.alert_delivered(delivered, at=NOW)
    await first.alert_failed(failed, at=NOW, error="HTTP status 503", next_at=NOW + 7)
    await first.close()

    second = SqliteStore(path)
    await second.open()
    try:
        assert await second.enqueue_alerts(TYPES, ["h"], at=NOW) == AlertsQueued()
        assert await second.due_alerts("h", now=NOW + 6) == []
        again = await second.due_alerts("h", now=NOW + 7)
        assert ids(again) == [f"{plan.plan_id}:3", f"{plan.plan_id}:4"]
        assert (again[0].attempts, again[0].next_at) == (1, NOW + 7)
        await commit(second, plan.plan_id, EventType.PLAN_COMPLETED)
        assert (await second.enqueue_alerts(TYPES, ["h"], at=NOW)).alerts == 1
        assert await second.alert_counts() == {AlertState.DELIVERED: 1, AlertState.PENDING: 3}
    finally:
        await second.close()


async def test_an_upgraded_file_does_not_alert_on_its_history(tmp_path: Path) -> None:
    """Plans written before the outbox existed start with their cursor at their last event."""
    path = tmp_path / "v2.db"
    plan = make_plan("plan-old", 0)
    conn = sqlite3.connect(path)
    try:
        for step in MIGRATIONS[:2]:
            for statement in filter(str.strip, step.split(";")):
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        conn.execute(
            "INSERT INTO plans (plan_id, status, created_at, updated_at, last_seq, doc)"
            " VALUES (?, ?, ?, ?, 1, ?)",
            (plan.plan_id, plan.status.value, plan.created_at, plan.updated_at, encode_plan(plan)),
        )
        old = replace(make_event(plan.plan_id, FAILED), seq=1)
        conn.execute(
            "INSERT INTO events (plan_id, seq, doc) VALUES (?, 1, ?)",
            (plan.plan_id, encode_event(old)),
        )
        conn.commit()
    finally:
        conn.close()
    upgraded = SqliteStore(path)
    await upgraded.open()
    try:
        assert await upgraded.enqueue_alerts(TYPES, ["h"], at=NOW) == AlertsQueued()
        await commit(upgraded, plan.plan_id, FAILED)
        assert await upgraded.enqueue_alerts(TYPES, ["h"], at=NOW) == AlertsQueued(1, 1)
        assert ids(await pending(upgraded, "h")) == ["plan-old:2"]
    finally:
        await upgraded.close()


@pytest.mark.parametrize("enqueue_first", [True, False])
async def test_an_enqueue_batched_with_a_commit_leaves_its_events_to_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enqueue_first: bool
) -> None:
    """In one group-commit transaction, an enqueue reads what was committed before it, never
    the events a change of the same batch staged; the next enqueue takes those, once."""
    sqlite_store = SqliteStore(tmp_path / "a.db")
    await sqlite_store.open()
    sizes: list[int] = []
    apply_batch = SqliteStore._apply_batch

    def recording(self: SqliteStore, conn: sqlite3.Connection, batch: list[Any]) -> Any:
        sizes.append(len(batch))
        return apply_batch(self, conn, batch)

    monkeypatch.setattr(SqliteStore, "_apply_batch", recording)
    try:
        plan, _ = await create(sqlite_store, 1)
        await commit(sqlite_store, plan.plan_id, FAILED)
        arg = enqueue_arg(TYPES, ["h"], NOW, 100)
        change = Change(plan.plan_id, events=[make_event(plan.plan_id, FAILED)])
        sizes.clear()
        if enqueue_first:
            queued = sqlite_store._enqueue(apply_enqueue_alerts, arg)
            committed = sqlite_store.submit(change)
        else:
            committed = sqlite_store.submit(change)
            queued = sqlite_store._enqueue(apply_enqueue_alerts, arg)
        assert (await queued).alerts == 1
        assert [event.seq for event in await committed] == [3]
        assert sizes == [2]
        assert await sqlite_store.enqueue_alerts(TYPES, ["h"], at=NOW) == AlertsQueued(1, 1)
        assert ids(await pending(sqlite_store, "h")) == [f"{plan.plan_id}:2", f"{plan.plan_id}:3"]
    finally:
        await sqlite_store.close()


def _query_plan(path: Path, sql: str, params: dict[str, object]) -> str:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    finally:
        conn.close()
    return " | ".join(str(row[3]) for row in rows)


async def test_due_alerts_read_only_the_index_of_pending_alerts(tmp_path: Path) -> None:
    """Delivered alerts, however many, are never read again: the query walks the partial
    index of pending ones, which covers it, and seeks each event by its key."""
    sqlite_store = SqliteStore(tmp_path / "a.db")
    await sqlite_store.open()
    await sqlite_store.close()
    params = {"webhook": "h", "now": NOW, "limit": 1, "per_plan": 1}
    found = _query_plan(sqlite_store.path, DUE_ALERTS, params)
    assert "SEARCH alerts USING COVERING INDEX alerts_pending (webhook=?)" in found
    assert "COVERING INDEX alerts_pending (webhook=? AND plan_id=? AND seq=?)" in found
    assert "SEARCH e USING PRIMARY KEY (plan_id=? AND seq=?)" in found
    assert " SCAN alerts" not in f" {found}"
