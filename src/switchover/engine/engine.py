"""The Engine: the async facade that runs plans, and the one writer of their state."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, assert_never

from switchover.clock import Clock, SystemClock
from switchover.discovery.protocol import Discovery
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import (
    BoundaryRequest,
    Checkpoint,
    ControlAction,
    ControlRequest,
    Lease,
    Plan,
    PlanSpec,
    Target,
    TargetKind,
    Task,
)
from switchover.domain.status import (
    ACTIVE_TASK_STATUSES,
    EXECUTING_TASK_STATUSES,
    SLOT_TASK_STATUSES,
    TASK_TRANSITIONS,
    ExecutionMode,
    PlanStatus,
    TaskStatus,
    derive_plan_status,
    plan_transition,
    task_transition,
)
from switchover.engine.journal import TaskJournal
from switchover.engine.lease import acquire_lease, new_owner_id, renew_lease
from switchover.engine.outcome import task_failure
from switchover.engine.scheduler import Admission, Scheduler
from switchover.errors import (
    ErrorType,
    NotFoundError,
    OperationRefusedError,
    StepFailedError,
    SwitchoverError,
)
from switchover.settings import Settings
from switchover.stages.base import Stage, StageBuilder, StageRequest
from switchover.steps.protocol import StepContext
from switchover.stores.protocol import Change, Store

_PLAN_EVENTS: Mapping[PlanStatus, EventType] = {
    PlanStatus.RUNNING: EventType.PLAN_RESUMED,
    PlanStatus.PAUSED: EventType.PLAN_PAUSED,
    PlanStatus.COMPLETED: EventType.PLAN_COMPLETED,
    PlanStatus.FAILED: EventType.PLAN_FAILED,
    PlanStatus.CANCELLED: EventType.PLAN_CANCELLED,
}

ROLLBACK_FROM = frozenset({TaskStatus.FAILED, TaskStatus.PAUSED, TaskStatus.ROLLBACK_FAILED})


@dataclass(frozen=True, slots=True)
class Accepted:
    """An operation the engine accepted: the plan and tasks it concerns, and what it did."""

    plan_id: str
    task_ids: tuple[str, ...]
    message: str


@dataclass(frozen=True, slots=True)
class _QueuedOp:
    action: ControlAction
    from_checkpoint: bool = False
    version: int | None = None


class EngineStoppedError(SwitchoverError):
    """The engine stopped (or was never started) while work was requested of it."""


class Engine:
    """Runs plans against a Store through a StageBuilder; the facade the CLI and API call.

    The store is the truth; the engine keeps a cache of the plans it works on and is their
    only writer while it holds the store's lease. Every change goes through ``_write``, which
    updates the cache and queues the store commit in the same synchronous step, so commits
    reach the store in the order the decisions were made.
    """

    def __init__(
        self,
        store: Store,
        stages: StageBuilder,
        *,
        settings: Settings,
        discovery: Discovery,
        clock: Clock | None = None,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._builder = stages
        self._settings = settings
        self._discovery = discovery
        self._clock: Clock = clock or SystemClock()
        self.owner = owner or new_owner_id()
        self._tasks: dict[str, Task] = {}
        self._plans: dict[str, Plan] = {}
        self._counts: dict[str, Counter[TaskStatus]] = {}
        self._sched = Scheduler()
        self._ops: dict[str, _QueuedOp] = {}
        self._runners: set[str] = set()
        self._beats: dict[str, float] = {}
        self._beating = asyncio.Event()
        self._changed = asyncio.Event()
        self._loading: dict[str, asyncio.Future[None]] = {}
        self._lease: Lease | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._main: asyncio.Task[None] | None = None
        self._fatal: BaseException | None = None
        self._admit_scheduled = False
        self.metrics: Counter[str] = Counter()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Take the store's lease, recover unfinished work, and start running.

        Raises:
            EngineBusyError: another live engine owns the store.
        """
        self._lease = await acquire_lease(self._store, self.owner, self._settings.engine.lease_ttl)
        await self._recover()
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._main = asyncio.create_task(self._serve(started), name="switchover-engine")
        await started

    async def stop(self) -> None:
        """Stop at once; tasks mid-stage stay RUNNING in the store and resume on next start."""
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
            self._main = None
        if self._lease is not None:
            with contextlib.suppress(SwitchoverError):
                await self._store.release_lease(self.owner)
            self._lease = None

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def fatal(self) -> BaseException | None:
        """The error that stopped the engine, if one did."""
        return self._fatal

    async def _serve(self, started: asyncio.Future[None]) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                tg.create_task(self._control_loop(), name="switchover-control")
                tg.create_task(self._lease_loop(), name="switchover-lease")
                tg.create_task(self._heartbeat_loop(), name="switchover-heartbeat")
                for task in list(self._tasks.values()):
                    if task.status in EXECUTING_TASK_STATUSES and task.task_id not in self._runners:
                        self._spawn(task.task_id, None)
                self._admit()
                started.set_result(None)
                await asyncio.Event().wait()
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self._fatal = exc
            if not started.done():
                started.set_exception(exc)
            raise
        finally:
            self._tg = None
            self._changed.set()

    # ----------------------------------------------------------------- writing

    def _write(
        self,
        plan_id: str,
        tasks: Sequence[Task] = (),
        events: Sequence[Event] = (),
        *,
        plan: Plan | None = None,
        drive_plan: bool = True,
    ) -> asyncio.Future[list[Event]]:
        """Apply a change to the cache and queue its commit; await the result for durability."""
        status_changed = False
        for task in tasks:
            status_changed |= self._put_task(task)
        if plan is not None:
            self._plans[plan_id] = plan
            self._sched.set_accepting(plan_id, _accepting(plan))
        all_events = list(events)
        if drive_plan and (status_changed or plan is not None):
            derived = self._derive_plan(plan_id)
            if derived is not None:
                plan = derived
                all_events.append(self._plan_event(derived))
        change = Change(plan_id=plan_id, tasks=tuple(tasks), plan=plan, events=all_events)
        future = asyncio.ensure_future(self._store.commit(change))
        future.add_done_callback(self._committed)
        self._schedule_admit()
        return future

    def _committed(self, future: asyncio.Future[list[Event]]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None and self._fatal is None:
            # The cache is now ahead of the store: stop; a restart recovers from the store.
            self._fatal = exc
            if self._main is not None:
                self._main.cancel()
        self._changed.set()

    def _put_task(self, task: Task) -> bool:
        old = self._tasks.get(task.task_id)
        self._tasks[task.task_id] = task
        if old is None or old.status is task.status:
            return False
        counts = self._counts[task.plan_id]
        counts[old.status] -= 1
        counts[task.status] += 1
        if old.status in SLOT_TASK_STATUSES and task.status not in SLOT_TASK_STATUSES:
            self._sched.release_slot(task.plan_id, task.task_id)
        if task.status not in ACTIVE_TASK_STATUSES and task.task_id not in self._ops:
            self._sched.release_tenant(task.tenant_id, task.task_id)
        if task.status not in EXECUTING_TASK_STATUSES:
            self._beats.pop(task.task_id, None)
        return True

    def _derive_plan(self, plan_id: str) -> Plan | None:
        plan = self._plans[plan_id]
        status = derive_plan_status(
            plan.status, self._counts[plan_id], operator_paused=plan.operator_paused
        )
        if status is plan.status:
            return None
        plan_transition(plan_id, plan.status, status)
        derived = replace(plan, status=status, updated_at=self._clock.now())
        self._plans[plan_id] = derived
        self._sched.set_accepting(plan_id, _accepting(derived))
        return derived

    def _plan_event(self, plan: Plan, **data: Any) -> Event:
        return Event(
            plan_id=plan.plan_id,
            type=_PLAN_EVENTS[plan.status],
            at=self._clock.now(),
            status=plan.status.value,
            data=data,
        )

    def _event(
        self,
        type_: EventType,
        task: Task,
        *,
        stage: str | None = None,
        failure: FailureInfo | None = None,
        **data: Any,
    ) -> Event:
        return Event(
            plan_id=task.plan_id,
            type=type_,
            at=self._clock.now(),
            task_id=task.task_id,
            tenant_id=task.tenant_id,
            status=task.status.value,
            stage=stage,
            failure=failure,
            data=data,
        )

    def _changed_task(self, task: Task, **changes: Any) -> Task:
        status = changes.get("status")
        if status is not None and status is not task.status:
            task_transition(task.task_id, task.status, status)
        return replace(task, updated_at=self._clock.now(), **changes)

    # ----------------------------------------------------------------- loading and recovery

    async def _recover(self) -> None:
        """Load every plan with unfinished work; executing tasks restart from checkpoints."""
        plan_ids: list[str] = []
        for plan in await self._store.list_plans():
            if plan.status in (PlanStatus.RUNNING, PlanStatus.PAUSED):
                plan_ids.append(plan.plan_id)
        for task in await self._store.tasks_with_status(tuple(ACTIVE_TASK_STATUSES)):
            if task.plan_id not in plan_ids:
                plan_ids.append(task.plan_id)
        for plan_id in reversed(plan_ids):
            await self._load_plan(plan_id)

    async def _load_plan(self, plan_id: str) -> None:
        if plan_id in self._plans:
            return
        loading = self._loading.get(plan_id)
        if loading is not None:
            await asyncio.shield(loading)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loading[plan_id] = future
        try:
            plan = await self._store.get_plan(plan_id)
            if plan is None:
                raise NotFoundError("plan", plan_id)
            tasks = await self._store.list_tasks(plan_id)
            self._install_plan(plan, tasks)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: the raise below reports it
            raise
        finally:
            del self._loading[plan_id]

    def _install_plan(self, plan: Plan, tasks: Iterable[Task]) -> None:
        self._plans[plan.plan_id] = plan
        counts: Counter[TaskStatus] = Counter()
        self._counts[plan.plan_id] = counts
        self._sched.add_plan(plan.plan_id, plan.max_concurrency, accepting=_accepting(plan))
        for task in tasks:
            self._tasks[task.task_id] = task
            counts[task.status] += 1
            if task.status is TaskStatus.PENDING:
                self._sched.add_pending(plan.plan_id, task.task_id, task.tenant_id)
            elif task.status in ACTIVE_TASK_STATUSES:
                self._sched.hold_tenant(task.tenant_id, task.task_id)
                if task.status in SLOT_TASK_STATUSES:
                    self._sched.hold_slot(plan.plan_id, task.task_id)
                    if self._tg is not None and task.task_id not in self._runners:
                        self._spawn(task.task_id, None)
        self._schedule_admit()

    # ----------------------------------------------------------------- admission

    def _schedule_admit(self) -> None:
        if not self._admit_scheduled and self._tg is not None:
            self._admit_scheduled = True
            asyncio.get_running_loop().call_soon(self._admit)

    def _admit(self) -> None:
        self._admit_scheduled = False
        if self._tg is None:
            return
        for admission in self._sched.admit(self._is_pending):
            self._begin(admission)
        self._changed.set()

    def _is_pending(self, task_id: str) -> bool:
        return self._tasks[task_id].status is TaskStatus.PENDING

    def _begin(self, admission: Admission) -> None:
        task = self._tasks[admission.task_id]
        op = self._ops.pop(task.task_id, None) if admission.queued_op else None
        if op is None:
            stages = self._stage_names(task, ExecutionMode.NORMAL)
            started = self._changed_task(
                task, status=TaskStatus.RUNNING, stages=stages, mode=ExecutionMode.NORMAL
            )
            events = [self._event(EventType.TASK_STARTED, started, stages=list(stages))]
        elif op.action is ControlAction.RESUME:
            started = self._changed_task(task, status=TaskStatus.RUNNING, requested=None)
            events = [self._event(EventType.TASK_RESUMED, started, next_stage=started.next_stage)]
        elif op.action is ControlAction.RETRY:
            keep = (
                op.from_checkpoint
                and task.checkpoint is not None
                and task.checkpoint.mode is ExecutionMode.NORMAL
            )
            stages = self._stage_names(task, ExecutionMode.NORMAL)
            started = self._changed_task(
                task,
                status=TaskStatus.RUNNING,
                mode=ExecutionMode.NORMAL,
                stages=stages,
                checkpoint=task.checkpoint if keep else None,
                retry_count=task.retry_count + 1,
                failure=None,
                requested=None,
            )
            events = [
                self._event(
                    EventType.TASK_RETRY_STARTED,
                    started,
                    attempt=started.retry_count,
                    from_checkpoint=keep,
                    start_stage=started.next_stage,
                )
            ]
        else:
            keep = (
                op.from_checkpoint
                and task.mode is ExecutionMode.ROLLBACK
                and task.checkpoint is not None
                and task.checkpoint.mode is ExecutionMode.ROLLBACK
            )
            version = op.version if op.version is not None else task.version_override
            stages = self._stage_names(task, ExecutionMode.ROLLBACK)
            started = self._changed_task(
                task,
                status=TaskStatus.ROLLING_BACK,
                mode=ExecutionMode.ROLLBACK,
                stages=stages,
                checkpoint=task.checkpoint if keep else None,
                version_override=version,
                failure=None,
                requested=None,
            )
            events = [
                self._event(
                    EventType.TASK_ROLLING_BACK,
                    started,
                    version=started.run_version,
                    stages=list(stages),
                    previous_status=task.status.value,
                )
            ]
        index = started.next_stage
        if index < len(started.stages):
            started = replace(started, current_stage=started.stages[index])
            events.append(
                self._event(
                    EventType.STAGE_STARTED, started, stage=started.stages[index], index=index
                )
            )
        first = self._write(
            task.plan_id, [started], events, drive_plan=started.mode is ExecutionMode.NORMAL
        )
        self._spawn(task.task_id, first)

    def _stage_names(self, task: Task, mode: ExecutionMode) -> tuple[str, ...]:
        config = task.previous if mode is ExecutionMode.ROLLBACK else task.config
        assert config is not None
        return self._builder.names(StageRequest(task.tenant_id, config, mode))

    def _spawn(self, task_id: str, first: asyncio.Future[list[Event]] | None) -> None:
        assert self._tg is not None
        self._runners.add(task_id)
        self._tg.create_task(self._run_task(task_id, first), name=f"task:{task_id}")

    # ----------------------------------------------------------------- running a task

    async def _run_task(self, task_id: str, first: asyncio.Future[list[Event]] | None) -> None:
        try:
            if first is not None:
                await first
            await self._run_stages(task_id, started=first is not None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            task = self._tasks[task_id]
            if task.status not in EXECUTING_TASK_STATUSES or self._fatal is not None:
                raise
            cause = FailureInfo(
                ErrorType.SYSTEM_ERROR,
                f"engine error: {type(exc).__name__}: {exc}",
                stage=task.current_stage,
            )
            await self._finish_failed(task, cause, task.next_stage)
        finally:
            self._runners.discard(task_id)
            self._beats.pop(task_id, None)
            self._changed.set()

    async def _run_stages(self, task_id: str, *, started: bool) -> None:
        task = self._tasks[task_id]
        config, source = (
            (task.previous, task.config)
            if task.mode is ExecutionMode.ROLLBACK
            else (task.config, task.previous)
        )
        assert config is not None
        stages = self._builder.build(StageRequest(task.tenant_id, config, task.mode))
        names = tuple(stage.name for stage in stages)
        index = task.next_stage
        if not started:
            # Recovered after a crash: honour a pause/cancel asked before it, then restart.
            if await self._stop_at_boundary(task, None):
                return
            if index < len(stages):
                task = self._changed_task(task, stages=names, current_stage=names[index])
                start_event = self._event(
                    EventType.STAGE_STARTED, task, stage=names[index], index=index, recovered=True
                )
                await self._write(task.plan_id, [task], [start_event])
        if index >= len(stages):
            await self._finish_succeeded(task, task.checkpoint, [])
            return
        self._beats[task_id] = self._clock.monotonic()
        self._beating.set()
        while True:
            stage = stages[index]
            cause = await self._run_stage(self._tasks[task_id], stage, config, source)
            task = self._tasks[task_id]
            if cause is not None:
                await self._finish_failed(task, cause, index, names)
                return
            done = task.checkpoint.completed if task.checkpoint else ()
            checkpoint = Checkpoint(task.mode, index, (*done, stage.name), self._clock.now())
            completed = self._event(EventType.STAGE_COMPLETED, task, stage=stage.name, index=index)
            self.metrics["stages_completed"] += 1
            if index + 1 == len(stages):
                await self._finish_succeeded(task, checkpoint, [completed])
                return
            if await self._stop_at_boundary(task, checkpoint, completed):
                return
            index += 1
            task = self._changed_task(task, checkpoint=checkpoint, current_stage=names[index])
            started_event = self._event(
                EventType.STAGE_STARTED, task, stage=names[index], index=index
            )
            await self._write(task.plan_id, [task], [completed, started_event], drive_plan=False)

    async def _run_stage(
        self, task: Task, stage: Stage, config: Any, source: Any
    ) -> FailureInfo | None:
        journal = TaskJournal(
            lambda message, details: self._warn(task.task_id, stage.name, message, details)
        )
        ctx = StepContext(
            plan_id=task.plan_id,
            task_id=task.task_id,
            tenant_id=task.tenant_id,
            stage=stage.name,
            mode=task.mode,
            config=config,
            source=source,
            version=task.run_version,
            settings=self._settings,
            clock=self._clock,
            discovery=self._discovery,
            journal=journal,
        )
        for step in stage.steps:
            try:
                await step.prepare(ctx)
                await step.execute(ctx)
                await step.validate(ctx)
            except StepFailedError as exc:
                return FailureInfo(
                    exc.error_type, str(exc), stage.name, step.name, exc.retryable, exc.details
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                return FailureInfo(
                    ErrorType.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}", stage.name, step.name
                )
        return None

    async def _warn(
        self, task_id: str, stage: str, message: str, details: Mapping[str, Any]
    ) -> None:
        task = self._tasks[task_id]
        event = self._event(EventType.STEP_WARNING, task, stage=stage, message=message, **details)
        await self._write(task.plan_id, (), [event], drive_plan=False)

    async def _stop_at_boundary(
        self, task: Task, checkpoint: Checkpoint | None, *events: Event
    ) -> bool:
        """Apply a pending pause/cancel at a stage boundary; True when the run stops here."""
        if task.mode is ExecutionMode.ROLLBACK or task.requested is None:
            return False
        if task.requested is BoundaryRequest.CANCEL:
            status, kind = TaskStatus.CANCELLED, EventType.TASK_CANCELLED
        else:
            status, kind = TaskStatus.PAUSED, EventType.TASK_PAUSED
        stopped = self._changed_task(
            task,
            status=status,
            requested=None,
            current_stage=None,
            checkpoint=checkpoint or task.checkpoint,
        )
        event = self._event(kind, stopped, next_stage=stopped.next_stage)
        await self._write(task.plan_id, [stopped], [*events, event])
        return True

    async def _finish_succeeded(
        self, task: Task, checkpoint: Checkpoint | None, events: list[Event]
    ) -> None:
        rollback = task.mode is ExecutionMode.ROLLBACK
        status = TaskStatus.ROLLED_BACK if rollback else TaskStatus.COMPLETED
        done = self._changed_task(
            task, status=status, checkpoint=checkpoint, current_stage=None, requested=None
        )
        kind = EventType.TASK_ROLLED_BACK if rollback else EventType.TASK_COMPLETED
        self.metrics["rollback_success" if rollback else "tasks_completed"] += 1
        await self._write(
            task.plan_id,
            [done],
            [*events, self._event(kind, done, version=done.run_version)],
            drive_plan=not rollback,
        )

    async def _finish_failed(
        self,
        task: Task,
        cause: FailureInfo,
        index: int,
        names: Sequence[str] | None = None,
    ) -> None:
        rollback = task.mode is ExecutionMode.ROLLBACK
        failure = task_failure(task.mode, cause, names or task.stages, index)
        status = TaskStatus.ROLLBACK_FAILED if rollback else TaskStatus.FAILED
        failed = self._changed_task(
            task, status=status, failure=failure, current_stage=None, requested=None
        )
        kind = EventType.TASK_ROLLBACK_FAILED if rollback else EventType.TASK_FAILED
        events = [self._event(kind, failed, failure=failure)]
        if cause.stage is not None:
            events.insert(
                0, self._event(EventType.STAGE_FAILED, failed, stage=cause.stage, failure=cause)
            )
        self.metrics["rollback_failed" if rollback else "tasks_failed"] += 1
        await self._write(task.plan_id, [failed], events, drive_plan=not rollback)

    # ----------------------------------------------------------------- background loops

    async def _heartbeat_loop(self) -> None:
        interval = self._settings.engine.heartbeat_interval
        while True:
            if not self._beats:
                self._beating.clear()
                await self._beating.wait()
                continue
            await self._clock.sleep(interval / 2)
            now = self._clock.monotonic()
            due: dict[str, list[Event]] = {}
            for task_id, last in list(self._beats.items()):
                if now - last < interval:
                    continue
                task = self._tasks[task_id]
                self._beats[task_id] = now
                due.setdefault(task.plan_id, []).append(
                    self._event(
                        EventType.TASK_PROGRESS,
                        task,
                        stage=task.current_stage,
                        index=task.next_stage,
                        stages_total=len(task.stages),
                    )
                )
            for plan_id, events in due.items():
                self._write(plan_id, (), events, drive_plan=False)

    async def _control_loop(self) -> None:
        interval = self._settings.engine.control_poll_interval
        while True:
            for request in await self._store.pending_controls():
                result = await self._perform(request)
                await self._store.finish_control(replace(request, result=result))
            await asyncio.sleep(interval)

    async def _lease_loop(self) -> None:
        ttl = self._settings.engine.lease_ttl
        while True:
            await asyncio.sleep(ttl / 3)
            assert self._lease is not None
            renewed = await renew_lease(self._store, self._lease, ttl)
            if renewed is None:
                raise EngineStoppedError("the engine lease was taken by another engine")
            self._lease = renewed

    async def _perform(self, request: ControlRequest) -> dict[str, Any]:
        options = request.options
        try:
            match request.action:
                case ControlAction.SUBMIT:
                    await self._adopt_plan(request.target.key)
                    accepted = Accepted(request.target.key, (), "plan admitted")
                case ControlAction.PAUSE:
                    accepted = await self.pause(request.target)
                case ControlAction.RESUME:
                    accepted = await self.resume(request.target)
                case ControlAction.CANCEL:
                    accepted = await self.cancel(request.target)
                case ControlAction.RETRY:
                    accepted = await self.retry(
                        request.target, from_checkpoint=bool(options.get("from_checkpoint"))
                    )
                case ControlAction.ROLLBACK:
                    version = options.get("version")
                    accepted = await self.rollback(
                        request.target, version=int(version) if version is not None else None
                    )
                case _:
                    assert_never(request.action)
        except SwitchoverError as exc:
            return {"ok": False, "error_type": exc.error_type.value, "message": str(exc)}
        return {
            "ok": True,
            "plan_id": accepted.plan_id,
            "task_ids": list(accepted.task_ids),
            "message": accepted.message,
        }

    async def _adopt_plan(self, plan_id: str) -> None:
        await self._load_plan(plan_id)
        self._schedule_admit()

    # ----------------------------------------------------------------- facade: submit

    async def submit_plan(self, spec: PlanSpec) -> Plan:
        """Create a plan and its tasks (each with its previous-config snapshot) and start it.

        Raises:
            ConflictError: a plan with this id exists.
        """
        plan, tasks, events = self.build_plan(spec, self._builder, self._clock.now())
        await self._store.create_plan(plan, tasks, events)
        self._install_plan(plan, tasks)
        return plan

    @staticmethod
    def build_plan(
        spec: PlanSpec, builder: StageBuilder, now: float
    ) -> tuple[Plan, list[Task], list[Event]]:
        """The records and first events of a new plan (also used by a CLI handing a plan over)."""
        plan = Plan(
            plan_id=spec.plan_id,
            version=spec.version,
            max_concurrency=spec.max_concurrency,
            status=PlanStatus.RUNNING,
            task_count=len(spec.tenants),
            created_at=now,
            updated_at=now,
        )
        tasks: list[Task] = []
        events = [
            Event(
                plan_id=plan.plan_id,
                type=EventType.PLAN_CREATED,
                at=now,
                status=plan.status.value,
                data={
                    "version": spec.version,
                    "max_concurrency": spec.max_concurrency,
                    "task_count": len(spec.tenants),
                },
            )
        ]
        for position, tenant in enumerate(spec.tenants):
            config = tenant.config
            stages = builder.names(StageRequest(config.tenant_id, config, ExecutionMode.NORMAL))
            task = Task(
                task_id=f"{plan.plan_id}/{config.tenant_id}",
                plan_id=plan.plan_id,
                tenant_id=config.tenant_id,
                position=position,
                config=config,
                previous=tenant.previous,
                status=TaskStatus.PENDING,
                created_at=now,
                updated_at=now,
                stages=stages,
            )
            tasks.append(task)
            events.append(
                Event(
                    plan_id=plan.plan_id,
                    type=EventType.TASK_CREATED,
                    at=now,
                    task_id=task.task_id,
                    tenant_id=task.tenant_id,
                    status=task.status.value,
                    data={"stages": list(stages), "rollback_ready": task.previous is not None},
                )
            )
        return plan, tasks, events

    # ----------------------------------------------------------------- facade: operations

    async def pause(self, target: Target) -> Accepted:
        """Pause a task at its next stage boundary, or a whole plan.

        Raises:
            NotFoundError, OperationRefusedError: nothing changed.
        """
        if target.kind is TargetKind.PLAN:
            return await self._pause_plan(target.key)
        task = await self._resolve(target)
        if task.status is TaskStatus.PAUSED:
            if (
                self._ops.get(task.task_id) is not None
                and self._ops[task.task_id].action is ControlAction.RESUME
            ):
                del self._ops[task.task_id]
                self._sched.unqueue_op(task.plan_id, task.task_id)
            return Accepted(task.plan_id, (task.task_id,), "already paused")
        if task.status is not TaskStatus.RUNNING:
            raise _refuse_state(task, "pause", "RUNNING")
        if task.requested is BoundaryRequest.CANCEL:
            raise _refuse_state(task, "pause", "RUNNING", note="a cancel is already requested")
        if task.requested is None:
            await self._write(task.plan_id, [replace(task, requested=BoundaryRequest.PAUSE)])
        return Accepted(
            task.plan_id, (task.task_id,), "pause requested: applies at the next stage boundary"
        )

    async def _pause_plan(self, plan_id: str) -> Accepted:
        plan = await self._plan_for_op(plan_id)
        if plan.status in (PlanStatus.COMPLETED, PlanStatus.CANCELLED, PlanStatus.FAILED):
            raise OperationRefusedError(
                ErrorType.INVALID_STATE,
                f"plan {plan_id} is {plan.status.value}; it cannot be paused",
                status=plan.status.value,
            )
        if plan.operator_paused:
            return Accepted(plan_id, (), "plan already paused")
        tasks = [
            replace(t, requested=BoundaryRequest.PAUSE)
            for t in self._plan_tasks(plan_id)
            if t.status is TaskStatus.RUNNING and t.requested is None
        ]
        paused = replace(plan, operator_paused=True, updated_at=self._clock.now())
        events: list[Event] = []
        if plan.status is not PlanStatus.PAUSED:
            paused = replace(
                paused, status=plan_transition(plan_id, plan.status, PlanStatus.PAUSED)
            )
            events.append(self._plan_event(paused, stopping=len(tasks)))
        await self._write(plan_id, tasks, events, plan=paused)
        return Accepted(
            plan_id,
            tuple(t.task_id for t in tasks),
            f"plan paused: {len(tasks)} running task(s) stop at their next stage boundary",
        )

    async def resume(self, target: Target) -> Accepted:
        """Resume a paused task (from its next stage) or every paused task of a plan.

        Raises:
            NotFoundError, OperationRefusedError: nothing changed.
        """
        if target.kind is TargetKind.PLAN:
            return await self._resume_plan(target.key)
        task = await self._resolve(target)
        if task.status is TaskStatus.RUNNING and task.requested is BoundaryRequest.PAUSE:
            await self._write(task.plan_id, [replace(task, requested=None)])
            return Accepted(task.plan_id, (task.task_id,), "pause request withdrawn")
        if task.status is not TaskStatus.PAUSED:
            raise _refuse_state(task, "resume", "PAUSED")
        self._queue(task, _QueuedOp(ControlAction.RESUME))
        return Accepted(task.plan_id, (task.task_id,), "resume accepted")

    async def _resume_plan(self, plan_id: str) -> Accepted:
        plan = await self._plan_for_op(plan_id)
        if plan.status is not PlanStatus.PAUSED and not plan.operator_paused:
            raise OperationRefusedError(
                ErrorType.INVALID_STATE,
                f"plan {plan_id} is {plan.status.value}; only a PAUSED plan can be resumed",
                status=plan.status.value,
            )
        withdrawn = []
        resumed = []
        for task in self._plan_tasks(plan_id):
            if task.status is TaskStatus.RUNNING and task.requested is BoundaryRequest.PAUSE:
                withdrawn.append(replace(task, requested=None))
            elif task.status is TaskStatus.PAUSED and task.task_id not in self._ops:
                resumed.append(task)
        for task in resumed:
            self._queue(task, _QueuedOp(ControlAction.RESUME))
        unpaused = replace(plan, operator_paused=False, updated_at=self._clock.now())
        await self._write(plan_id, withdrawn, plan=unpaused)
        ids = tuple(t.task_id for t in (*withdrawn, *resumed))
        return Accepted(plan_id, ids, f"plan resumed: {len(resumed)} paused task(s) queued")

    async def cancel(self, target: Target) -> Accepted:
        """Cancel a task (at its next stage boundary when running, at once otherwise) or a plan.

        Raises:
            NotFoundError, OperationRefusedError: nothing changed.
        """
        if target.kind is TargetKind.PLAN:
            return await self._cancel_plan(target.key)
        task = await self._resolve(target)
        if task.status is TaskStatus.RUNNING:
            if task.requested is not BoundaryRequest.CANCEL:
                await self._write(task.plan_id, [replace(task, requested=BoundaryRequest.CANCEL)])
            return Accepted(
                task.plan_id,
                (task.task_id,),
                "cancel requested: applies at the next stage boundary",
            )
        if TaskStatus.CANCELLED not in TASK_TRANSITIONS[task.status]:
            raise _refuse_state(task, "cancel", "PENDING, RUNNING, PAUSED or FAILED")
        done = self._cancelled(task)
        await self._write(task.plan_id, [done], [self._event(EventType.TASK_CANCELLED, done)])
        return Accepted(task.plan_id, (task.task_id,), "cancelled")

    def _cancelled(self, task: Task) -> Task:
        if self._ops.pop(task.task_id, None) is not None:
            self._sched.unqueue_op(task.plan_id, task.task_id)
        return self._changed_task(
            task, status=TaskStatus.CANCELLED, requested=None, current_stage=None
        )

    async def _cancel_plan(self, plan_id: str) -> Accepted:
        plan = await self._plan_for_op(plan_id)
        if plan.status in (PlanStatus.COMPLETED, PlanStatus.CANCELLED):
            raise OperationRefusedError(
                ErrorType.INVALID_STATE,
                f"plan {plan_id} is {plan.status.value}; it cannot be cancelled",
                status=plan.status.value,
            )
        changed: list[Task] = []
        events: list[Event] = []
        stopping = 0
        for task in self._plan_tasks(plan_id):
            if task.status is TaskStatus.RUNNING:
                if task.requested is not BoundaryRequest.CANCEL:
                    changed.append(replace(task, requested=BoundaryRequest.CANCEL))
                stopping += 1
            elif task.status in (TaskStatus.PENDING, TaskStatus.PAUSED, TaskStatus.FAILED):
                done = self._cancelled(task)
                changed.append(done)
                events.append(self._event(EventType.TASK_CANCELLED, done))
        self._sched.drop_pending(plan_id)
        cancelled = replace(
            plan,
            status=plan_transition(plan_id, plan.status, PlanStatus.CANCELLED),
            operator_paused=False,
            updated_at=self._clock.now(),
        )
        events.append(self._plan_event(cancelled, stopping=stopping))
        await self._write(plan_id, changed, events, plan=cancelled, drive_plan=False)
        return Accepted(
            plan_id,
            tuple(t.task_id for t in changed),
            f"plan cancelled: {len(events) - 1} task(s) now, {stopping} at their next boundary",
        )

    async def retry(self, target: Target, *, from_checkpoint: bool = False) -> Accepted:
        """Run a FAILED task again (fresh, or from its checkpoint); re-run a failed rollback.

        Raises:
            NotFoundError, OperationRefusedError: nothing changed.
        """
        task = await self._resolve(target)
        if task.status is TaskStatus.ROLLBACK_FAILED:
            return await self.rollback(target, version=None, from_checkpoint=from_checkpoint)
        if task.status is not TaskStatus.FAILED:
            raise _refuse_state(task, "retry", "FAILED or ROLLBACK_FAILED")
        limit = self._settings.engine.max_retries
        if task.retry_count >= limit:
            raise OperationRefusedError(
                ErrorType.INVALID_STATE,
                f"task {task.task_id} has used all {limit} retries",
                task_id=task.task_id,
                tenant_id=task.tenant_id,
                status=task.status.value,
            )
        self._claim(task)
        self._queue(task, _QueuedOp(ControlAction.RETRY, from_checkpoint=from_checkpoint))
        where = (
            "from its checkpoint" if from_checkpoint and task.checkpoint else "from the first stage"
        )
        return Accepted(task.plan_id, (task.task_id,), f"retry accepted ({where})")

    async def rollback(
        self, target: Target, *, version: int | None = None, from_checkpoint: bool = False
    ) -> Accepted:
        """Re-run the task's stages with its previous config (SPEC §7).

        Raises:
            NotFoundError, OperationRefusedError: nothing changed; ROLLBACK_PRECONDITION_FAILED
                when the status is not FAILED, PAUSED or ROLLBACK_FAILED or there is no
                previous config, TENANT_BUSY when another task holds the tenant.
        """
        task = await self._resolve(target)
        if task.status not in ROLLBACK_FROM:
            raise OperationRefusedError(
                ErrorType.ROLLBACK_PRECONDITION_FAILED,
                f"task {task.task_id} is {task.status.value}; "
                "rollback needs FAILED, PAUSED or ROLLBACK_FAILED",
                task_id=task.task_id,
                tenant_id=task.tenant_id,
                status=task.status.value,
            )
        if task.previous is None:
            raise OperationRefusedError(
                ErrorType.ROLLBACK_PRECONDITION_FAILED,
                f"task {task.task_id} has no previous config "
                "(sourceTenantDeployConfig); it cannot be rolled back",
                task_id=task.task_id,
                tenant_id=task.tenant_id,
                status=task.status.value,
            )
        self._claim(task)
        self._queue(
            task,
            _QueuedOp(ControlAction.ROLLBACK, from_checkpoint=from_checkpoint, version=version),
        )
        to = version if version is not None else task.previous.plan_version
        return Accepted(task.plan_id, (task.task_id,), f"rollback accepted (to version {to})")

    def _claim(self, task: Task) -> None:
        if task.task_id in self._ops:
            raise OperationRefusedError(
                ErrorType.CONFLICT,
                f"task {task.task_id} already has a queued "
                f"{self._ops[task.task_id].action.value.lower()}",
                task_id=task.task_id,
                tenant_id=task.tenant_id,
                status=task.status.value,
            )
        if not self._sched.hold_tenant(task.tenant_id, task.task_id):
            holder = self._sched.tenant_holder(task.tenant_id)
            raise OperationRefusedError(
                ErrorType.TENANT_BUSY,
                f"tenant {task.tenant_id} is busy with task {holder}",
                task_id=task.task_id,
                tenant_id=task.tenant_id,
                status=task.status.value,
            )

    def _queue(self, task: Task, op: _QueuedOp) -> None:
        self._ops[task.task_id] = op
        self._sched.queue_op(task.plan_id, task.task_id)
        self._schedule_admit()

    async def _resolve(self, target: Target) -> Task:
        if target.kind is TargetKind.TASK:
            task = self._tasks.get(target.key) or await self._store.get_task(target.key)
            if task is None:
                raise NotFoundError("task", target.key)
        elif target.kind is TargetKind.TENANT:
            task = await self._store.find_task(target.key)
            if task is None:
                raise NotFoundError("tenant", target.key)
        else:
            raise OperationRefusedError(
                ErrorType.VALIDATION_ERROR, f"{target} does not name a task"
            )
        await self._load_plan(task.plan_id)
        return self._tasks[task.task_id]

    async def _plan_for_op(self, plan_id: str) -> Plan:
        await self._load_plan(plan_id)
        return self._plans[plan_id]

    def _plan_tasks(self, plan_id: str) -> list[Task]:
        return [t for t in self._tasks.values() if t.plan_id == plan_id]

    # ----------------------------------------------------------------- facade: queries

    async def get_plan(self, plan_id: str) -> Plan:
        """The plan as it is now.

        Raises:
            NotFoundError: no such plan.
        """
        plan = self._plans.get(plan_id) or await self._store.get_plan(plan_id)
        if plan is None:
            raise NotFoundError("plan", plan_id)
        return plan

    async def get_task(self, task_id: str) -> Task:
        """The task as it is now.

        Raises:
            NotFoundError: no such task.
        """
        task = self._tasks.get(task_id) or await self._store.get_task(task_id)
        if task is None:
            raise NotFoundError("task", task_id)
        return task

    async def find_task(self, tenant_id: str) -> Task:
        """The tenant's most recent task.

        Raises:
            NotFoundError: the tenant has no task.
        """
        task = await self._store.find_task(tenant_id)
        if task is None:
            raise NotFoundError("tenant", tenant_id)
        return self._tasks.get(task.task_id, task)

    async def list_tasks(self, plan_id: str) -> list[Task]:
        """The plan's tasks in submission order."""
        if plan_id in self._plans:
            return sorted(self._plan_tasks(plan_id), key=lambda t: t.position)
        return await self._store.list_tasks(plan_id)

    async def events(
        self, plan_id: str, since: int = 0, *, follow: bool = False, poll: float = 0.2
    ) -> AsyncIterator[Event]:
        """The plan's events after sequence number ``since``; with ``follow``, forever."""
        while True:
            batch = await self._store.read_events(plan_id, since)
            for event in batch:
                since = event.seq
                yield event
            if not follow:
                if len(batch) < 1000:
                    return
                continue
            if not batch:
                await asyncio.sleep(poll)

    def is_busy(self, task_ids: Iterable[str] | None = None) -> bool:
        """Whether the named tasks (default: any) are executing or waiting for a slot."""
        if task_ids is None:
            return bool(self._runners or self._ops)
        return any(t in self._runners or t in self._ops for t in task_ids)

    async def wait_idle(self, task_ids: Iterable[str] | None = None) -> None:
        """Wait until ``is_busy(task_ids)`` is false and nothing more is admissible."""
        ids = list(task_ids) if task_ids is not None else None
        while self._tg is not None or self._main is not None:
            self._changed.clear()
            if self._fatal is not None:
                raise EngineStoppedError(f"engine stopped: {self._fatal}") from self._fatal
            if not self.is_busy(ids) and not self._admit_scheduled:
                return
            await self._changed.wait()
        if self._fatal is not None:
            raise EngineStoppedError(f"engine stopped: {self._fatal}") from self._fatal


def _accepting(plan: Plan) -> bool:
    return plan.status is PlanStatus.RUNNING and not plan.operator_paused


def _refuse_state(
    task: Task, action: str, needed: str, *, note: str | None = None
) -> OperationRefusedError:
    reason = f"; {note}" if note else ""
    return OperationRefusedError(
        ErrorType.INVALID_STATE,
        f"task {task.task_id} is {task.status.value}; {action} needs {needed}{reason}",
        task_id=task.task_id,
        tenant_id=task.tenant_id,
        status=task.status.value,
    )
