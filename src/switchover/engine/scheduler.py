"""Admission: per-plan slots and FIFO order, and one active task per tenant. No I/O."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from switchover.domain.commands import QueuedCommand


@dataclass(frozen=True, slots=True)
class Admission:
    """A task the engine may start now: a PENDING one, or an accepted command's (``op``)."""

    plan_id: str
    task_id: str
    op: QueuedCommand | None = None
    position: int = 0

    @property
    def queued_op(self) -> bool:
        """Whether this admission starts an accepted resume, retry or rollback."""
        return self.op is not None


@dataclass(slots=True)
class _PlanQueue:
    max_concurrency: int
    accepting: bool = True
    limit: int | None = None
    """PENDING tasks at this position or later wait (their wave is not admitted yet)."""
    in_slots: set[str] = field(default_factory=set)
    ops: deque[str] = field(default_factory=deque)
    pending: deque[tuple[str, str, int]] = field(default_factory=deque)
    blocked: list[tuple[str, str, int]] = field(default_factory=list)


class Scheduler:
    """Who may run next.

    Per plan: at most ``max_concurrency`` tasks hold a slot (RUNNING or ROLLING_BACK); PENDING
    tasks are admitted in submission order, skipping (and keeping their place for) those whose
    tenant is busy. Accepted commands that start a run (resume, retry, rollback) on a task that
    already holds its tenant wait in a separate FIFO that goes before new tasks, and are
    admitted even while the plan accepts no new tasks. The scheduler is the one place that
    holds those commands, from acceptance until their run begins (``take_op``) or they are
    withdrawn. Across plans: a tenant is held by at most one task.
    """

    def __init__(self) -> None:
        self._plans: dict[str, _PlanQueue] = {}
        self._tenants: dict[str, str] = {}
        self._ops: dict[str, QueuedCommand] = {}

    def add_plan(
        self, plan_id: str, max_concurrency: int, *, accepting: bool, limit: int | None = None
    ) -> None:
        """Start tracking a plan (idempotent); ``limit``: see ``set_limit``."""
        if plan_id not in self._plans:
            self._plans[plan_id] = _PlanQueue(max_concurrency, accepting, limit)
        else:
            self._plans[plan_id].accepting = accepting
            self._plans[plan_id].limit = limit

    def set_limit(self, plan_id: str, limit: int | None) -> None:
        """Admit PENDING tasks only before position ``limit`` (a wave's end; None: all)."""
        self._plans[plan_id].limit = limit

    def has_plan(self, plan_id: str) -> bool:
        """Whether the plan is tracked."""
        return plan_id in self._plans

    def set_accepting(self, plan_id: str, accepting: bool) -> None:
        """Allow or stop the admission of the plan's PENDING tasks (plan pause/resume/cancel)."""
        self._plans[plan_id].accepting = accepting

    def add_pending(self, plan_id: str, task_id: str, tenant_id: str, position: int = 0) -> None:
        """Queue a PENDING task; call in submission order (``position`` ascending)."""
        self._plans[plan_id].pending.append((task_id, tenant_id, position))

    def drop_pending(self, plan_id: str) -> None:
        """Forget every queued PENDING task of the plan (plan cancel)."""
        queue = self._plans[plan_id]
        queue.pending.clear()
        queue.blocked.clear()

    def queue_op(self, plan_id: str, task_id: str, op: QueuedCommand) -> None:
        """Queue an accepted command for a slot; the task must already hold its tenant."""
        self._ops[task_id] = op
        self._plans[plan_id].ops.append(task_id)

    def queued_op(self, task_id: str) -> QueuedCommand | None:
        """The accepted command waiting to start the task's run, or None."""
        return self._ops.get(task_id)

    def has_ops(self) -> bool:
        """Whether any accepted command is waiting to start."""
        return bool(self._ops)

    def withdraw_op(self, plan_id: str, task_id: str) -> QueuedCommand | None:
        """Withdraw the task's waiting command (e.g. its task was cancelled); it, or None."""
        op = self._ops.pop(task_id, None)
        queue = self._plans[plan_id]
        if task_id in queue.ops:
            queue.ops.remove(task_id)
        return op

    def take_op(self, task_id: str) -> QueuedCommand:
        """The admitted command whose run begins now; it is no longer waiting."""
        return self._ops.pop(task_id)

    def tenant_holder(self, tenant_id: str) -> str | None:
        """The task holding the tenant, or None."""
        return self._tenants.get(tenant_id)

    def hold_tenant(self, tenant_id: str, task_id: str) -> bool:
        """Take the tenant for ``task_id``; False when another task holds it."""
        holder = self._tenants.get(tenant_id)
        if holder is not None and holder != task_id:
            return False
        self._tenants[tenant_id] = task_id
        return True

    def release_tenant(self, tenant_id: str, task_id: str) -> None:
        """Give the tenant back if ``task_id`` holds it."""
        if self._tenants.get(tenant_id) == task_id:
            del self._tenants[tenant_id]

    def give_back(self, admission: Admission, tenant_id: str, *, requeue: bool) -> None:
        """An admitted task did not start: free its slot; ``requeue`` puts it first in line.

        A forward task also gives its tenant back (it takes it again when admitted anew); a
        queued operation keeps the tenant, which it held before it was queued.
        """
        queue = self._plans[admission.plan_id]
        queue.in_slots.discard(admission.task_id)
        if admission.queued_op:
            if requeue and admission.task_id in self._ops:
                queue.ops.appendleft(admission.task_id)
            return
        self.release_tenant(tenant_id, admission.task_id)
        if requeue:
            queue.blocked.insert(0, (admission.task_id, tenant_id, admission.position))

    def hold_slot(self, plan_id: str, task_id: str) -> None:
        """Count ``task_id`` in the plan's slots (recovery of a task found executing)."""
        self._plans[plan_id].in_slots.add(task_id)

    def release_slot(self, plan_id: str, task_id: str) -> None:
        """Give the task's slot back (idempotent)."""
        self._plans[plan_id].in_slots.discard(task_id)

    def slots_used(self, plan_id: str) -> int:
        """How many of the plan's slots are held."""
        return len(self._plans[plan_id].in_slots)

    def admit(self, is_pending: Callable[[str], bool]) -> list[Admission]:
        """Every task that may start now, in order; their slots (and tenants) are taken.

        Args:
            is_pending: whether a queued task is still PENDING (cancelled ones are skipped).
        """
        admitted: list[Admission] = []
        for plan_id, queue in self._plans.items():
            while len(queue.in_slots) < queue.max_concurrency:
                # A command for a task an earlier admission still holds a slot for (it was
                # withdrawn and accepted again meanwhile) waits until that admission lets go.
                ready = next((t for t in queue.ops if t not in queue.in_slots), None)
                if ready is not None:
                    queue.ops.remove(ready)
                    queue.in_slots.add(ready)
                    admitted.append(Admission(plan_id, ready, self._ops[ready]))
                    continue
                if not queue.accepting:
                    break
                found = self._next_pending(queue, is_pending)
                if found is None:
                    break
                next_id, position = found
                queue.in_slots.add(next_id)
                admitted.append(Admission(plan_id, next_id, position=position))
        return admitted

    def _next_pending(
        self, queue: _PlanQueue, is_pending: Callable[[str], bool]
    ) -> tuple[str, int] | None:
        limit = queue.limit
        # Blocked tasks come before everything still in ``pending``: FIFO is kept.
        for index, (task_id, tenant_id, position) in enumerate(queue.blocked):
            if not is_pending(task_id) or (limit is not None and position >= limit):
                continue
            if tenant_id not in self._tenants:
                del queue.blocked[index]
                self._tenants[tenant_id] = task_id
                return task_id, position
        queue.blocked = [entry for entry in queue.blocked if is_pending(entry[0])]
        while queue.pending:
            task_id, tenant_id, position = queue.pending[0]
            if limit is not None and position >= limit:
                return None  # the rest belong to waves not admitted yet
            queue.pending.popleft()
            if not is_pending(task_id):
                continue
            if tenant_id in self._tenants:
                queue.blocked.append((task_id, tenant_id, position))
                continue
            self._tenants[tenant_id] = task_id
            return task_id, position
        return None
