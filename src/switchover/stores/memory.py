"""An in-memory Store: same contract as the durable ones, for tests and embedding."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from msgspec.structs import replace

from switchover.domain.records import TargetKind
from switchover.domain.status import EXECUTING_TASK_STATUSES, TaskStatus
from switchover.errors import ConflictError, LeaseLostError, StoreError, SwitchoverError
from switchover.stores.protocol import Alert, AlertsQueued, AlertState, Change, PlanSummary

if TYPE_CHECKING:
    from switchover.domain.commands import ControlRequest
    from switchover.domain.events import Event
    from switchover.domain.records import Lease, Plan, Task


def _check_page(offset: int, limit: int | None) -> None:
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")


def _check_limits(**limits: int) -> None:
    for name, value in limits.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


@dataclass(slots=True)
class _AlertRow:
    """One alert's delivery state; the event is the plan's stored one."""

    state: AlertState = AlertState.PENDING
    attempts: int = 0
    next_at: float = 0.0
    error: str | None = None


class MemoryStore:
    """Keeps everything in dicts; nothing survives the process. Commits apply in call order."""

    def __init__(self) -> None:
        self._plans: dict[str, Plan] = {}
        self._plan_order: list[str] = []
        self._last_seq: dict[str, int] = {}
        self._tasks: dict[str, Task] = {}
        self._plan_tasks: dict[str, list[str]] = {}
        self._tenant_tasks: dict[str, list[str]] = {}
        self._events: dict[str, list[Event]] = {}
        self._controls: dict[str, ControlRequest] = {}
        self._lease: Lease | None = None
        self._epochs_issued = 0
        self._id = uuid.uuid4().hex
        self._alert_cursors: dict[str, int] = {}
        # (webhook, plan id, seq), in the order written: each queue's alerts in seq order.
        self._alerts: dict[tuple[str, str, int], _AlertRow] = {}
        self.commits = 0

    async def open(self) -> None:
        """Nothing to create."""

    async def close(self) -> None:
        """Nothing to flush."""

    def _append(self, plan_id: str, events: Sequence[Event]) -> list[Event]:
        seq = self._last_seq[plan_id]
        stored = []
        for event in events:
            if event.plan_id != plan_id:
                raise StoreError(f"event of plan {event.plan_id} in a change of plan {plan_id}")
            seq += 1
            stored.append(replace(event, seq=seq))
        self._last_seq[plan_id] = seq
        self._events[plan_id].extend(stored)
        return stored

    async def create_plan(
        self, plan: Plan, tasks: Sequence[Task], events: Sequence[Event]
    ) -> list[Event]:
        """Insert a new plan, its tasks and first events."""
        if plan.plan_id in self._plans:
            raise ConflictError(f"plan {plan.plan_id!r} already exists")
        self._plans[plan.plan_id] = plan
        self._plan_order.append(plan.plan_id)
        self._last_seq[plan.plan_id] = 0
        self._events[plan.plan_id] = []
        self._plan_tasks[plan.plan_id] = [t.task_id for t in tasks]
        for task in tasks:
            self._tasks[task.task_id] = task
            self._tenant_tasks.setdefault(task.tenant_id, []).append(task.task_id)
        return self._append(plan.plan_id, events)

    def _check_fence(self, fence: int | None) -> None:
        if fence is not None and (self._lease is None or self._lease.epoch != fence):
            raise LeaseLostError(f"this engine's lease (epoch {fence}) is no longer current")

    def submit(self, change: Change) -> asyncio.Future[list[Event]]:
        """Apply the change at once (the call order is the commit order); a settled future."""
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self._apply(change))
        except SwitchoverError as exc:
            future.set_exception(exc)
        return future

    async def commit(self, change: Change) -> list[Event]:
        """Apply the change at once (the call order is the commit order)."""
        stored = self._apply(change)
        await asyncio.sleep(0)
        return stored

    def _apply(self, change: Change) -> list[Event]:
        self._check_fence(change.fence)
        if change.plan_id not in self._plans:
            raise StoreError(f"plan {change.plan_id!r} does not exist")
        for task in change.tasks:
            stored = self._tasks.get(task.task_id)
            if stored is None or stored.plan_id != change.plan_id:
                raise StoreError(f"plan {change.plan_id!r} has no task {task.task_id!r}")
            # Configs are fixed at creation and a durable store does not write them again:
            # refusing other ones here lets tests on this store catch the mistake.
            if (stored.config is not task.config and stored.config != task.config) or (
                stored.previous is not task.previous and stored.previous != task.previous
            ):
                raise StoreError(
                    f"task {task.task_id!r} carries configs other than those it was created with"
                )
        for task in change.tasks:
            self._tasks[task.task_id] = task
        if change.plan is not None:
            self._plans[change.plan_id] = change.plan
        self.commits += 1
        return self._append(change.plan_id, change.events)

    def snapshot(self) -> list[Task]:
        """Every committed task, synchronously (for inspection and invariant checks)."""
        return list(self._tasks.values())

    async def get_plan(self, plan_id: str) -> Plan | None:
        """One plan, or None."""
        return self._plans.get(plan_id)

    async def list_plans(self) -> list[Plan]:
        """Every plan, most recent first."""
        return [self._plans[p] for p in reversed(self._plan_order)]

    async def get_task(self, task_id: str) -> Task | None:
        """One task, or None."""
        return self._tasks.get(task_id)

    async def plan_summaries(self) -> list[PlanSummary]:
        """Every plan, most recent first, with its task counts by status."""
        return [
            PlanSummary(self._plans[plan_id], await self.task_counts(plan_id))
            for plan_id in reversed(self._plan_order)
        ]

    async def task_counts(self, plan_id: str) -> dict[TaskStatus, int]:
        """The plan's tasks counted by status (statuses no task has are left out)."""
        return dict(Counter(task.status for task in self._matching(plan_id, None, None)))

    async def failure_counts(self, plan_id: str) -> list[tuple[str, str | None, int]]:
        """The plan's FAILED / ROLLBACK_FAILED tasks by error type and stage, most first."""
        found: Counter[tuple[str, str | None]] = Counter()
        for task in self._matching(plan_id, (TaskStatus.FAILED, TaskStatus.ROLLBACK_FAILED), None):
            failure = task.failure
            kind = failure.error_type.value if failure is not None else "UNKNOWN"
            found[(kind, failure.stage if failure is not None else None)] += 1
        return [(kind, stage, count) for (kind, stage), count in found.most_common()]

    def _matching(
        self, plan_id: str, statuses: Sequence[TaskStatus] | None, tenant_prefix: str | None
    ) -> Iterator[Task]:
        wanted = None if statuses is None else frozenset(statuses)
        for task_id in self._plan_tasks.get(plan_id, ()):
            task = self._tasks[task_id]
            if wanted is not None and task.status not in wanted:
                continue
            if tenant_prefix and not task.tenant_id.startswith(tenant_prefix):
                continue
            yield task

    async def list_tasks(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        tenant_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[Task]:
        """The plan's tasks in submission order, filtered and paged."""
        _check_page(offset, limit)
        stop = None if limit is None else offset + limit
        return list(
            itertools.islice(self._matching(plan_id, statuses, tenant_prefix), offset, stop)
        )

    async def count_tasks(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        tenant_prefix: str | None = None,
    ) -> int:
        """How many of the plan's tasks pass the filters."""
        return sum(1 for _ in self._matching(plan_id, statuses, tenant_prefix))

    async def tenant_history(self, tenant_id: str, *, limit: int = 100) -> list[Task]:
        """The tenant's tasks, most recently created first."""
        _check_page(0, limit)
        ids = self._tenant_tasks.get(tenant_id, [])
        return [self._tasks[t] for t in itertools.islice(reversed(ids), limit)]

    async def executing_tasks(self, plan_id: str | None = None) -> list[Task]:
        """Tasks RUNNING or ROLLING_BACK (all plans, or one), by plan then position."""
        tasks = await self.tasks_with_status(tuple(EXECUTING_TASK_STATUSES))
        return [task for task in tasks if plan_id is None or task.plan_id == plan_id]

    async def find_task(self, tenant_id: str) -> Task | None:
        """The tenant's most recently created task."""
        ids = self._tenant_tasks.get(tenant_id)
        return self._tasks[ids[-1]] if ids else None

    async def ids_near(
        self,
        kind: TargetKind,
        key: str,
        *,
        candidates: Collection[str] = (),
        around: int = 10,
        plan_id: str | None = None,
    ) -> list[str]:
        """Stored plan or tenant ids near ``key`` (see ``StateStore.ids_near``)."""
        if around < 0:
            raise ValueError(f"around must not be negative, got {around}")
        if kind is TargetKind.PLAN:
            stored = set(self._plans)
        elif kind is TargetKind.TENANT and plan_id is None:
            stored = set(self._tenant_tasks)
        elif kind is TargetKind.TENANT:
            stored = {self._tasks[t].tenant_id for t in self._plan_tasks.get(plan_id or "", ())}
        else:
            raise ValueError(f"ids_near looks up plans or tenants, not {kind.value}s")
        ordered = sorted(stored)
        at = bisect.bisect_left(ordered, key)
        near = {*ordered[max(at - around, 0) : at + around], *(stored & set(candidates))}
        return sorted(near)

    async def tasks_with_status(self, statuses: Sequence[TaskStatus]) -> list[Task]:
        """Tasks of every plan with one of ``statuses``, by plan then position."""
        wanted = set(statuses)
        return [
            self._tasks[t]
            for plan_id in self._plan_order
            for t in self._plan_tasks[plan_id]
            if self._tasks[t].status in wanted
        ]

    async def read_events(self, plan_id: str, since: int = 0, limit: int = 1000) -> list[Event]:
        """Events with ``seq > since``."""
        return self._events.get(plan_id, [])[since : since + limit]

    async def task_events(self, task_id: str, since: int = 0, limit: int = 1000) -> list[Event]:
        """The task's events with ``seq > since``."""
        task = self._tasks.get(task_id)
        if task is None:
            return []
        mine = [e for e in self._events.get(task.plan_id, [])[since:] if e.task_id == task_id]
        return mine[: max(limit, 0)]

    async def last_seq(self, plan_id: str) -> int:
        """Highest sequence number of the plan."""
        return self._last_seq.get(plan_id, 0)

    async def submit_control(self, request: ControlRequest) -> None:
        """Queue a control request."""
        self._controls[request.control_id] = request

    async def pending_controls(self) -> list[ControlRequest]:
        """Requests without an outcome, oldest first."""
        return [r for r in self._controls.values() if r.outcome is None]

    async def finish_control(self, request: ControlRequest, fence: int | None = None) -> None:
        """Store the outcome (fenced like ``commit``)."""
        self._check_fence(fence)
        self._controls[request.control_id] = request

    async def get_control(self, control_id: str) -> ControlRequest | None:
        """One control request."""
        return self._controls.get(control_id)

    async def get_lease(self) -> Lease | None:
        """The lease row."""
        return self._lease

    async def swap_lease(self, expected_owner: str | None, lease: Lease) -> Lease | None:
        """Compare-and-set on the holder; a new holder gets the next epoch."""
        current = self._lease
        if (current.owner if current else None) != expected_owner:
            return None
        if current is not None and current.owner == lease.owner:
            epoch = current.epoch
        else:
            self._epochs_issued += 1
            epoch = self._epochs_issued
        self._lease = replace(lease, epoch=epoch)
        return self._lease

    async def release_lease(self, owner: str) -> None:
        """Delete the lease if ``owner`` holds it."""
        if self._lease is not None and self._lease.owner == owner:
            self._lease = None

    async def identity(self) -> str:
        """A random id made when the store was."""
        return self._id

    async def enqueue_alerts(
        self, types: Collection[str], webhooks: Sequence[str], *, at: float, limit: int = 1000
    ) -> AlertsQueued:
        """Alerts for the events past each plan's cursor; cursors moved (one atomic step)."""
        _check_limits(limit=limit)
        wanted, keys = frozenset(types), tuple(dict.fromkeys(webhooks))
        written = passed = 0
        for plan_id in self._plan_order:
            cursor, last = self._alert_cursors.get(plan_id, 0), self._last_seq[plan_id]
            if last <= cursor:
                continue
            if passed == limit:
                return AlertsQueued(written, passed, more=True)
            upto = min(last, cursor + limit - passed)
            for event in self._events[plan_id][cursor:upto]:
                if event.type in wanted:
                    for key in keys:
                        self._alerts.setdefault((key, plan_id, event.seq), _AlertRow(next_at=at))
                        written += 1
            passed += upto - cursor
            self._alert_cursors[plan_id] = upto
            if upto < last:
                return AlertsQueued(written, passed, more=True)
        return AlertsQueued(written, passed)

    async def due_alerts(
        self, webhook: str, *, now: float, limit: int = 100, per_plan: int = 10
    ) -> list[Alert]:
        """The first pending alerts of each plan whose oldest is due, oldest-due plan first."""
        _check_limits(limit=limit, per_plan=per_plan)
        queues: dict[str, list[tuple[int, _AlertRow]]] = {}
        for (key, plan_id, seq), row in self._alerts.items():
            if key == webhook and row.state is AlertState.PENDING:
                queues.setdefault(plan_id, []).append((seq, row))
        heads = sorted(
            (min(queue, key=lambda item: item[0])[1].next_at, plan_id)
            for plan_id, queue in queues.items()
        )
        found: list[Alert] = []
        for head_at, plan_id in heads:
            if head_at > now:
                break
            for seq, row in sorted(queues[plan_id], key=lambda item: item[0])[:per_plan]:
                event = self._events[plan_id][seq - 1]
                found.append(Alert(event, webhook, row.attempts, row.next_at))
        return found[:limit]

    async def alert_delivered(self, alert: Alert, *, at: float) -> None:
        """Mark the alert delivered, unless it already is."""
        row = self._alerts.get((alert.webhook, alert.event.plan_id, alert.event.seq))
        if row is not None and row.state is not AlertState.DELIVERED:
            row.state, row.attempts, row.error = AlertState.DELIVERED, row.attempts + 1, None

    async def alert_failed(
        self, alert: Alert, *, at: float, error: str, next_at: float | None
    ) -> None:
        """Count a failed attempt of a pending alert: due again at ``next_at``, or given up."""
        row = self._alerts.get((alert.webhook, alert.event.plan_id, alert.event.seq))
        if row is None or row.state is not AlertState.PENDING:
            return
        row.attempts, row.error = row.attempts + 1, error
        if next_at is None:
            row.state = AlertState.GIVEN_UP
        else:
            row.next_at = next_at

    async def alert_counts(self) -> dict[AlertState, int]:
        """Every alert held, counted by state."""
        return dict(Counter(row.state for row in self._alerts.values()))
