"""The Store contract for the front ends' queries: summaries, counts, filtered pages, history."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from switchover.domain.records import Plan, Task
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.errors import StoreError
from switchover.stores.protocol import Change, Store
from tests.stores.contract import make_event, make_plan, make_task, new_id, tick

_T = TaskStatus


async def plan_with(
    store: Store, statuses: Sequence[TaskStatus], tenants: Sequence[str] | None = None
) -> tuple[Plan, list[Task]]:
    """A new plan whose tasks have ``statuses`` (and ``tenants``, default fresh ones).

    Tasks are created PENDING and moved by one commit, as an engine would.
    """
    plan_id = new_id("plan")
    names = list(tenants) if tenants is not None else [new_id("tenant") for _ in statuses]
    created = [make_task(plan_id, i, tenant_id=name) for i, name in enumerate(names)]
    plan = make_plan(plan_id, len(created))
    await store.create_plan(plan, created, [make_event(plan_id)])
    tasks = [
        task if status is _T.PENDING else replace(task, status=status, updated_at=tick())
        for task, status in zip(created, statuses, strict=True)
    ]
    changed = [task for task in tasks if task.status is not _T.PENDING]
    if changed:
        await store.commit(Change(plan_id, changed))
    return plan, tasks


# Characters that trip naive prefix matching: LIKE's wildcards and escape, case, non-ASCII,
# the last code point, and the code points on either side of the surrogate range.
_TENANT_CHARS = "ab%_\\Aä\U0010ffff\ud7ff\ue000"
_statuses = st.sampled_from(list(TaskStatus))


class QueryContract:
    """Queries every Store backend answers the same way.

    A backend's test module subclasses this and provides a ``store`` fixture: a fresh, opened,
    empty store, closed after the test.
    """

    # -- plan summaries and counts -------------------------------------------------------------

    async def test_plan_summaries_count_each_plans_tasks_by_status_most_recent_first(
        self, store: Store
    ) -> None:
        empty, _ = await plan_with(store, [])
        mixed, mixed_tasks = await plan_with(
            store, [_T.RUNNING, _T.FAILED, _T.FAILED, _T.COMPLETED]
        )
        waiting, _ = await plan_with(store, [_T.PENDING] * 3)
        summaries = await store.plan_summaries()
        assert [s.plan for s in summaries] == await store.list_plans()
        ours = {s.plan.plan_id: s for s in summaries}
        mine = (waiting.plan_id, mixed.plan_id, empty.plan_id)
        assert [s.plan.plan_id for s in summaries if s.plan.plan_id in mine] == list(mine)
        assert ours[empty.plan_id].counts == {}
        assert ours[mixed.plan_id].counts == {_T.RUNNING: 1, _T.FAILED: 2, _T.COMPLETED: 1}
        assert ours[mixed.plan_id].counts == Counter(t.status for t in mixed_tasks)
        assert ours[waiting.plan_id].counts == {_T.PENDING: 3}
        assert ours[waiting.plan_id].plan == waiting

    async def test_plan_summaries_follow_commits(self, store: Store) -> None:
        plan, tasks = await plan_with(store, [_T.RUNNING, _T.RUNNING])
        done = replace(tasks[0], status=_T.COMPLETED, updated_at=tick())
        paused = replace(plan, status=PlanStatus.PAUSED, operator_paused=True)
        await store.commit(Change(plan.plan_id, [done], paused))
        [summary] = [s for s in await store.plan_summaries() if s.plan.plan_id == plan.plan_id]
        assert summary.plan == paused
        assert summary.counts == {_T.RUNNING: 1, _T.COMPLETED: 1}

    async def test_task_counts_count_one_plan_by_status(self, store: Store) -> None:
        plan, _ = await plan_with(store, [_T.FAILED, _T.PENDING, _T.FAILED, _T.ROLLED_BACK])
        await plan_with(store, [_T.FAILED])  # another plan's tasks are not counted
        assert await store.task_counts(plan.plan_id) == {
            _T.FAILED: 2,
            _T.PENDING: 1,
            _T.ROLLED_BACK: 1,
        }
        assert await store.task_counts(new_id("plan")) == {}

    # -- filtered and paged task lists ---------------------------------------------------------

    async def test_list_tasks_filters_by_status_in_submission_order(self, store: Store) -> None:
        statuses = [_T.FAILED, _T.RUNNING, _T.COMPLETED, _T.FAILED, _T.ROLLING_BACK, _T.FAILED]
        plan, tasks = await plan_with(store, statuses)
        failed = [t for t in tasks if t.status is _T.FAILED]
        assert await store.list_tasks(plan.plan_id, statuses=[_T.FAILED]) == failed
        both = await store.list_tasks(plan.plan_id, statuses=[_T.ROLLING_BACK, _T.RUNNING])
        assert both == [tasks[1], tasks[4]]
        assert await store.list_tasks(plan.plan_id, statuses=[]) == []
        assert await store.list_tasks(plan.plan_id, statuses=[_T.PAUSED]) == []
        assert await store.list_tasks(plan.plan_id, statuses=None) == tasks
        assert await store.count_tasks(plan.plan_id, statuses=[_T.FAILED]) == 3
        assert await store.count_tasks(plan.plan_id, statuses=[]) == 0
        assert await store.count_tasks(plan.plan_id) == 6
        assert await store.count_tasks(new_id("plan")) == 0

    async def test_list_tasks_pages_with_offset_and_limit(self, store: Store) -> None:
        statuses = [_T.FAILED if i % 3 == 0 else _T.COMPLETED for i in range(10)]
        plan, tasks = await plan_with(store, statuses)
        pages = [await store.list_tasks(plan.plan_id, offset=o, limit=3) for o in (0, 3, 6, 9)]
        assert [len(page) for page in pages] == [3, 3, 3, 1]
        assert [t for page in pages for t in page] == tasks
        assert await store.list_tasks(plan.plan_id, offset=4) == tasks[4:]
        assert await store.list_tasks(plan.plan_id, offset=10, limit=5) == []
        assert await store.list_tasks(plan.plan_id, limit=0) == []
        failed = [t for t in tasks if t.status is _T.FAILED]  # positions 0, 3, 6, 9
        assert (
            await store.list_tasks(plan.plan_id, statuses=[_T.FAILED], offset=1, limit=2)
            == (failed[1:3])
        )

    async def test_negative_offset_or_limit_is_refused(self, store: Store) -> None:
        plan, _ = await plan_with(store, [_T.PENDING])
        with pytest.raises(ValueError, match="offset"):
            await store.list_tasks(plan.plan_id, offset=-1)
        with pytest.raises(ValueError, match="limit"):
            await store.list_tasks(plan.plan_id, limit=-1)
        with pytest.raises(ValueError, match="limit"):
            await store.tenant_history("t", limit=-1)

    async def test_tenant_prefix_is_matched_literally_and_case_sensitively(
        self, store: Store
    ) -> None:
        tenants = ["acme%1", "acme_1", "acmeX1", "acme\\1", "ACME-1", "acme-ä", "acmé", "acme"]
        plan, tasks = await plan_with(store, [_T.PENDING] * len(tenants), tenants)
        by_tenant = {t.tenant_id: t for t in tasks}

        async def matching(prefix: str) -> list[str]:
            found = await store.list_tasks(plan.plan_id, tenant_prefix=prefix)
            assert await store.count_tasks(plan.plan_id, tenant_prefix=prefix) == len(found)
            return [t.tenant_id for t in found]

        assert await matching("acme%") == ["acme%1"]
        assert await matching("acme_") == ["acme_1"]
        assert await matching("acme\\") == ["acme\\1"]
        assert await matching("acme") == ["acme%1", "acme_1", "acmeX1", "acme\\1", "acme-ä", "acme"]
        assert await matching("ACME") == ["ACME-1"]
        assert await matching("acmé") == ["acmé"]
        assert await matching("acme-ä") == ["acme-ä"]
        assert await matching("%") == []
        assert await matching("zzz") == []
        assert await matching("") == tenants
        page = await store.list_tasks(
            plan.plan_id, statuses=[_T.PENDING], tenant_prefix="acme", offset=1, limit=2
        )
        assert page == [by_tenant["acme_1"], by_tenant["acmeX1"]]

    @settings(
        max_examples=40,
        deadline=None,
        # Every example makes a fresh plan, so sharing the store between examples is harmless;
        # each backend's subclass runs this same method, hence differing executors.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        rows=st.lists(
            st.tuples(st.text(_TENANT_CHARS, max_size=4), _statuses), min_size=1, max_size=8
        ),
        prefix=st.none() | st.text(_TENANT_CHARS, max_size=3),
        wanted=st.none() | st.lists(_statuses, max_size=3),
        offset=st.integers(0, 4),
        limit=st.none() | st.integers(0, 4),
    )
    async def test_filters_and_paging_select_what_python_would(
        self,
        store: Store,
        rows: list[tuple[str, TaskStatus]],
        prefix: str | None,
        wanted: list[TaskStatus] | None,
        offset: int,
        limit: int | None,
    ) -> None:
        plan, tasks = await plan_with(store, [s for _, s in rows], [t for t, _ in rows])
        expected = [
            task
            for task in tasks
            if (wanted is None or task.status in wanted)
            and (prefix is None or task.tenant_id.startswith(prefix))
        ]
        count = await store.count_tasks(plan.plan_id, statuses=wanted, tenant_prefix=prefix)
        assert count == len(expected)
        page = await store.list_tasks(
            plan.plan_id, statuses=wanted, tenant_prefix=prefix, offset=offset, limit=limit
        )
        assert page == expected[offset : None if limit is None else offset + limit]

    # -- across plans --------------------------------------------------------------------------

    async def test_tenant_history_is_the_tenants_tasks_most_recent_first(
        self, store: Store
    ) -> None:
        tenant = new_id("tenant")
        history: list[Task] = []
        for status in (_T.COMPLETED, _T.ROLLED_BACK, _T.RUNNING):
            _, tasks = await plan_with(store, [_T.PENDING, status], [new_id("other"), tenant])
            history.insert(0, tasks[1])
        assert await store.tenant_history(tenant) == history
        assert await store.tenant_history(tenant, limit=2) == history[:2]
        assert await store.tenant_history(tenant, limit=0) == []
        assert (await store.tenant_history(tenant, limit=1))[0] == await store.find_task(tenant)
        assert await store.tenant_history(new_id("tenant")) == []

    async def test_executing_tasks_are_the_running_and_rolling_back_ones(
        self, store: Store
    ) -> None:
        marker = new_id("executing")
        first, first_tasks = await plan_with(
            store, [_T.ROLLING_BACK, _T.PAUSED, _T.RUNNING, _T.FAILED], [marker] * 4
        )
        second, second_tasks = await plan_with(
            store, [_T.COMPLETED, _T.RUNNING, _T.PENDING], [marker] * 3
        )
        found = [t for t in await store.executing_tasks() if t.tenant_id == marker]
        assert found == [first_tasks[0], first_tasks[2], second_tasks[1]]
        assert await store.executing_tasks(first.plan_id) == [first_tasks[0], first_tasks[2]]
        assert await store.executing_tasks(second.plan_id) == [second_tasks[1]]
        assert await store.executing_tasks(new_id("plan")) == []

    # -- commits and the rows they name --------------------------------------------------------

    async def test_commit_naming_a_task_its_plan_lacks_fails_and_writes_nothing(
        self, store: Store
    ) -> None:
        plan, tasks = await plan_with(store, [_T.PENDING])
        other, other_tasks = await plan_with(store, [_T.PENDING])
        stranger = make_task(plan.plan_id, 1)  # never created
        moved = replace(other_tasks[0], plan_id=plan.plan_id)  # another plan's task id
        for task in (stranger, moved):
            running = replace(task, status=_T.RUNNING)
            with pytest.raises(StoreError):
                await store.commit(
                    Change(plan.plan_id, [tasks[0], running], events=[make_event(plan.plan_id)])
                )
        assert await store.last_seq(plan.plan_id) == 1
        assert await store.get_task(stranger.task_id) is None
        assert await store.list_tasks(plan.plan_id) == tasks
        assert await store.list_tasks(other.plan_id) == other_tasks
