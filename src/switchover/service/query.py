"""Read-only queries over a store: the views every front end shows, each with a bounded
number of store calls (no call per plan or per task)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from switchover.domain.records import TargetKind
from switchover.domain.status import EXECUTING_TASK_STATUSES, TaskStatus
from switchover.errors import ErrorType, NotFoundError, OperationRefusedError
from switchover.service.suggest import missing

if TYPE_CHECKING:
    from switchover.domain.events import Event
    from switchover.domain.records import Plan, Target, Task
    from switchover.service.views import PlanDetail, Stranded, TaskDetail
    from switchover.settings import Settings
    from switchover.stores.protocol import PlanSummary, Store


class Queries:
    """Read-only views over a store; they start no engine and write nothing."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def plans(self) -> list[PlanSummary]:
        """Every plan, most recent first, with its task counts (one store call)."""
        return await self._store.plan_summaries()

    async def plan(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        tenant_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = 50,
    ) -> PlanDetail:
        """A plan with one page of its tasks.

        Without a filter the page lists what needs attention first (failed, executing,
        paused, pending, then the settled ones), in submission order within each group; with
        ``statuses`` or ``tenant_prefix`` it lists the matching tasks in submission order.
        ``limit`` None: every task.

        Raises:
            NotFoundError: no such plan.
        """
        store = self._store
        plan = await store.get_plan(plan_id)
        if plan is None:
            raise await self.missing(TargetKind.PLAN, plan_id)
        last_seq = await store.last_seq(plan_id)
        counts = await store.task_counts(plan_id)
        if statuses is not None or tenant_prefix is not None:
            tasks = await store.list_tasks(
                plan_id, statuses=statuses, tenant_prefix=tenant_prefix, offset=offset, limit=limit
            )
            matching = await store.count_tasks(
                plan_id, statuses=statuses, tenant_prefix=tenant_prefix
            )
        else:
            tasks = await self._attention_page(plan_id, counts, offset, limit)
            matching = sum(counts.values())
        executing = counts.get(TaskStatus.RUNNING, 0) + counts.get(TaskStatus.ROLLING_BACK, 0)
        stranded = await self._stranded(executing, plan_id)
        failed = counts.get(TaskStatus.FAILED, 0) + counts.get(TaskStatus.ROLLBACK_FAILED, 0)
        failures = await store.failure_counts(plan_id) if failed else []
        from switchover.service.views import PlanDetail

        return PlanDetail(plan, counts, tasks, matching, stranded, last_seq, failures)

    async def tasks(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        offset: int = 0,
        limit: int | None = 50,
    ) -> list[Task]:
        """One page of a plan's tasks in submission order, without the rest of ``plan``'s
        view (counts, failures, lease): for a caller that has it already. An unknown plan
        has no tasks."""
        return await self._store.list_tasks(plan_id, statuses=statuses, offset=offset, limit=limit)

    async def _attention_page(
        self, plan_id: str, counts: Mapping[TaskStatus, int], offset: int, limit: int | None
    ) -> list[Task]:
        from switchover.service.views import ATTENTION_ORDER

        page: list[Task] = []
        skip = offset
        for group in ATTENTION_ORDER:
            in_group = sum(counts.get(status, 0) for status in group)
            if in_group == 0:
                continue
            if skip >= in_group:
                skip -= in_group
                continue
            want = None if limit is None else limit - len(page)
            page += await self._store.list_tasks(plan_id, statuses=group, offset=skip, limit=want)
            skip = 0
            if limit is not None and len(page) >= limit:
                break
        return page

    async def task(self, target: Target) -> TaskDetail:
        """One task, by task id or by tenant (its most recent task).

        Raises:
            NotFoundError: no such task or tenant.
        """
        if target.kind is TargetKind.TASK:
            task = await self._store.get_task(target.key)
        elif target.kind is TargetKind.TENANT:
            task = await self._store.find_task(target.key)
        else:
            raise OperationRefusedError(ErrorType.VALIDATION_ERROR, f"{target} names no task")
        if task is None:
            raise await self.missing(target.kind, target.key)
        executing = 1 if task.status in EXECUTING_TASK_STATUSES else 0
        stranded = await self._stranded(executing, task.plan_id, task.task_id)
        from switchover.service.views import TaskDetail

        return TaskDetail(task, stranded)

    async def tenant_history(self, tenant_id: str, *, limit: int = 100) -> list[Task]:
        """The tenant's tasks across plans, most recent first.

        Raises:
            NotFoundError: the tenant has no task.
        """
        tasks = await self._store.tenant_history(tenant_id, limit=limit)
        if not tasks:
            raise await self.missing(TargetKind.TENANT, tenant_id)
        return tasks

    async def task_events(self, task_id: str, *, since: int = 0, limit: int = 1000) -> list[Event]:
        """The task's events after ``since``, oldest first: its stage timeline, history and
        audit trail (one store call).

        Raises:
            NotFoundError: no such task.
        """
        events = await self._store.task_events(task_id, since, limit)
        if not events and since == 0 and await self._store.get_task(task_id) is None:
            raise await self.missing(TargetKind.TASK, task_id)
        return events

    async def require_plan(self, plan_id: str) -> Plan:
        """The plan.

        Raises:
            NotFoundError: no such plan.
        """
        plan = await self._store.get_plan(plan_id)
        if plan is None:
            raise await self.missing(TargetKind.PLAN, plan_id)
        return plan

    async def events(
        self, plan_id: str, since: int = 0, *, follow: bool = False, poll: float = 0.3
    ) -> AsyncIterator[Event]:
        """The plan's events after ``since``; with ``follow``, forever.

        Raises:
            NotFoundError: no such plan.
        """
        if await self._store.get_plan(plan_id) is None:
            raise await self.missing(TargetKind.PLAN, plan_id)
        from switchover.engine.tail import tail_events

        async for event in tail_events(self._store, plan_id, since, follow=follow, poll=poll):
            yield event

    async def _stranded(
        self, executing: int, plan_id: str, task_id: str | None = None
    ) -> Stranded | None:
        if not executing:
            return None
        from switchover.engine.lease import lease_is_live
        from switchover.service.views import Stranded

        lease = await self._store.get_lease()
        if lease is not None and lease_is_live(lease):
            return None
        return Stranded(executing, plan_id, task_id)

    async def missing(self, kind: TargetKind, key: str) -> NotFoundError:
        """The error for a plan, task or tenant that does not exist, naming up to
        ``SUGGESTIONS`` existing ids close to ``key`` (see ``suggest.missing``)."""
        return await missing(self._store, kind, key)


@asynccontextmanager
async def queries(settings: Settings) -> AsyncIterator[Queries]:
    """Queries over the configured store, opened for the block; reading never creates a
    store: where there is none, the views are those of an empty one."""
    if not settings.store.exists():
        from switchover.stores.memory import MemoryStore

        yield Queries(MemoryStore())
        return
    from switchover.wiring import open_store

    async with open_store(settings, read_only=True) as store:
        yield Queries(store)
