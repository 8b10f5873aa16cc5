"""The Store contract: behaviour every store backend must have, run by each backend's tests."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from switchover.domain.commands import (
    Accepted,
    Command,
    ControlRequest,
    Pause,
    Refused,
    Retry,
    Rollback,
)
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import (
    BoundaryRequest,
    Checkpoint,
    Lease,
    Plan,
    Target,
    Task,
)
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ConflictError, ErrorType, LeaseLostError, StoreError
from switchover.stores.protocol import Change, Store

_clock = itertools.count(1_700_000_000)


def tick() -> float:
    """A strictly increasing timestamp, so creation order is unambiguous."""
    return float(next(_clock))


def new_id(prefix: str) -> str:
    """A fresh id: a store fixture may be shared by several Hypothesis examples."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_config(tenant_id: str, plan_id: str, version: int = 20) -> TenantConfig:
    """A tenant config with a route rule, an OB unit and ASBC rules."""
    return TenantConfig(
        tenant_id=tenant_id,
        plan_id=plan_id,
        plan_version=version,
        deploy_unit_id=7,
        deploy_unit_version=3,
        deploy_unit_name=f"unit-{version}",
        network_endpoints=(
            NetworkEndpoint("r1", source_ip="10.0.0.1", target_domain="green.example.com"),
        ),
        nacos_namespace="ns",
        called_number_rules=("400*", "800*"),
        trunk_group="tg-1",
        default_flag=True,
    )


def make_previous(tenant_id: str) -> TenantConfig:
    """The config a tenant had before: another unit, one route, a non-ASCII unit name."""
    return TenantConfig(
        tenant_id=tenant_id,
        plan_id="older-plan",
        plan_version=19,
        deploy_unit_name="blå",
        network_endpoints=(NetworkEndpoint("r0", "10.1.1.1", None, None, "b.example"),),
    )


def make_plan(plan_id: str, task_count: int = 0, *, at: float | None = None) -> Plan:
    """A RUNNING plan created at ``at`` (default: now on the test clock)."""
    created = tick() if at is None else at
    return Plan(
        plan_id=plan_id,
        version=20,
        max_concurrency=10,
        status=PlanStatus.RUNNING,
        task_count=task_count,
        created_at=created,
        updated_at=created,
    )


def make_task(
    plan_id: str, position: int, *, tenant_id: str | None = None, at: float | None = None
) -> Task:
    """A PENDING task for ``tenant_id`` (default: a fresh tenant)."""
    tenant = tenant_id if tenant_id is not None else new_id("tenant")
    created = tick() if at is None else at
    return Task(
        task_id=new_id("task"),
        plan_id=plan_id,
        tenant_id=tenant,
        position=position,
        config=make_config(tenant, plan_id),
        previous=None,
        status=TaskStatus.PENDING,
        created_at=created,
        updated_at=created,
    )


def make_event(plan_id: str, kind: EventType = EventType.TASK_PROGRESS, **fields: Any) -> Event:
    """An unnumbered event of ``kind``."""
    return Event(plan_id=plan_id, type=kind, at=tick(), **fields)


async def create(store: Store, task_count: int = 2, *, events: int = 1) -> tuple[Plan, list[Task]]:
    """Create a fresh plan with ``task_count`` tasks and ``events`` creation events."""
    plan_id = new_id("plan")
    tasks = [make_task(plan_id, i) for i in range(task_count)]
    first = [make_event(plan_id, EventType.PLAN_CREATED) for _ in range(events)]
    plan = make_plan(plan_id, task_count)
    stored = await store.create_plan(plan, tasks, first)
    assert [e.seq for e in stored] == list(range(1, events + 1))
    return plan, tasks


def seqs(events: Sequence[Event]) -> list[int]:
    """The sequence numbers of ``events``, in order."""
    return [event.seq for event in events]


def make_control(kind: type[Command] = Retry) -> ControlRequest:
    """A pending control request addressed to a tenant (a retry carries its option)."""
    target = Target.tenant(new_id("tenant"))
    command: Command = (
        Retry(target=target, actor="ops-anna", reason="flaky portal", from_checkpoint=True)
        if kind is Retry
        else kind(target=target)
    )
    return ControlRequest(control_id=new_id("ctl"), command=command, created_at=tick())


def make_lease(owner: str, expires_at: float = 1e10) -> Lease:
    """A lease for ``owner``."""
    return Lease(owner=owner, host="host-a", pid=4242, expires_at=expires_at, extra={"v": "1"})


# One batch of concurrent commits: (plan index, events in the commit, event-loop yields first).
_waves = st.lists(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(0, 3)),
        min_size=1,
        max_size=12,
    ),
    min_size=1,
    max_size=5,
)


class StoreContract:
    """Behaviour every Store backend must have.

    A backend's test module subclasses this and provides a ``store`` fixture: a fresh, opened,
    empty store, closed after the test.
    """

    # -- create_plan ---------------------------------------------------------------------------

    async def test_create_plan_stores_plan_tasks_and_events_numbered_from_one(
        self, store: Store
    ) -> None:
        plan_id = new_id("plan")
        plan = make_plan(plan_id, 3)
        tasks = [make_task(plan_id, i) for i in range(3)]
        events = [make_event(plan_id, EventType.PLAN_CREATED)] + [
            make_event(plan_id, EventType.TASK_CREATED, task_id=t.task_id) for t in tasks
        ]
        stored = await store.create_plan(plan, tasks, events)
        assert seqs(stored) == [1, 2, 3, 4]
        assert [e.type for e in stored] == [e.type for e in events]
        assert await store.get_plan(plan_id) == plan
        assert await store.list_tasks(plan_id) == tasks
        assert await store.read_events(plan_id) == stored
        assert await store.last_seq(plan_id) == 4

    async def test_create_plan_with_existing_id_raises_conflict_and_writes_nothing(
        self, store: Store
    ) -> None:
        plan, tasks = await create(store, 2)
        intruder = make_task(plan.plan_id, 5)
        with pytest.raises(ConflictError):
            await store.create_plan(
                make_plan(plan.plan_id, 1), [intruder], [make_event(plan.plan_id)]
            )
        assert await store.get_task(intruder.task_id) is None
        assert await store.list_tasks(plan.plan_id) == tasks
        assert seqs(await store.read_events(plan.plan_id)) == [1]
        assert await store.last_seq(plan.plan_id) == 1

    async def test_create_plan_without_events_starts_sequence_at_zero(self, store: Store) -> None:
        plan, _ = await create(store, 1, events=0)
        assert await store.last_seq(plan.plan_id) == 0
        stored = await store.commit(Change(plan.plan_id, events=[make_event(plan.plan_id)]))
        assert seqs(stored) == [1]

    # -- commit --------------------------------------------------------------------------------

    async def test_commit_writes_plan_tasks_and_events_together(self, store: Store) -> None:
        plan, tasks = await create(store, 2)
        paused = replace(tasks[0], status=TaskStatus.PAUSED, updated_at=tick())
        new_plan = replace(plan, status=PlanStatus.PAUSED, operator_paused=True)
        events = [
            make_event(plan.plan_id, EventType.TASK_PAUSED, task_id=paused.task_id),
            make_event(plan.plan_id, EventType.PLAN_PAUSED),
        ]
        stored = await store.commit(Change(plan.plan_id, [paused], new_plan, events))
        assert seqs(stored) == [2, 3]
        assert [e.type for e in stored] == [EventType.TASK_PAUSED, EventType.PLAN_PAUSED]
        assert await store.get_task(paused.task_id) == paused
        assert await store.get_task(tasks[1].task_id) == tasks[1]
        assert await store.get_plan(plan.plan_id) == new_plan
        assert await store.read_events(plan.plan_id, since=1) == stored

    async def test_commit_to_unknown_plan_raises_store_error_and_writes_nothing(
        self, store: Store
    ) -> None:
        plan_id = new_id("plan")
        with pytest.raises(StoreError):
            await store.commit(Change(plan_id, events=[make_event(plan_id)]))
        assert await store.get_plan(plan_id) is None
        assert await store.last_seq(plan_id) == 0
        assert await store.read_events(plan_id) == []

    async def test_writes_apply_in_call_order(self, store: Store) -> None:
        plan, tasks = await create(store, 1)
        statuses = [TaskStatus.RUNNING, TaskStatus.PAUSED, TaskStatus.RUNNING, TaskStatus.FAILED]
        calls = [
            asyncio.ensure_future(
                store.commit(
                    Change(
                        plan.plan_id,
                        [replace(tasks[0], status=status, retry_count=i)],
                        events=[make_event(plan.plan_id, status=status.value)],
                    )
                )
            )
            for i, status in enumerate(statuses)
        ]
        results = await asyncio.gather(*calls)
        assert [seqs(r) for r in results] == [[2], [3], [4], [5]]
        assert await store.get_task(tasks[0].task_id) == replace(
            tasks[0], status=TaskStatus.FAILED, retry_count=3
        )
        stored = await store.read_events(plan.plan_id, since=1)
        assert [e.status for e in stored] == [s.value for s in statuses]

    async def test_submit_queues_in_call_order_before_it_returns(self, store: Store) -> None:
        """``submit`` is synchronous: changes submitted one after another apply in that order,
        interleaved across plans, even when nobody awaits them until the end."""
        first, first_tasks = await create(store, 1)
        second, second_tasks = await create(store, 1)
        futures = []
        for i in range(200):
            plan, tasks = (first, first_tasks) if i % 3 else (second, second_tasks)
            status = TaskStatus.RUNNING if i % 2 else TaskStatus.PAUSED
            change = Change(
                plan.plan_id,
                [replace(tasks[0], status=status, retry_count=i)],
                events=[make_event(plan.plan_id, status=status.value, data={"i": i})],
            )
            futures.append(store.submit(change))
        results = await asyncio.gather(*futures)
        for plan, tasks, wanted in (
            (first, first_tasks, [i for i in range(200) if i % 3]),
            (second, second_tasks, [i for i in range(200) if not i % 3]),
        ):
            stored = await store.read_events(plan.plan_id, since=1, limit=1000)
            assert [e.data["i"] for e in stored] == wanted
            assert seqs(stored) == list(range(2, len(wanted) + 2))
            last = await store.get_task(tasks[0].task_id)
            assert last is not None
            assert last.retry_count == wanted[-1]  # the last submitted row won
        assert [len(r) for r in results] == [1] * 200

    async def test_a_failed_submit_fails_only_its_future(self, store: Store) -> None:
        plan, _ = await create(store, 1)
        ok = store.submit(Change(plan.plan_id, events=[make_event(plan.plan_id)]))
        bad = store.submit(Change(new_id("missing"), events=[make_event(plan.plan_id)]))
        after = store.submit(Change(plan.plan_id, events=[make_event(plan.plan_id)]))
        assert seqs(await ok) == [2]
        with pytest.raises(StoreError):
            await bad
        assert seqs(await after) == [3]

    async def test_concurrent_commits_to_one_plan_get_gapless_sequence_numbers(
        self, store: Store
    ) -> None:
        plan, tasks = await create(store, 4)
        commits = 300

        async def one(i: int) -> list[Event]:
            task = tasks[i % len(tasks)]
            events = [make_event(plan.plan_id, task_id=task.task_id) for _ in range(1 + i % 3)]
            return await store.commit(Change(plan.plan_id, [task], events=events))

        results = await asyncio.gather(*(one(i) for i in range(commits)))
        expected = 1 + sum(1 + i % 3 for i in range(commits))
        assigned = sorted(s for r in results for s in seqs(r))
        assert assigned == list(range(2, expected + 1))
        for result in results:  # one caller's events are numbered consecutively
            assert seqs(result) == list(range(result[0].seq, result[0].seq + len(result)))
        assert seqs(await store.read_events(plan.plan_id, limit=10_000)) == list(
            range(1, expected + 1)
        )
        assert await store.last_seq(plan.plan_id) == expected

    async def test_each_plan_numbers_its_events_independently(self, store: Store) -> None:
        first, _ = await create(store, 1)
        second, _ = await create(store, 1, events=3)
        a = await store.commit(Change(first.plan_id, events=[make_event(first.plan_id)]))
        b = await store.commit(Change(second.plan_id, events=[make_event(second.plan_id)] * 2))
        assert seqs(a) == [2]
        assert seqs(b) == [4, 5]
        assert await store.last_seq(first.plan_id) == 2
        assert await store.last_seq(second.plan_id) == 5

    @settings(
        max_examples=25,
        deadline=None,
        # Every example makes fresh plans, so sharing the store between examples is harmless;
        # each backend's subclass runs this same method, hence differing executors.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(waves=_waves, first_events=st.lists(st.integers(0, 3), min_size=3, max_size=3))
    async def test_any_interleaving_of_commits_numbers_each_plan_one_to_n(
        self, store: Store, waves: list[list[tuple[int, int, int]]], first_events: list[int]
    ) -> None:
        plans = [(await create(store, 1, events=n))[0].plan_id for n in first_events]
        expected = dict(zip(plans, first_events, strict=True))

        async def one(plan_id: str, events: int, yields: int) -> list[Event]:
            for _ in range(yields):
                await asyncio.sleep(0)
            batch = [make_event(plan_id) for _ in range(events)]
            return await store.commit(Change(plan_id, events=batch))

        for wave in waves:
            await asyncio.gather(*(one(plans[p], n, y) for p, n, y in wave))
            for p, n, _ in wave:
                expected[plans[p]] += n
        for plan_id, count in expected.items():
            stored = await store.read_events(plan_id, limit=10_000)
            assert seqs(stored) == list(range(1, count + 1))
            assert await store.last_seq(plan_id) == count

    # -- reading events ------------------------------------------------------------------------

    async def test_read_events_honours_since_and_limit(self, store: Store) -> None:
        plan, _ = await create(store, 1)
        await store.commit(Change(plan.plan_id, events=[make_event(plan.plan_id)] * 9))
        assert seqs(await store.read_events(plan.plan_id)) == list(range(1, 11))
        assert seqs(await store.read_events(plan.plan_id, since=4)) == list(range(5, 11))
        assert seqs(await store.read_events(plan.plan_id, since=4, limit=3)) == [5, 6, 7]
        assert await store.read_events(plan.plan_id, since=10) == []
        assert await store.read_events(plan.plan_id, limit=0) == []

    async def test_task_events_are_the_tasks_own_in_order(self, store: Store) -> None:
        plan, tasks = await create(store, 2)
        pid, (a, b) = plan.plan_id, tasks
        mine = {"task_id": a.task_id, "tenant_id": a.tenant_id}
        theirs = {"task_id": b.task_id, "tenant_id": b.tenant_id}
        await store.commit(
            Change(
                pid,
                events=[
                    make_event(pid, **mine),
                    make_event(pid, **theirs),
                    make_event(pid),  # the plan's own
                    make_event(pid, **mine),
                    make_event(pid, **mine),
                ],
            )
        )
        assert seqs(await store.task_events(a.task_id)) == [2, 5, 6]
        assert seqs(await store.task_events(b.task_id)) == [3]
        assert seqs(await store.task_events(a.task_id, since=2, limit=1)) == [5]
        assert await store.task_events(a.task_id, limit=0) == []
        assert await store.task_events("no-such/task") == []

    async def test_event_with_failure_and_data_round_trips(self, store: Store) -> None:
        plan, tasks = await create(store, 1)
        failure = FailureInfo(
            ErrorType.HEALTH_CHECK_FAILED,
            "2 instances never matched",
            stage="blue-green-gateway",
            step="verify",
            retryable=True,
            details={"instances": [{"host": "10.0.0.1:8080", "last": "19"}]},
        )
        event = make_event(
            plan.plan_id,
            EventType.STAGE_FAILED,
            task_id=tasks[0].task_id,
            tenant_id=tasks[0].tenant_id,
            status="FAILED",
            stage="blue-green-gateway",
            failure=failure,
            data={"attempt": 3, "nested": {"ok": False}},
        )
        [stored] = await store.commit(Change(plan.plan_id, events=[event]))
        assert stored == replace(event, seq=2)
        assert await store.read_events(plan.plan_id, since=1) == [stored]

    async def test_last_seq_of_unknown_plan_is_zero(self, store: Store) -> None:
        assert await store.last_seq(new_id("plan")) == 0

    # -- plans and tasks -----------------------------------------------------------------------

    async def test_get_returns_none_for_unknown_ids(self, store: Store) -> None:
        assert await store.get_plan(new_id("plan")) is None
        assert await store.get_task(new_id("task")) is None
        assert await store.find_task(new_id("tenant")) is None
        assert await store.list_tasks(new_id("plan")) == []

    async def test_list_plans_is_most_recent_first(self, store: Store) -> None:
        created = [(await create(store, 0))[0].plan_id for _ in range(3)]
        listed = [p.plan_id for p in await store.list_plans() if p.plan_id in created]
        assert listed == created[::-1]

    async def test_list_tasks_is_in_submission_order(self, store: Store) -> None:
        plan_id = new_id("plan")
        tasks = [make_task(plan_id, i) for i in range(5)]
        await store.create_plan(make_plan(plan_id, 5), tasks, [])
        running = replace(tasks[2], status=TaskStatus.RUNNING)
        await store.commit(Change(plan_id, [running]))  # an update keeps its place
        assert await store.list_tasks(plan_id) == [*tasks[:2], running, *tasks[3:]]

    async def test_find_task_returns_tenants_most_recent_task_across_plans(
        self, store: Store
    ) -> None:
        tenant = new_id("tenant")
        older_id, newer_id = new_id("plan"), new_id("plan")
        older = make_task(older_id, 0, tenant_id=tenant)
        newer = make_task(newer_id, 3, tenant_id=tenant)
        await store.create_plan(make_plan(older_id, 1), [older], [])
        await store.create_plan(make_plan(newer_id, 1), [newer], [])
        assert await store.find_task(tenant) == newer
        # An update to the older task does not make it the most recent one.
        touched = replace(older, status=TaskStatus.RUNNING, updated_at=tick())
        await store.commit(Change(older_id, [touched]))
        assert await store.find_task(tenant) == newer

    async def test_find_task_breaks_creation_time_ties_by_latest_insertion(
        self, store: Store
    ) -> None:
        tenant, at = new_id("tenant"), tick()
        first_id, second_id = new_id("plan"), new_id("plan")
        first = make_task(first_id, 0, tenant_id=tenant, at=at)
        second = make_task(second_id, 0, tenant_id=tenant, at=at)
        await store.create_plan(make_plan(first_id, 1), [first], [])
        await store.create_plan(make_plan(second_id, 1), [second], [])
        assert await store.find_task(tenant) == second

    async def test_tasks_with_status_spans_plans_by_plan_creation_then_position(
        self, store: Store
    ) -> None:
        def running(task: Task) -> Task:
            return replace(task, status=TaskStatus.RUNNING)

        marker = new_id("status-test")
        wanted: list[Task] = []
        for _ in range(2):
            plan_id = new_id(marker)
            tasks = [make_task(plan_id, i) for i in range(4)]
            await store.create_plan(make_plan(plan_id, 4), tasks, [])
            # positions 3 and 1 run, committed out of order; 0 and 2 stay pending
            changed = [running(tasks[3]), running(tasks[1])]
            await store.commit(Change(plan_id, changed))
            wanted += [changed[1], changed[0]]
        found = await store.tasks_with_status([TaskStatus.RUNNING, TaskStatus.ROLLING_BACK])
        assert [t for t in found if t.plan_id.startswith(marker)] == wanted
        pending = await store.tasks_with_status([TaskStatus.PENDING])
        assert [t.position for t in pending if t.plan_id.startswith(marker)] == [0, 2, 0, 2]
        assert await store.tasks_with_status([]) == []

    async def test_task_with_every_field_set_round_trips(self, store: Store) -> None:
        plan_id, tenant = new_id("plan"), new_id("tenant")
        created = replace(
            make_task(plan_id, 0, tenant_id=tenant),
            config=make_config(tenant, plan_id, 20),
            previous=make_previous(tenant),
        )
        await store.create_plan(make_plan(plan_id, 1), [created], [])
        assert await store.get_task(created.task_id) == created
        full = replace(
            created,
            status=TaskStatus.ROLLBACK_FAILED,
            updated_at=tick(),
            mode=ExecutionMode.ROLLBACK,
            stages=("asbc-gateway", "portal", "blue-green-gateway", "ob-service"),
            checkpoint=Checkpoint(ExecutionMode.ROLLBACK, 1, ("asbc-gateway", "portal"), tick()),
            retry_count=2,
            version_override=21,
            failure=FailureInfo(
                ErrorType.ROLLBACK_PARTIAL_FAILED,
                "ob-service failed",
                stage="ob-service",
                step="verify",
                retryable=False,
                details={"stages": [{"name": "portal", "ok": True}, {"name": "ob", "ok": False}]},
            ),
            requested=BoundaryRequest.CANCEL,
            current_stage="blue-green-gateway",
            waiting_for="other-store/p-9/t",
        )
        await store.commit(Change(plan_id, [full]))
        assert await store.get_task(full.task_id) == full
        assert await store.list_tasks(plan_id) == [full]
        assert await store.find_task(full.tenant_id) == full

    async def test_plan_fields_round_trip(self, store: Store) -> None:
        plan, _ = await create(store, 1)
        changed = replace(plan, status=PlanStatus.FAILED, operator_paused=True, updated_at=tick())
        await store.commit(Change(plan.plan_id, plan=changed))
        assert await store.get_plan(plan.plan_id) == changed

    # -- control requests ----------------------------------------------------------------------

    async def test_control_requests_are_pending_oldest_first_until_finished(
        self, store: Store
    ) -> None:
        first, second = make_control(Pause), make_control(Retry)
        await store.submit_control(first)
        await store.submit_control(second)
        assert [c.control_id for c in await store.pending_controls()] == [
            first.control_id,
            second.control_id,
        ]
        assert await store.get_control(first.control_id) == first
        assert await store.get_control(new_id("ctl")) is None
        done = replace(first, outcome=Accepted("p-1", ("p-1/t-1",), "pause requested"))
        await store.finish_control(done)
        assert await store.get_control(first.control_id) == done
        assert [c.control_id for c in await store.pending_controls()] == [second.control_id]

    # -- the engine lease ----------------------------------------------------------------------

    async def test_lease_is_a_compare_and_set_on_its_owner(self, store: Store) -> None:
        assert await store.get_lease() is None
        assert await store.swap_lease("nobody", make_lease("engine-a")) is None
        taken = await store.swap_lease(None, make_lease("engine-a"))
        assert taken == replace(make_lease("engine-a"), epoch=taken.epoch if taken else -1)
        assert await store.get_lease() == taken
        # acquiring "when none" fails while a lease exists, even an expired one
        assert await store.swap_lease(None, make_lease("engine-b")) is None
        assert await store.swap_lease("engine-b", make_lease("engine-b")) is None
        renewed = await store.swap_lease("engine-a", make_lease("engine-a", expires_at=2e10))
        assert renewed is not None
        assert taken is not None
        assert renewed.expires_at == 2e10
        assert renewed.epoch == taken.epoch  # a renewal keeps the epoch
        assert await store.get_lease() == renewed
        moved = await store.swap_lease("engine-a", make_lease("engine-b"))
        assert moved is not None
        assert moved.owner == "engine-b"
        assert moved.epoch > renewed.epoch  # a change of hands moves it on
        assert await store.get_lease() == moved

    async def test_lease_epochs_never_repeat_even_after_a_release(self, store: Store) -> None:
        first = await store.swap_lease(None, make_lease("engine-a"))
        assert first is not None
        await store.release_lease("engine-a")
        second = await store.swap_lease(None, make_lease("engine-b"))
        assert second is not None
        assert second.epoch > first.epoch

    async def test_commits_are_fenced_by_the_lease_epoch(self, store: Store) -> None:
        plan_id = new_id("plan")
        await store.create_plan(make_plan(plan_id), [], [])
        old = await store.swap_lease(None, make_lease("engine-a"))
        assert old is not None
        await store.commit(Change(plan_id, events=[make_event(plan_id)], fence=old.epoch))
        new = await store.swap_lease("engine-a", make_lease("engine-b"))
        assert new is not None
        with pytest.raises(LeaseLostError):
            await store.commit(Change(plan_id, events=[make_event(plan_id)], fence=old.epoch))
        control = make_control()
        await store.submit_control(control)
        with pytest.raises(LeaseLostError):
            await store.finish_control(
                replace(control, outcome=Accepted("p", (), "ok")), fence=old.epoch
            )
        assert await store.last_seq(plan_id) == 1  # the deposed engine wrote nothing
        assert [c.control_id for c in await store.pending_controls()] == [control.control_id]
        await store.commit(Change(plan_id, events=[make_event(plan_id)], fence=new.epoch))
        await store.commit(Change(plan_id, events=[make_event(plan_id)]))  # unfenced writer
        assert await store.last_seq(plan_id) == 3
        await store.release_lease("engine-b")
        with pytest.raises(LeaseLostError):
            await store.commit(Change(plan_id, events=[make_event(plan_id)], fence=new.epoch))

    async def test_a_fenced_commit_refused_in_a_batch_fails_only_its_caller(
        self, store: Store
    ) -> None:
        plan_id = new_id("plan")
        await store.create_plan(make_plan(plan_id), [], [])
        lease = await store.swap_lease(None, make_lease("engine-a"))
        assert lease is not None
        results = await asyncio.gather(
            store.commit(Change(plan_id, events=[make_event(plan_id)], fence=lease.epoch)),
            store.commit(Change(plan_id, events=[make_event(plan_id)], fence=lease.epoch + 7)),
            store.commit(Change(plan_id, events=[make_event(plan_id)], fence=lease.epoch)),
            return_exceptions=True,
        )
        assert [type(r).__name__ for r in results] == ["list", "LeaseLostError", "list"]
        assert [e.seq for e in await store.read_events(plan_id)] == [1, 2]

    async def test_commands_and_outcomes_round_trip_through_the_mailbox(self, store: Store) -> None:
        target = Target.task("p/t")
        command = Rollback(target=target, actor="ops-bo", reason="v20 broke", version=21)
        request = ControlRequest(new_id("ctl"), command, tick())
        await store.submit_control(request)
        assert await store.get_control(request.control_id) == request
        refused = Refused(
            ErrorType.ROLLBACK_PRECONDITION_FAILED,
            "task p/t is COMPLETED; rollback needs FAILED, PAUSED or ROLLBACK_FAILED",
            task_id="p/t",
            tenant_id="t",
            status="COMPLETED",
        )
        await store.finish_control(replace(request, outcome=refused))
        assert await store.get_control(request.control_id) == replace(request, outcome=refused)

    async def test_identity_is_stable(self, store: Store) -> None:
        first = await store.identity()
        assert first
        assert await store.identity() == first

    async def test_lease_is_released_only_by_its_owner(self, store: Store) -> None:
        taken = await store.swap_lease(None, make_lease("engine-a"))
        await store.release_lease("engine-b")
        assert await store.get_lease() == taken
        await store.release_lease("engine-a")
        assert await store.get_lease() is None
        await store.release_lease("engine-a")  # releasing nothing is harmless
        assert await store.swap_lease(None, make_lease("engine-b"))
