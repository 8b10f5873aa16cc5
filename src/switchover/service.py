"""The service layer: what every front end does, whatever it is (the CLI today; an HTTP API).

* ``Queries`` answer the views (plans, a plan page, a task, a tenant's history, events) from
  the store, each with a bounded number of store calls (no call per plan or per task).
* ``Operator`` submits plans and performs commands through a ``Session`` (the live engine, or
  one of its own), refuses what cannot be done safely, and follows the resulting work to its
  outcome, making sure an engine runs it all along.
* ``Progress`` is a followed plan as its events tell it.

Nothing here prints, renders or picks an exit code: front ends do that with what it returns.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from switchover.bulk import MAX_SELECTED, BulkOutcome, Selection, perform_each
from switchover.domain.commands import (
    DEFAULT_ACTOR,
    Accepted,
    Cancel,
    Command,
    Pause,
    Resume,
    Retry,
    Rollback,
)
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import (
    Plan,
    PlanSpec,
    Target,
    TargetKind,
    Task,
    TenantSpec,
    bound_elsewhere,
)
from switchover.domain.revert import Skipped, revert_id, revert_spec
from switchover.domain.status import EXECUTING_TASK_STATUSES, PlanStatus, TaskStatus
from switchover.engine.lease import lease_is_live
from switchover.engine.session import Session
from switchover.engine.tail import tail_events
from switchover.errors import ConflictError, ErrorType, NotFoundError, OperationRefusedError
from switchover.settings import Settings
from switchover.stores.protocol import PlanSummary, Store
from switchover.wiring import Runtime, runtime

SETTLED_PLAN = frozenset({PlanStatus.COMPLETED, PlanStatus.FAILED, PlanStatus.CANCELLED})
"""Plan statuses a follower of the whole plan stops at."""

ATTENTION_ORDER: tuple[tuple[TaskStatus, ...], ...] = (
    (TaskStatus.FAILED, TaskStatus.ROLLBACK_FAILED),
    (TaskStatus.RUNNING, TaskStatus.ROLLING_BACK),
    (TaskStatus.PAUSED,),
    (TaskStatus.PENDING,),
    (TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.ROLLED_BACK),
)
"""The order a plan page lists tasks in when no filter is given: what needs a look first."""


# ----------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class Stranded:
    """Tasks an engine left executing when it stopped, with no live engine to continue them.

    ``task_id`` is set when the view is of one task: the command to continue names it.
    """

    count: int
    plan_id: str
    task_id: str | None = None


@dataclass(frozen=True, slots=True)
class PlanDetail:
    """One plan: its counts by status, one page of its tasks, and how many match the filter."""

    plan: Plan
    counts: Mapping[TaskStatus, int]
    tasks: list[Task]
    matching: int
    stranded: Stranded | None
    last_seq: int = 0
    """The plan's last event when the page was read (read before the tasks)."""
    failures: list[tuple[str, str | None, int]] = field(default_factory=list)
    """Failed tasks by error type and stage, most first."""


@dataclass(frozen=True, slots=True)
class TaskDetail:
    """One task as stored, and whether it was left executing by an engine that stopped."""

    task: Task
    stranded: Stranded | None


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
            raise NotFoundError("plan", plan_id)
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
        return PlanDetail(plan, counts, tasks, matching, stranded, last_seq, failures)

    async def _attention_page(
        self, plan_id: str, counts: Mapping[TaskStatus, int], offset: int, limit: int | None
    ) -> list[Task]:
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
            raise NotFoundError(target.kind.value, target.key)
        executing = 1 if task.status in EXECUTING_TASK_STATUSES else 0
        stranded = await self._stranded(executing, task.plan_id, task.task_id)
        return TaskDetail(task, stranded)

    async def tenant_history(self, tenant_id: str, *, limit: int = 100) -> list[Task]:
        """The tenant's tasks across plans, most recent first.

        Raises:
            NotFoundError: the tenant has no task.
        """
        tasks = await self._store.tenant_history(tenant_id, limit=limit)
        if not tasks:
            raise NotFoundError("tenant", tenant_id)
        return tasks

    async def require_plan(self, plan_id: str) -> Plan:
        """The plan.

        Raises:
            NotFoundError: no such plan.
        """
        plan = await self._store.get_plan(plan_id)
        if plan is None:
            raise NotFoundError("plan", plan_id)
        return plan

    async def events(
        self, plan_id: str, since: int = 0, *, follow: bool = False, poll: float = 0.3
    ) -> AsyncIterator[Event]:
        """The plan's events after ``since``; with ``follow``, forever.

        Raises:
            NotFoundError: no such plan.
        """
        if await self._store.get_plan(plan_id) is None:
            raise NotFoundError("plan", plan_id)
        async for event in tail_events(self._store, plan_id, since, follow=follow, poll=poll):
            yield event

    async def _stranded(
        self, executing: int, plan_id: str, task_id: str | None = None
    ) -> Stranded | None:
        if not executing:
            return None
        lease = await self._store.get_lease()
        if lease is not None and lease_is_live(lease):
            return None
        return Stranded(executing, plan_id, task_id)


@asynccontextmanager
async def queries(settings: Settings) -> AsyncIterator[Queries]:
    """Queries over the configured store, opened for the block; reading never creates a
    store: where there is none, the views are those of an empty one."""
    if not settings.store.exists():
        from switchover.stores.memory import MemoryStore

        yield Queries(MemoryStore())
        return
    from switchover.wiring import open_store

    async with open_store(settings) as store:
        yield Queries(store)


# ----------------------------------------------------------------------------- progress


@dataclass
class TaskProgress:
    """What a follower knows of one task, from events."""

    tenant_id: str
    status: TaskStatus
    stage: str | None = None
    since: float = 0.0
    started: bool = False


_STARTS = (EventType.TASK_RETRY_STARTED, EventType.TASK_ROLLING_BACK, EventType.TASK_RESUMED)


@dataclass
class Progress:
    """A plan as seen through its event stream."""

    plan_id: str
    status: PlanStatus = PlanStatus.RUNNING
    tasks: dict[str, TaskProgress] = field(default_factory=dict)
    failures: deque[tuple[str, FailureInfo]] = field(default_factory=lambda: deque(maxlen=6))
    warnings: deque[str] = field(default_factory=lambda: deque(maxlen=3))
    last_seq: int = 0
    started_at: float = field(default_factory=time.monotonic)
    note: str | None = None
    """What the plan waits for (a bake, an approval) or why it halted, from its events."""

    def apply(self, event: Event) -> None:
        """Update the view with one event."""
        self.last_seq = event.seq
        if event.task_id is None:
            if event.status:
                self.status = PlanStatus(event.status)
            self.note = _plan_note(event, self.note)
            return
        view = self.tasks.get(event.task_id)
        if view is None:
            view = self.tasks[event.task_id] = TaskProgress(
                event.tenant_id or "", TaskStatus(event.status or "PENDING")
            )
        if event.status:
            view.status = TaskStatus(event.status)
        if event.type is EventType.STAGE_STARTED:
            view.stage, view.since = event.stage, time.monotonic()
        if event.type in _STARTS:
            view.started = True
        if view.status not in EXECUTING_TASK_STATUSES:
            view.stage = None
        if event.failure and event.type in (
            EventType.TASK_FAILED,
            EventType.TASK_ROLLBACK_FAILED,
        ):
            self.failures.append((view.tenant_id, event.failure))
        if event.type is EventType.STEP_WARNING:
            self.warnings.append(f"{view.tenant_id}: {event.data.get('message', '')}")

    def counts(self) -> Counter[TaskStatus]:
        """Tasks by status."""
        return Counter(view.status for view in self.tasks.values())

    def executing(self) -> bool:
        """Whether any task is executing."""
        return any(v.status in EXECUTING_TASK_STATUSES for v in self.tasks.values())


def _plan_note(event: Event, note: str | None) -> str | None:
    data = event.data
    match event.type:
        case EventType.PLAN_WAVE_BAKING:
            return f"wave {int(data['wave']) - 1} settled; baking {data['bake']:g}s"
        case EventType.PLAN_AWAITING_APPROVAL:
            return (
                f"waiting for approval of wave {data['wave']} of {data['of']}: "
                f"switchover promote --plan {event.plan_id}"
            )
        case EventType.PLAN_HALTED:
            return f"halted: {data['reason']}"
        case EventType.PLAN_WAVE_STARTED:
            return f"wave {data['wave']} of {data['of']}"
        case EventType.PLAN_RESUMED:
            return None
    return note


Done = Callable[[Progress], bool]


def plan_done(progress: Progress) -> bool:
    """A followed plan is done when it settled, or paused, with nothing executing."""
    if progress.status in SETTLED_PLAN or progress.status is PlanStatus.PAUSED:
        return not progress.executing()
    return False


def tasks_started_and_settled(task_ids: set[str], executing: set[str] | None = None) -> Done:
    """For resume/retry/rollback: each task's run started and then stopped executing.

    ``executing`` names tasks that were already executing when the command was accepted (an
    interrupted run that continues): for them, stopping is enough.
    """
    running = executing or set()

    def done(progress: Progress) -> bool:
        return all(
            (v := progress.tasks.get(t)) is not None
            and (v.started or t in running)
            and v.status not in EXECUTING_TASK_STATUSES
            for t in task_ids
        )

    return done


def tasks_stopped(task_ids: set[str]) -> Done:
    """For pause/cancel: none of the tasks is RUNNING any more."""

    def done(progress: Progress) -> bool:
        return all(
            (v := progress.tasks.get(t)) is None or v.status is not TaskStatus.RUNNING
            for t in task_ids
        )

    return done


@dataclass(frozen=True, slots=True)
class Update:
    """One poll of a followed plan: the new events, notes about engines, and whether done."""

    events: list[Event]
    notes: list[str]
    done: bool


@dataclass(frozen=True, slots=True)
class Watch:
    """How to follow an accepted command: which plan, until when, from which event."""

    plan_id: str
    done: Done
    since: int
    whole_plan: bool
    """The command concerns the plan as such (e.g. resume of a running plan)."""


@dataclass(frozen=True, slots=True)
class Result:
    """What an accepted command came to, once followed: the plan, and its tasks as stored."""

    command: Command
    plan: Plan | None
    tasks: list[Task]
    whole_plan: bool


def watch_for(
    command: Command, accepted: Accepted, since: int, plan: Plan | None, executing: set[str]
) -> Watch:
    """How to follow an accepted command, given its plan and the tasks executing right after.

    A resume of an unsettled plan is followed as the whole plan; pause and cancel until the
    tasks stopped running; resume, retry and rollback of tasks until each run started and
    stopped (a task already executing, i.e. continued, only has to stop).
    """
    settled = plan is not None and plan.status in SETTLED_PLAN
    task_ids = set(accepted.task_ids)
    if command.target.kind is TargetKind.PLAN and isinstance(command, Resume) and not settled:
        return Watch(accepted.plan_id, plan_done, since, whole_plan=True)
    if isinstance(command, Pause | Cancel):
        done = tasks_stopped(task_ids)
    else:
        done = tasks_started_and_settled(task_ids, executing & task_ids)
    whole = command.target.kind is TargetKind.PLAN and not (isinstance(command, Resume) and settled)
    return Watch(accepted.plan_id, done, since, whole_plan=whole)


# ----------------------------------------------------------------------------- surfaces


class Views(Protocol):
    """What a front end reads: ``Queries`` on a store, or ``client.RemoteQueries``."""

    async def plans(self) -> list[PlanSummary]: ...

    async def plan(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        tenant_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = 50,
    ) -> PlanDetail: ...

    async def task(self, target: Target) -> TaskDetail: ...

    async def tenant_history(self, tenant_id: str, *, limit: int = 100) -> list[Task]: ...

    async def require_plan(self, plan_id: str) -> Plan: ...

    def events(
        self, plan_id: str, since: int = 0, *, follow: bool = False, poll: float = 0.3
    ) -> AsyncIterator[Event]: ...


class Operations(Protocol):
    """What a front end asks: ``Operator`` on a store, or ``client.RemoteOperator``."""

    @property
    def remote(self) -> bool: ...

    async def submit(
        self,
        spec: PlanSpec,
        *,
        source: bytes | None = None,
        actor: str = DEFAULT_ACTOR,
        reason: str | None = None,
    ) -> Plan: ...

    async def request(self, command: Command) -> Accepted: ...

    async def perform(self, command: Command, *, wait: bool = True) -> tuple[Accepted, Watch]: ...

    def follow(
        self,
        plan_id: str,
        done: Done,
        *,
        since: int = 0,
        poll: float = 0.2,
        snapshot: bool = False,
    ) -> AsyncIterator[tuple[Progress, Update]]: ...

    async def result(self, command: Command, accepted: Accepted, watch: Watch) -> Result: ...

    async def bulk(
        self, command: Command, selection: Selection, *, wait: bool = True
    ) -> BulkOutcome: ...

    async def revert(
        self,
        selection: Selection,
        *,
        new_id: str | None = None,
        actor: str = DEFAULT_ACTOR,
        reason: str | None = None,
        force: bool = False,
    ) -> tuple[Plan, list[Skipped]]: ...

    def has_other_work(self) -> bool: ...

    async def drain(self) -> None: ...


# ----------------------------------------------------------------------------- operator


Preflight = Callable[[PlanSpec], Awaitable[Sequence[str]]]
"""Checks a plan's targets before anything is written to them; one line per problem."""


class Operator:
    """Submits plans and performs commands for one request, and follows them to the end."""

    def __init__(
        self, session: Session, settings: Settings, preflight: Preflight | None = None
    ) -> None:
        self.session = session
        self._settings = settings
        self._preflight = preflight if settings.engine.preflight else None

    @property
    def remote(self) -> bool:
        """Whether another process's engine does the work."""
        return self.session.remote

    async def submit(
        self,
        spec: PlanSpec,
        *,
        source: bytes | None = None,
        actor: str = DEFAULT_ACTOR,
        reason: str | None = None,
    ) -> Plan:
        """Create the plan and get it running.

        Raises:
            ConflictError: a plan with this id exists (its status is in the message).
        """
        existing = await self.session.store.get_plan(spec.plan_id)
        if existing is not None:
            raise ConflictError(f"plan {spec.plan_id} already exists ({existing.status.value})")
        await self._check_targets(spec, f"plan {spec.plan_id} was not created")
        return await self.session.submit_plan(spec, actor=actor, reason=reason)

    async def _check_targets(self, spec: PlanSpec, outcome: str) -> None:
        """Refuse when the plan's targets are not ready (``engine.preflight``)."""
        if self._preflight is None:
            return
        problems = await self._preflight(spec)
        if problems:
            lines = "\n".join(f"  {problem}" for problem in problems)
            raise OperationRefusedError(
                ErrorType.INVALID_STATE,
                f"preflight found {len(problems)} problem(s); {outcome}:\n{lines}",
            )

    async def perform(self, command: Command, *, wait: bool = True) -> tuple[Accepted, Watch]:
        """Perform ``command``; what it was accepted as and how to follow it.

        Raises:
            NotFoundError, OperationRefusedError: refused; nothing changed. Also refused:
                ``wait=False`` when no engine will outlive this request (the work would be
                left with nothing running it).
        """
        store = self.session.store
        target = command.target
        scope = target.key if target.kind is TargetKind.PLAN else None
        if scope is None:
            found = await (
                store.find_task(target.key)
                if target.kind is TargetKind.TENANT
                else store.get_task(target.key)
            )
            scope = found.plan_id if found is not None else None
        since = await store.last_seq(scope) if scope else 0
        if scope is not None and isinstance(command, Resume | Retry | Rollback):
            await self._refuse_other_settings(scope)
        if isinstance(command, Resume) and target.kind is TargetKind.PLAN and scope is not None:
            await self._preflight_resume(scope)
        if not wait and self.session.engine is not None and not self.session.lasting:
            raise OperationRefusedError(
                ErrorType.INVALID_STATE,
                "--no-wait needs an engine that outlives this command, and none is running on "
                f"{self._settings.store}: run the command without --no-wait (it stays until "
                "the work is done), or keep an engine running (e.g. a 'switchover run') and "
                "try again",
            )
        accepted = await self.session.perform(command)
        return accepted, await self._watch(command, accepted, since)

    async def bulk(
        self, command: Command, selection: Selection, *, wait: bool = True
    ) -> BulkOutcome:
        """``command`` for each task of ``selection``, each on its own (see ``bulk``).

        Raises:
            NotFoundError: no such plan.
            OperationRefusedError: the selection is too large, names no task, or (as for
                ``perform``) the plan runs with other settings, or ``wait=False`` has no
                engine to outlive this request.
        """
        store = self.session.store
        plan = await store.get_plan(selection.plan_id)
        if plan is None:
            raise NotFoundError("plan", selection.plan_id)
        if isinstance(command, Resume | Retry | Rollback):
            await self._refuse_other_settings(plan.plan_id)
        if not wait and self.session.engine is not None and not self.session.lasting:
            raise OperationRefusedError(
                ErrorType.INVALID_STATE,
                "--no-wait needs an engine that outlives this command; run it without --no-wait",
            )
        since = await store.last_seq(plan.plan_id)
        if selection.tenants:
            task_ids = [f"{plan.plan_id}/{tenant}" for tenant in selection.tenants]
        else:
            found = await store.list_tasks(plan.plan_id, statuses=selection.statuses or None)
            task_ids = [t.task_id for t in found]
        if len(task_ids) > MAX_SELECTED:
            raise OperationRefusedError(
                ErrorType.VALIDATION_ERROR,
                f"{selection} selects {len(task_ids)} tasks; at most {MAX_SELECTED} at once",
            )
        accepted, refused = await perform_each(command, task_ids, self.session.perform)
        return BulkOutcome(plan.plan_id, tuple(accepted), tuple(refused), since)

    async def revert(
        self,
        selection: Selection,
        *,
        new_id: str | None = None,
        actor: str = DEFAULT_ACTOR,
        reason: str | None = None,
        force: bool = False,
    ) -> tuple[Plan, list[Skipped]]:
        """Put the selected COMPLETED / CANCELLED tasks back: a new plan, run forward, whose
        configs are their previous ones (see ``domain.revert``); and the tasks left out.

        Raises:
            NotFoundError: no such plan.
            OperationRefusedError: no selected task can be reverted (each one's reason is in
                the message), or the plan runs with other settings.
            ConflictError: ``new_id`` is taken.
        """
        store = self.session.store
        plan = await store.get_plan(selection.plan_id)
        if plan is None:
            raise NotFoundError("plan", selection.plan_id)
        await self._refuse_other_settings(plan.plan_id)
        if selection.tenants:
            found = [await store.get_task(f"{plan.plan_id}/{t}") for t in selection.tenants]
            tasks = [t for t in found if t is not None]
        else:
            tasks = await store.list_tasks(plan.plan_id, statuses=selection.statuses or None)
        newer: dict[str, str] = {}
        if not force:
            for task in tasks:
                latest = await store.find_task(task.tenant_id)
                if latest is not None and latest.task_id != task.task_id:
                    newer[task.tenant_id] = latest.task_id
        taken = [summary.plan.plan_id for summary in await store.plan_summaries()]
        spec, skipped = revert_spec(plan, tasks, new_id or revert_id(plan.plan_id, taken), newer)
        if spec is None:
            reasons = "; ".join(f"{s.task_id}: {s.reason}" for s in skipped[:5]) or "none"
            raise OperationRefusedError(
                ErrorType.INVALID_STATE, f"nothing to revert in {selection} ({reasons})"
            )
        why = reason or f"revert of plan {plan.plan_id}"
        return await self.submit(spec, actor=actor, reason=why), skipped

    async def _preflight_resume(self, plan_id: str) -> None:
        """Before a paused plan goes on, check the targets of its unfinished tasks."""
        store = self.session.store
        plan = await store.get_plan(plan_id)
        if plan is None or plan.status is not PlanStatus.PAUSED or self._preflight is None:
            return
        waiting = await store.list_tasks(
            plan_id, statuses=(TaskStatus.PENDING, TaskStatus.PAUSED), limit=PREFLIGHT_SAMPLE
        )
        if not waiting:
            return
        tenants = tuple(TenantSpec(t.config, t.previous) for t in waiting)
        spec = PlanSpec(plan_id, plan.version, plan.max_concurrency, tenants)
        await self._check_targets(spec, f"plan {plan_id} stays PAUSED")

    async def _refuse_other_settings(self, plan_id: str) -> None:
        """Refuse to set a plan's work going with settings other than the ones it runs with
        (whichever engine would do it): the command was given the wrong settings."""
        plan = await self.session.store.get_plan(plan_id)
        if plan is None:
            return
        why = bound_elsewhere(plan, self._settings.binding(), "this command's")
        if why is not None:
            raise OperationRefusedError(ErrorType.INVALID_STATE, why)

    async def _watch(self, command: Command, accepted: Accepted, since: int) -> Watch:
        store = self.session.store
        plan = await store.get_plan(accepted.plan_id)
        executing = {t.task_id for t in await store.executing_tasks(accepted.plan_id)}
        return watch_for(command, accepted, since, plan, executing)

    async def request(self, command: Command) -> Accepted:
        """Perform ``command`` without following it (e.g. the pause of a first Ctrl-C).

        Raises:
            NotFoundError, OperationRefusedError: refused; nothing changed.
        """
        return await self.session.perform(command)

    async def follow(
        self,
        plan_id: str,
        done: Done,
        *,
        since: int = 0,
        poll: float = 0.2,
        snapshot: bool = False,
    ) -> AsyncIterator[tuple[Progress, Update]]:
        """Follow the plan's events until ``done``; one update per poll.

        Whenever the engine doing the work goes away, this request takes it over (or, when its
        own engine was deposed, follows the engine that took over): followed work is never
        left without an engine.

        Args:
            plan_id: the plan.
            done: when to stop.
            since: follow the events after this sequence number.
            poll: seconds between updates.
            snapshot: start from the state the engine of this process holds, instead of
                replaying the events since ``since`` (for following a whole plan, whose
                ``done`` looks only at statuses: it spares reading the plan back).

        Raises:
            EngineUnavailableError: this request's engine stopped for another reason.
        """
        store = self.session.store
        progress = Progress(plan_id, last_seq=since)
        engine = self.session.engine
        if not (snapshot and engine is not None):
            await self._load(progress)
        told: list[Event] = []
        listening: tuple[object, Callable[[], None]] | None = None
        try:
            while True:
                engine = self.session.engine
                if listening is not None and listening[0] is not engine:
                    listening[1]()  # our engine changed (a takeover): read the store again
                    listening = None
                if listening is None and engine is not None:
                    # Told by the engine in this process from now on; what came before is in
                    # the store (or in the engine's state). Sequence numbers drop what is both.
                    listening = (engine, engine.subscribe(plan_id, told.extend))
                    if snapshot:
                        snapshot = False
                        events = []
                        progress.last_seq = max(since, await store.last_seq(plan_id))
                        await self._load(progress, engine.list_tasks, engine.get_plan)
                    else:
                        events = await self._read_all(plan_id, progress.last_seq)
                elif listening is not None:
                    events, told[:] = list(told), []
                else:
                    events = await store.read_events(plan_id, progress.last_seq, 5000)
                fresh = [e for e in events if e.seq > progress.last_seq]
                for event in fresh:
                    progress.apply(event)
                finished = done(progress)
                notes: list[str] = []
                if not finished:
                    note = await self.session.keep_alive()
                    if note is not None:
                        notes.append(note)
                yield progress, Update(fresh, notes, finished)
                if finished:
                    return
                if listening is not None or len(events) < 5000:
                    await self.session.clock.sleep(poll)
        finally:
            if listening is not None:
                listening[1]()

    async def _load(
        self,
        progress: Progress,
        tasks: Callable[[str], Awaitable[list[Task]]] | None = None,
        plan: Callable[[str], Awaitable[Plan]] | None = None,
    ) -> None:
        """Fill ``progress`` with the plan's status and tasks (from the store by default)."""
        store = self.session.store
        found = await (plan or store.get_plan)(progress.plan_id)
        if found is not None:
            progress.status = found.status
        for task in await (tasks or store.list_tasks)(progress.plan_id):
            progress.tasks[task.task_id] = TaskProgress(
                task.tenant_id, task.status, task.current_stage
            )

    async def _read_all(self, plan_id: str, since: int) -> list[Event]:
        """Every event of the plan after ``since``, from the store."""
        return [e async for e in tail_events(self.session.store, plan_id, since)]

    async def result(self, command: Command, accepted: Accepted, watch: Watch) -> Result:
        """What the followed command came to."""
        store = self.session.store
        plan = await store.get_plan(accepted.plan_id)
        tasks: list[Task] = []
        if not watch.whole_plan:  # a whole plan is reported by its status, not task by task
            found = [await store.get_task(t) for t in sorted(accepted.task_ids)]
            tasks = [t for t in found if t is not None]
        return Result(command, plan, tasks, watch.whole_plan)

    def has_other_work(self) -> bool:
        """Whether this request's engine runs work beyond the request's own."""
        engine = self.session.engine
        return engine is not None and not engine.held and engine.is_busy()

    async def drain(self) -> None:
        """Let this request's engine finish every piece of work it took on before it ends."""
        await self.session.drain()


PREFLIGHT_SAMPLE = 10_000
"""The most waiting tasks a resumed plan's preflight looks at."""


def preflight_of(rt: Runtime) -> Preflight:
    """The preflight of a runtime's targets: Redis, discovery, and the stages' service keys."""

    async def check(spec: PlanSpec) -> list[str]:
        from switchover.preflight import preflight

        found = await preflight(spec, rt.settings, rt.redis, rt.discovery, rt.builder)
        return [str(problem) for problem in found]

    return check


@asynccontextmanager
async def operator(settings: Settings) -> AsyncIterator[Operator]:
    """An operator on the configured store: the live engine's, or its own (held) engine."""
    async with runtime(settings) as rt:
        session = rt.session()
        await session.start()
        try:
            yield Operator(session, settings, preflight_of(rt))
        finally:
            await session.close()
