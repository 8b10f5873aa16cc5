"""The Store protocol: the source of truth for plans, tasks, checkpoints, events and control."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

    from switchover.domain.commands import ControlRequest
    from switchover.domain.events import Event
    from switchover.domain.records import Lease, Plan, TargetKind, Task
    from switchover.domain.status import TaskStatus

import msgspec


class Change(msgspec.Struct, frozen=True):
    """One atomic unit of work against one plan.

    Every task in ``tasks`` has its run written whole (status, mode, stages, checkpoint,
    failure, request...), ``plan`` when given, and ``events`` appended in order, numbered
    ``last_seq + 1 ...`` for the plan — all in one transaction, so no event describes a state
    that was not committed and a stage's checkpoint never exists without its events.

    ``fence`` is the lease epoch of the engine making the change: the store applies the change
    only if that epoch is still the lease's current one, checked in the same transaction, so a
    deposed engine (frozen past its lease, then continued) cannot write over its successor.
    None: not fenced (a plan created by a command that runs no engine).

    A task's ``config`` and ``previous`` are fixed when ``create_plan`` stores it and a store
    writes them only then: a change must carry each task with the configs it was created with
    (a copy made by ``msgspec.structs.replace`` does). Carrying other configs is a programming
    error; a backend may refuse it or keep the stored configs.
    """

    plan_id: str
    tasks: Sequence[Task] = ()
    plan: Plan | None = None
    events: Sequence[Event] = ()
    fence: int | None = None


class PlanSummary(msgspec.Struct, frozen=True):
    """A plan with its tasks counted by status (only the statuses some task has)."""

    plan: Plan
    counts: Mapping[TaskStatus, int]


class StateStore(Protocol):
    """Plans, tasks, checkpoints and events: the truth the engine caches.

    Ordering is part of the type, not a promise in prose: ``submit`` is synchronous, so the
    change is queued when the call returns, and changes are applied in the order ``submit`` was
    called — whatever the backend (one writer thread, a pool, a network). The returned future
    resolves once the change is durable. A backend may batch queued changes into one
    transaction (group commit).
    """

    async def open(self) -> None:
        """Create or migrate the schema; idempotent."""
        ...

    async def close(self) -> None:
        """Flush pending writes and release resources."""
        ...

    async def create_plan(
        self, plan: Plan, tasks: Sequence[Task], events: Sequence[Event]
    ) -> list[Event]:
        """Insert a new plan with its tasks and first events in one transaction.

        Returns:
            The events as stored, with their sequence numbers (starting at 1).

        Raises:
            ConflictError: a plan with this id already exists (nothing is written).
        """
        ...

    def submit(self, change: Change) -> asyncio.Future[list[Event]]:
        """Queue ``change`` now, after every change submitted before it.

        Returns:
            A future of its events, numbered, set once the change is durable; it fails with
            ``LeaseLostError`` when ``change.fence`` is not the current lease epoch, and with
            ``StoreError`` when the plan does not exist or the write failed (nothing is
            written either way).
        """
        ...

    async def commit(self, change: Change) -> list[Event]:
        """``await submit(change)``: apply ``change`` atomically and durably; its events, numbered.

        Raises:
            LeaseLostError: ``change.fence`` is not the current lease epoch (nothing is written).
            StoreError: the plan does not exist or the write failed (nothing is written).
        """
        ...

    async def get_plan(self, plan_id: str) -> Plan | None:
        """One plan, or None."""
        ...

    async def list_plans(self) -> list[Plan]:
        """Every plan, most recent first."""
        ...

    async def get_task(self, task_id: str) -> Task | None:
        """One task, or None."""
        ...

    async def plan_summaries(self) -> list[PlanSummary]:
        """Every plan, most recent first, with its task counts by status, in one read."""
        ...

    async def task_counts(self, plan_id: str) -> dict[TaskStatus, int]:
        """The plan's tasks counted by status (statuses no task has are left out)."""
        ...

    async def failure_counts(self, plan_id: str) -> list[tuple[str, str | None, int]]:
        """The plan's FAILED / ROLLBACK_FAILED tasks by error type and stage, most first:
        ``(error_type, stage, count)``."""
        ...

    async def list_tasks(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        tenant_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[Task]:
        """The plan's tasks in submission order, optionally filtered and paged.

        Args:
            plan_id: the plan.
            statuses: only tasks with one of these statuses (None: any; empty: none).
            tenant_prefix: only tasks whose tenant id starts with this text (compared
                exactly: case-sensitive, no wildcards; empty or None: any tenant).
            offset: skip this many matching tasks first.
            limit: return at most this many (None: all).

        Raises:
            ValueError: ``offset`` or ``limit`` is negative.
        """
        ...

    async def count_tasks(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        tenant_prefix: str | None = None,
    ) -> int:
        """How many of the plan's tasks ``list_tasks`` with the same filters would return."""
        ...

    async def tenant_history(self, tenant_id: str, *, limit: int = 100) -> list[Task]:
        """The tenant's tasks across plans, most recently created first, at most ``limit``.

        The first is ``find_task(tenant_id)``.

        Raises:
            ValueError: ``limit`` is negative.
        """
        ...

    async def executing_tasks(self, plan_id: str | None = None) -> list[Task]:
        """Tasks RUNNING or ROLLING_BACK (every plan's, or ``plan_id``'s), by plan then position."""
        ...

    async def find_task(self, tenant_id: str) -> Task | None:
        """The tenant's most recently created task, or None."""
        ...

    async def ids_near(
        self,
        kind: TargetKind,
        key: str,
        *,
        candidates: Collection[str] = (),
        around: int = 10,
        plan_id: str | None = None,
    ) -> list[str]:
        """Stored ids that a mistyped ``key`` may have meant, without reading every id.

        Args:
            kind: ``PLAN`` (plan ids) or ``TENANT`` (the tenant ids of tasks).
            key: the id that was not found.
            candidates: ids to look up exactly (e.g. every id one typo away from ``key``).
            around: also this many stored ids on either side of ``key`` in code point order
                (those sharing the longest prefix with it).
            plan_id: tenants of this plan's tasks only (None: of every plan's).

        Returns:
            Each id found once, in code point order.

        Raises:
            ValueError: ``kind`` is ``TASK``, or ``around`` is negative.
        """
        ...

    async def tasks_with_status(self, statuses: Sequence[TaskStatus]) -> list[Task]:
        """Every task (all plans) whose status is one of ``statuses``, by plan then position."""
        ...

    async def read_events(self, plan_id: str, since: int = 0, limit: int = 1000) -> list[Event]:
        """The plan's events with ``seq > since``, ascending, at most ``limit``."""
        ...

    async def task_events(self, task_id: str, since: int = 0, limit: int = 1000) -> list[Event]:
        """The task's events with ``seq > since``, ascending, at most ``limit``."""
        ...

    async def last_seq(self, plan_id: str) -> int:
        """The plan's highest event sequence number (0 when it has none)."""
        ...

    async def identity(self) -> str:
        """A stable id of this store, the same for every process that opens it.

        It names this store's tasks as holders of tenant claims in the target systems, which
        other stores (other operators) share.
        """
        ...


class Mailbox(Protocol):
    """Commands for the live engine, written by commands in other processes."""

    async def submit_control(self, request: ControlRequest) -> None:
        """Queue an operation for the live engine."""
        ...

    async def pending_controls(self) -> list[ControlRequest]:
        """Queued commands without an outcome, oldest first."""
        ...

    async def finish_control(self, request: ControlRequest, fence: int | None = None) -> None:
        """Record ``request.outcome`` for a queued command (fenced like ``commit``).

        Raises:
            LeaseLostError: ``fence`` is not the current lease epoch (nothing is written).
        """
        ...

    async def get_control(self, control_id: str) -> ControlRequest | None:
        """One control request, with its outcome once done."""
        ...


class LeaseStore(Protocol):
    """The engine lease: which engine owns the store's work, and its epoch (the fence)."""

    async def get_lease(self) -> Lease | None:
        """The current engine lease, expired or not, or None."""
        ...

    async def swap_lease(self, expected_owner: str | None, lease: Lease) -> Lease | None:
        """Write ``lease`` iff the current holder is ``expected_owner`` (None: no lease row).

        The store assigns the epoch: unchanged when the holder renews its own lease, one more
        than any epoch ever handed out when the lease changes hands (also after a release).

        Returns:
            The lease as written, with its epoch; None when it was not written.
        """
        ...

    async def release_lease(self, owner: str) -> None:
        """Delete the lease if ``owner`` holds it."""
        ...


class AlertState(StrEnum):
    """Where an alert stands; values are persisted and never renamed."""

    PENDING = "pending"
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"


class Alert(msgspec.Struct, frozen=True):
    """One event owed to one webhook, as the outbox holds it.

    ``webhook`` is the webhook's key, a digest of its URL: never the URL, which is a secret.
    ``attempts`` counts the deliveries tried so far; ``next_at`` is when the next one is due
    (wall-clock seconds).
    """

    event: Event
    webhook: str
    attempts: int = 0
    next_at: float = 0.0

    @property
    def alert_id(self) -> str:
        """``"{plan_id}:{seq}"``: the same for every webhook, so a receiver can deduplicate."""
        return f"{self.event.plan_id}:{self.event.seq}"


class AlertsQueued(msgspec.Struct, frozen=True):
    """What one ``enqueue_alerts`` did: alerts written, events passed, whether more wait."""

    alerts: int = 0
    events: int = 0
    more: bool = False


class AlertOutbox(Protocol):
    """A durable outbox of webhook alerts, filled from the event log.

    Each plan has a cursor, the last of its events considered for alerts (none yet: 0).
    ``enqueue_alerts`` moves the cursors over the events past them and writes one pending alert
    per matching event and webhook in the same transaction, so an event is enqueued exactly
    once, whatever crashes. An alert stays pending until it is delivered or given up.

    The alerts of one plan to one webhook form a queue, due when its oldest pending alert is
    and tried from that one on, so a receiver gets a plan's alerts in order; alerts of other
    plans, or to other webhooks, never wait for it.
    """

    async def enqueue_alerts(
        self, types: Collection[str], webhooks: Sequence[str], *, at: float, limit: int = 1000
    ) -> AlertsQueued:
        """Turn the events past each plan's cursor into alerts, in one transaction.

        Args:
            types: the event types alerted on (``EventType`` values); other events only move
                the cursors.
            webhooks: the keys of the webhooks each alert is owed to (none: the cursors move,
                nothing is written).
            at: now; each new alert is due from then.
            limit: the most events passed in this call, which bounds the transaction.

        Returns:
            How many alerts were written and events passed, and whether events remain.

        Raises:
            ValueError: ``limit`` is below 1.
            StoreError: the write failed (nothing is written).
        """
        ...

    async def due_alerts(
        self, webhook: str, *, now: float, limit: int = 100, per_plan: int = 10
    ) -> list[Alert]:
        """The alerts to ``webhook`` that may be tried at ``now``, in the order to try them.

        For each plan whose oldest pending alert to ``webhook`` is due, its oldest pending
        alerts in sequence order (at most ``per_plan``); plans in the order their oldest alert
        became due; at most ``limit`` alerts in all.

        Raises:
            ValueError: ``limit`` or ``per_plan`` is below 1.
        """
        ...

    async def alert_delivered(self, alert: Alert, *, at: float) -> None:
        """Record that ``alert`` was delivered at ``at``, unless it already was.

        An alert the outbox does not hold is ignored.
        """
        ...

    async def alert_failed(
        self, alert: Alert, *, at: float, error: str, next_at: float | None
    ) -> None:
        """Record a failed attempt to deliver a pending ``alert``.

        Args:
            alert: the alert, as ``due_alerts`` returned it.
            at: when the attempt failed.
            error: why, for the record (it must hold no secret).
            next_at: when to try again; None: give the alert up.

        An alert that is not pending, or that the outbox does not hold, is ignored.
        """
        ...

    async def alert_counts(self) -> dict[AlertState, int]:
        """Every alert held, counted by state (states no alert has are left out)."""
        ...


class Store(StateStore, Mailbox, LeaseStore, AlertOutbox, Protocol):
    """Everything an engine and its alert dispatcher need of a store; one backend serves all.

    Implementations: ``SqliteStore`` (embedded, default) and ``MemoryStore`` (tests,
    embedding); a shared backend for several engines can come later behind the same roles.
    """
