"""The engine's cache of the store, and the one ordered path by which every change is written."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from msgspec.structs import replace

from switchover.clock import Clock
from switchover.domain import lifecycle, rollout
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Plan, Task
from switchover.domain.status import (
    ACTIVE_TASK_STATUSES,
    EXECUTING_TASK_STATUSES,
    SLOT_TASK_STATUSES,
    ExecutionMode,
    PlanStatus,
    TaskStatus,
    derive_plan_status,
    plan_transition,
)
from switchover.engine.scheduler import Scheduler
from switchover.stores.protocol import Change, Store


def accepting(plan: Plan) -> bool:
    """Whether the plan's PENDING tasks may be admitted (not paused, not halted)."""
    return (
        plan.status is PlanStatus.RUNNING
        and not plan.operator_paused
        and plan.rollout.halted is None
    )


def held(plan: Plan) -> bool:
    """Whether the plan is held from admitting: paused by an operator or halted by its budget."""
    return plan.operator_paused or plan.rollout.halted is not None


class EngineState:
    """What the engine knows: plans and tasks it works on, and the scheduler (slots, tenants,
    accepted commands waiting to start).

    The store is the truth; this is its cache, and the engine is the store's only writer while
    it holds the lease. ``write`` updates the cache and queues the store commit in the same
    synchronous step, so commits reach the store in the order decisions were made. A failed
    commit calls ``on_fatal``: the cache is then ahead of the store and the engine must stop.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        on_change: Callable[[], None],
        on_fatal: Callable[[BaseException], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.sched = Scheduler()
        self.tasks: dict[str, Task] = {}
        self.plans: dict[str, Plan] = {}
        self.counts: dict[str, Counter[TaskStatus]] = {}
        self.beats: dict[str, float] = {}
        self.listeners: dict[str, set[Callable[[list[Event]], None]]] = {}
        """Who is told each plan's events as they commit (see ``Engine.subscribe``)."""
        self.all_listeners: set[Callable[[list[Event]], None]] = set()
        """Who is told every plan's events as they commit."""
        self.open_in_wave: dict[str, Counter[int]] = {}
        """Per plan, per wave: tasks not settled yet (PENDING, RUNNING, PAUSED)."""
        self.on_wake: Callable[[str, float], None] = lambda plan_id, at: None
        """Called with a plan and a time at which its rollout must be looked at (a bake)."""
        self.commit_observer: Callable[[float], None] | None = None
        """Told the seconds each commit took, from queueing to durable (for metrics)."""
        self.fence: int | None = None
        """The lease epoch every commit names (None until the engine holds the lease)."""
        self._on_change = on_change
        self._on_fatal = on_fatal

    def notify(self) -> None:
        """Something changed outside ``write`` (e.g. an operation was queued): re-admit."""
        self._on_change()

    # ----------------------------------------------------------------- writing

    def write(
        self,
        plan_id: str,
        tasks: Sequence[Task] = (),
        events: Sequence[Event] = (),
        *,
        plan: Plan | None = None,
        drive_plan: bool = True,
    ) -> asyncio.Future[list[Event]]:
        """Apply a change to the cache and queue its commit; await the result for durability.

        Args:
            plan_id: the plan the change belongs to.
            tasks: task rows, written whole.
            events: events describing the change, in order.
            plan: a new plan row, if the plan itself changed.
            drive_plan: re-derive the plan's status from its tasks (forward changes only:
                rollbacks never move a plan).
        """
        status_changed = False
        failed: list[Task] = []
        for task in tasks:
            before = self.tasks.get(task.task_id)
            status_changed |= self._put_task(task)
            if (
                before is not None
                and before.status is TaskStatus.RUNNING
                and task.status is TaskStatus.FAILED
            ):
                failed.append(task)
        if plan is not None:
            self.plans[plan_id] = plan
            self.sched.set_accepting(plan_id, accepting(plan))
        all_events = list(events)
        if status_changed:
            rolled = self._roll(plan_id, failed)
            if rolled is not None:
                plan, rollout_events = rolled
                all_events.extend(rollout_events)
        if drive_plan and (status_changed or plan is not None):
            derived = self._derive_plan(plan_id)
            if derived is not None:
                plan = derived
                all_events.append(self.plan_event(derived))
        change = Change(
            plan_id=plan_id, tasks=tuple(tasks), plan=plan, events=all_events, fence=self.fence
        )
        future = self.store.submit(change)  # queued now: commit order is decision order
        if self.commit_observer is not None:
            future.add_done_callback(functools.partial(self._timed, time.perf_counter()))
        future.add_done_callback(self._committed)
        self._on_change()
        return future

    def _timed(self, queued: float, future: asyncio.Future[list[Event]]) -> None:
        observer = self.commit_observer
        if observer is not None and not future.cancelled() and future.exception() is None:
            observer(time.perf_counter() - queued)

    # ----------------------------------------------------------------- rollout

    def _roll(
        self, plan_id: str, failed: Sequence[Task], *, promoted: bool = False
    ) -> tuple[Plan, list[Event]] | None:
        """Apply the plan's rollout policy after a change: count failures against the budget,
        open or pass a gate, admit the next wave. The changed plan and its events, or None."""
        base = self.plans[plan_id]
        policy = base.policy
        if policy is None:
            return None
        now = self.clock.now()
        state = base.rollout
        found: list[tuple[str, dict[str, Any]]] = []
        for task in failed:
            if task.mode is ExecutionMode.NORMAL and task.failure is not None:
                failure = task.failure
                step = rollout.after_failure(
                    policy,
                    state,
                    base.task_count,
                    failure.error_type.value,
                    failure.stage,
                    task.position,
                )
                state = step.rollout
                found.extend(step.events)
        opened = self.open_in_wave.get(plan_id, Counter())[state.wave]
        step = rollout.advance(policy, state, opened, now, promoted=promoted)
        state = step.rollout
        found.extend(step.events)
        if state == base.rollout:
            return None
        changed = replace(base, rollout=state, updated_at=now)
        self.plans[plan_id] = changed
        self.sched.set_limit(plan_id, policy.limit(state.wave))
        self.sched.set_accepting(plan_id, accepting(changed))
        if step.wake_at is not None:
            self.on_wake(plan_id, step.wake_at)
        events = [
            Event(
                plan_id=plan_id,
                type=EventType(kind),
                at=now,
                status=changed.status.value,
                data=data,
            )
            for kind, data in found
        ]
        return changed, events

    def drive(self, plan_id: str, *, promoted: bool = False) -> asyncio.Future[list[Event]] | None:
        """Look at the plan's rollout now (a bake ended, or an operator promoted); the commit
        of what changed, or None when nothing did."""
        if plan_id not in self.plans:
            return None
        rolled = self._roll(plan_id, (), promoted=promoted)
        if rolled is None:
            return None
        plan, events = rolled
        return self.write(plan_id, (), events, plan=plan)

    def _committed(self, future: asyncio.Future[list[Event]]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._on_fatal(exc)
        else:
            events = future.result()
            if events and self.listeners:
                for listener in list(self.listeners.get(events[0].plan_id, ())):
                    listener(events)
            if events and self.all_listeners:
                for listener in list(self.all_listeners):
                    listener(events)
        self._on_change()

    def _put_task(self, task: Task) -> bool:
        old = self.tasks.get(task.task_id)
        self.tasks[task.task_id] = task
        if old is None or old.status is task.status:
            return False
        counts = self.counts[task.plan_id]
        counts[old.status] -= 1
        counts[task.status] += 1
        was_open, is_open = old.status in rollout.UNSETTLED, task.status in rollout.UNSETTLED
        if was_open != is_open:
            policy = self.plans[task.plan_id].policy
            wave = policy.wave_of(task.position) if policy is not None else 0
            self.open_in_wave[task.plan_id][wave] += 1 if is_open else -1
        if old.status in SLOT_TASK_STATUSES and task.status not in SLOT_TASK_STATUSES:
            self.sched.release_slot(task.plan_id, task.task_id)
        if task.status not in ACTIVE_TASK_STATUSES and self.sched.queued_op(task.task_id) is None:
            self.sched.release_tenant(task.tenant_id, task.task_id)
        if task.status not in EXECUTING_TASK_STATUSES:
            self.beats.pop(task.task_id, None)
        return True

    def _derive_plan(self, plan_id: str) -> Plan | None:
        plan = self.plans[plan_id]
        status = derive_plan_status(plan.status, self.counts[plan_id], operator_paused=held(plan))
        if status is plan.status:
            return None
        plan_transition(plan_id, plan.status, status)
        derived = replace(plan, status=status, updated_at=self.clock.now())
        self.plans[plan_id] = derived
        self.sched.set_accepting(plan_id, accepting(derived))
        return derived

    # ----------------------------------------------------------------- records and events

    def install_plan(self, plan: Plan, tasks: Iterable[Task]) -> list[str]:
        """Cache a plan and its tasks; returns the ids of tasks found executing (to restart)."""
        self.plans[plan.plan_id] = plan
        counts: Counter[TaskStatus] = Counter()
        self.counts[plan.plan_id] = counts
        policy = plan.policy
        limit = policy.limit(plan.rollout.wave) if policy is not None else None
        self.sched.add_plan(
            plan.plan_id, plan.max_concurrency, accepting=accepting(plan), limit=limit
        )
        opened: Counter[int] = Counter()
        self.open_in_wave[plan.plan_id] = opened
        executing = []
        for task in tasks:
            self.tasks[task.task_id] = task
            counts[task.status] += 1
            if task.status in rollout.UNSETTLED:
                opened[policy.wave_of(task.position) if policy is not None else 0] += 1
            if task.status is TaskStatus.PENDING:
                self.sched.add_pending(plan.plan_id, task.task_id, task.tenant_id, task.position)
            elif task.status in ACTIVE_TASK_STATUSES:
                self.sched.hold_tenant(task.tenant_id, task.task_id)
                if task.status in SLOT_TASK_STATUSES:
                    self.sched.hold_slot(plan.plan_id, task.task_id)
                    executing.append(task.task_id)
        gate = plan.rollout.gate
        if gate is not None and gate.until is not None:
            self.on_wake(plan.plan_id, gate.until)  # a bake cut off by a restart goes on
        return executing

    def plan_tasks(self, plan_id: str) -> list[Task]:
        """The cached tasks of a plan, in submission order."""
        return sorted(
            (t for t in self.tasks.values() if t.plan_id == plan_id), key=lambda t: t.position
        )

    def changed(self, task: Task, **changes: Any) -> Task:
        """``task`` with ``changes``, stamped now (see ``lifecycle.advance``).

        Raises:
            InvalidTransitionError: the table does not allow the status change.
        """
        return lifecycle.advance(task, self.clock.now(), **changes)

    def event(
        self,
        type_: EventType,
        task: Task,
        *,
        stage: str | None = None,
        failure: FailureInfo | None = None,
        data: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Event:
        """An event about ``task`` (its status as given), stamped now."""
        return lifecycle.task_event(
            type_, task, self.clock.now(), stage=stage, failure=failure, data=data, **fields
        )

    def plan_event(self, plan: Plan, **data: Any) -> Event:
        """The event announcing the plan's (new) status."""
        return lifecycle.plan_event(plan, self.clock.now(), **data)

    def apply(self, step: lifecycle.Step) -> asyncio.Future[list[Event]]:
        """Write a lifecycle step; a forward status change re-derives the plan's status."""
        return self.write(
            step.task.plan_id,
            [step.task],
            step.events,
            drive_plan=step.task.mode is ExecutionMode.NORMAL,
        )
