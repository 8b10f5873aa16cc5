"""The Engine: the async facade that runs plans, and the one writer of their state."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, assert_never

from msgspec.structs import replace

from switchover.clock import Clock, SystemClock
from switchover.discovery.protocol import Discovery
from switchover.domain import lifecycle
from switchover.domain.commands import (
    DEFAULT_ACTOR,
    Accepted,
    Cancel,
    Command,
    ControlRequest,
    Outcome,
    Pause,
    Promote,
    Refused,
    Resume,
    Retry,
    Rollback,
    SubmitPlan,
    accepted_or_raise,
    refusal,
)
from switchover.domain.events import Event, EventType
from switchover.domain.records import (
    Lease,
    Plan,
    PlanSpec,
    Target,
    TargetKind,
    Task,
    binding_differences,
    bound_elsewhere,
)
from switchover.domain.status import (
    ACTIVE_TASK_STATUSES,
    EXECUTING_TASK_STATUSES,
    ExecutionMode,
    PlanStatus,
    TaskStatus,
)
from switchover.engine.claims import TenantClaims
from switchover.engine.lease import acquire_lease, new_owner_id, renew_lease
from switchover.engine.operations import Operations
from switchover.engine.runner import TaskRunner
from switchover.engine.scheduler import Admission
from switchover.engine.state import EngineState
from switchover.engine.tail import tail_events
from switchover.errors import (
    EngineStoppedError,
    ErrorType,
    InvalidTransitionError,
    LeaseLostError,
    NotFoundError,
    OperationRefusedError,
    SwitchoverError,
)
from switchover.secrets import Scrubber
from switchover.settings import Settings
from switchover.stages.base import StageBuilder, StageRequest, forward_stages
from switchover.steps.locks import Busy, LocalTenantLocks, TenantLocks
from switchover.steps.targets import TargetState
from switchover.stores.protocol import Store

__all__ = ["Engine", "EngineStoppedError"]


CLAIM_POLL = 0.5
"""Seconds between attempts to claim a tenant that another holder has in the targets."""


def _cause(exc: BaseException) -> BaseException:
    """The first error inside (nested) exception groups: what actually stopped the engine."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class Engine:
    """Runs plans against a Store through a StageBuilder; the facade the CLI and API call.

    Pieces: ``EngineState`` (the cache of the store and the one ordered write path),
    ``Scheduler`` (slots, FIFO, tenant exclusion), ``TaskRunner`` (stages, checkpoints,
    heartbeat), ``Operations`` (pause, resume, cancel, retry, rollback). The engine itself owns
    the lifecycle: the store's lease, recovery, admission, and the control-request loop.
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
        locks: TenantLocks | None = None,
        targets: TargetState | None = None,
    ) -> None:
        self._store = store
        self._builder = stages
        self._settings = settings
        self.owner = owner or new_owner_id()
        self.metrics: Counter[str] = Counter()
        self._binding = settings.binding()
        source = settings.source_file
        self._settings_file = str(source) if source is not None else None
        self.foreign: dict[str, list[str]] = {}
        """Plans left alone because they run with other settings: how those differ."""
        self._state = EngineState(
            store, clock or SystemClock(), on_change=self._on_change, on_fatal=self._on_fatal
        )
        self._claims = TenantClaims(locks or LocalTenantLocks(), settings, self._state.clock)
        self._state.on_wake = self._wake_at
        self._state.all_listeners.add(self._after_commit)
        self._wakes: dict[str, float] = {}
        self._runner = TaskRunner(
            self._state,
            stages,
            settings=settings,
            discovery=discovery,
            metrics=self.metrics,
            stopping=lambda: self._fatal is not None,
            parking=lambda: self._quiescing,
            guard=self._guard,
            fence=self._claims.fence,
            scrubber=Scrubber(settings.secret_values()),
        )
        self._ops = Operations(self._state, settings, self._load_plan, targets)
        self._runners: set[str] = set()
        self._changed = asyncio.Event()
        self._loading: dict[str, asyncio.Future[None]] = {}
        self._lease: Lease | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._main: asyncio.Task[None] | None = None
        self._fatal: BaseException | None = None
        self._quiescing = False
        self._admit_scheduled = False
        self._go = asyncio.Event()
        self._live = False

    # ----------------------------------------------------------------- lifecycle

    async def start(self, *, hold: bool = False) -> None:
        """Take the store's lease, recover unfinished work, and start running.

        Args:
            hold: load the unfinished work but run nothing (no stage, no admission, no control
                request) until ``proceed``: a command decides first whether its operation is
                accepted, so a refused one changes nothing; ``stop`` without ``proceed`` leaves
                the store exactly as it was.

        Raises:
            EngineBusyError: another live engine owns the store.
        """
        self._lease = await acquire_lease(
            self._store,
            self.owner,
            self._settings.engine.lease_ttl,
            {"binding": self._binding, "settings_file": self._settings_file},
        )
        self._state.fence = self._claims.generation = self._lease.epoch
        try:
            self._claims.store_id = await self._store.identity()
            await self._recover()
        except BaseException:
            with contextlib.suppress(SwitchoverError):
                await self._store.release_lease(self.owner)
            self._lease = None
            raise
        if not hold:
            self._go.set()
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._main = asyncio.create_task(self._serve(started), name="switchover-engine")
        await started

    def proceed(self) -> None:
        """Run what ``start(hold=True)`` loaded, and whatever was accepted since."""
        self._go.set()

    @property
    def held(self) -> bool:
        """Whether the engine was started with ``hold`` and has not been told to proceed."""
        return not self._go.is_set()

    async def quiesce(self, grace: float) -> bool:
        """Stop admitting, and let running stages reach their boundary within ``grace`` seconds.

        A task whose stage completes stops there, still RUNNING in the store with its
        checkpoint, and the next engine continues it from the next stage. Accepted commands
        stay queued in the store's terms (the next engine admits them). Then ``stop``.

        Returns:
            Whether every running stage reached its boundary in time (the rest are stopped
            mid-stage and re-run from their checkpoint by the next engine).
        """
        self._quiescing = True
        self._changed.set()
        try:
            async with asyncio.timeout(grace):
                while self._runners and self._fatal is None:
                    self._changed.clear()
                    await self._changed.wait()
            return not self._runners
        except TimeoutError:
            return False
        finally:
            await self.stop()

    @property
    def quiescing(self) -> bool:
        """Whether ``quiesce`` was called: nothing new starts, runs stop at their boundary."""
        return self._quiescing

    async def stop(self) -> None:
        """Stop at once; tasks mid-stage stay RUNNING in the store and resume on next start."""
        if self._main is not None:
            self._main.cancel()
            # Whatever stopped the engine is in ``fatal``; stopping never raises it again.
            with contextlib.suppress(asyncio.CancelledError, Exception):
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
                tg.create_task(self._lease_loop(), name="switchover-lease")
                started.set_result(None)
                await self._go.wait()
                self._live = True
                tg.create_task(self._control_loop(), name="switchover-control")
                tg.create_task(self._claims.renew_forever(), name="switchover-claims")
                tg.create_task(self._runner.heartbeat(), name="switchover-heartbeat")
                for plan_id, at in list(self._wakes.items()):
                    tg.create_task(self._sleep_then_drive(plan_id, at), name=f"wake:{plan_id}")
                for task in list(self._state.tasks.values()):
                    if task.status in EXECUTING_TASK_STATUSES and task.task_id not in self._runners:
                        self._spawn(task.task_id, None)
                self._admit()
                await asyncio.Event().wait()
        except BaseException as exc:
            if self._fatal is None and not isinstance(exc, asyncio.CancelledError):
                self._fatal = _cause(exc)
            if not started.done():
                started.set_exception(exc)
            raise
        finally:
            self._tg = None
            self._live = False
            self._changed.set()

    def _on_change(self) -> None:
        self._schedule_admit()
        self._changed.set()

    def _on_fatal(self, exc: BaseException) -> None:
        # A commit failed: the cache is ahead of the store. Stop; a restart recovers from it.
        if self._fatal is None:
            self._fatal = exc
            if self._main is not None:
                self._main.cancel()

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

    def _bound_elsewhere(self, plan: Plan) -> Refused | None:
        """Why this engine must leave ``plan`` alone (it runs with other settings), or None."""
        why = bound_elsewhere(plan, self._binding, "this engine's")
        if why is None:
            return None
        self.foreign[plan.plan_id] = binding_differences(plan.binding, self._binding)
        return Refused(ErrorType.INVALID_STATE, why)

    async def _load_plan(self, plan_id: str) -> None:
        if plan_id in self._state.plans:
            return
        stored = await self._store.get_plan(plan_id)
        if stored is not None and self._bound_elsewhere(stored) is not None:
            return  # another setup's work: it stays as it is for an engine with its settings
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
            self._install(plan, tasks)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: the raise below reports it
            raise
        finally:
            del self._loading[plan_id]

    def _install(self, plan: Plan, tasks: Iterable[Task]) -> None:
        executing = self._state.install_plan(plan, tasks)
        if self._live:
            for task_id in executing:
                if task_id not in self._runners:
                    self._spawn(task_id, None)
        self._schedule_admit()

    # ----------------------------------------------------------------- admission

    def _schedule_admit(self) -> None:
        if not self._admit_scheduled and self._live:
            self._admit_scheduled = True
            asyncio.get_running_loop().call_soon(self._admit)

    def _admit(self) -> None:
        self._admit_scheduled = False
        if not self._live or self._fatal is not None or self._quiescing:
            return
        tasks = self._state.tasks
        for admission in self._state.sched.admit(lambda t: tasks[t].status is TaskStatus.PENDING):
            self._spawn(admission.task_id, admission)
        self._changed.set()

    def _admissible(self, admission: Admission) -> bool:
        """Whether an admitted task may still start (nothing withdrew it meanwhile)."""
        if admission.op is not None:
            return self._state.sched.queued_op(admission.task_id) is admission.op
        task = self._state.tasks[admission.task_id]
        plan = self._state.plans[task.plan_id]
        return (
            task.status is TaskStatus.PENDING
            and plan.status is PlanStatus.RUNNING
            and not plan.operator_paused
        )

    async def _start_admitted(self, admission: Admission) -> asyncio.Future[list[Event]] | None:
        """Claim the tenant in the targets, then start the task; None when it did not start.

        While another holder (another store's task, another operator) has the tenant, the task
        waits PENDING in its slot, recording who holds it (``waiting_for``, ``TaskWaiting``).
        If the targets cannot be reached the task starts unclaimed, and its first stage claims
        the tenant with retries (failing the stage if it cannot).

        Raises:
            LeaseLostError: this engine no longer holds the store (it must claim nothing).
        """
        task_id = admission.task_id
        waited: str | None = None
        while True:
            if not self._admissible(admission):
                task = self._state.tasks[task_id]
                requeue = not admission.queued_op and task.status is TaskStatus.PENDING
                self._state.sched.give_back(admission, task.tenant_id, requeue=requeue)
                if task.waiting_for is not None:
                    self._state.write(
                        task.plan_id,
                        [self._state.changed(task, waiting_for=None)],
                        drive_plan=False,
                    )
                self._schedule_admit()
                return None
            task = self._state.tasks[task_id]
            await self._guard()  # a claim is a write to the targets: only by the lease's holder
            claim = await self._claims.try_claim(task)
            if isinstance(claim, Busy):
                if claim.holder != waited:
                    waited = claim.holder
                    now = self._state.clock.now()
                    self._state.apply(lifecycle.waiting(task, claim.holder, now))
                await self._state.clock.sleep(CLAIM_POLL)
                continue
            if not self._admissible(admission):
                await self._claims.release(task_id)
                continue
            return self._begin(admission)

    async def _guard(self) -> None:
        """Before a step touches a target: make sure this engine still holds the store.

        An engine frozen past its lease (SIGSTOP, a stalled VM) finds its lease expired on
        waking; it renews it before going on, and stops at once when another engine took it.

        Raises:
            LeaseLostError: the lease is gone.
        """
        lease = self._lease
        if self._fatal is not None or lease is None:
            raise LeaseLostError("this engine is stopping")
        if time.time() < lease.expires_at:
            return
        renewed = await renew_lease(self._store, lease, self._settings.engine.lease_ttl)
        if renewed is None:
            error = LeaseLostError("this engine's lease expired and another engine took it")
            self._on_fatal(error)
            raise error
        self._lease = renewed

    def _begin(self, admission: Admission) -> asyncio.Future[list[Event]]:
        task = self._state.tasks[admission.task_id]
        op = self._state.sched.take_op(task.task_id) if admission.op is not None else None
        if isinstance(op, Resume):
            stages = task.stages  # a resume continues the run it paused
        else:
            mode = ExecutionMode.ROLLBACK if isinstance(op, Rollback) else ExecutionMode.NORMAL
            stages = self._stage_names(task, mode)
        return self._state.apply(lifecycle.start(task, op, stages, self._state.clock.now()))

    def _stage_names(self, task: Task, mode: ExecutionMode) -> tuple[str, ...]:
        config = task.previous if mode is ExecutionMode.ROLLBACK else task.config
        assert config is not None
        return self._builder.names(StageRequest(task.tenant_id, config, mode))

    def _spawn(self, task_id: str, admission: Admission | None) -> None:
        # Stopping: what is unfinished stays in the store for the next engine.
        if self._background(self._run(task_id, admission), f"task:{task_id}"):
            self._runners.add(task_id)

    async def _run(self, task_id: str, admission: Admission | None) -> None:
        """Start an admitted task (None: one recovered executing) and run it to its end."""
        try:
            first = None
            if admission is not None:
                first = await self._start_admitted(admission)
                if first is None:
                    return
            await self._runner.run(task_id, first)
            task = self._state.tasks[task_id]
            if task.status not in EXECUTING_TASK_STATUSES and self._fatal is None:
                await self._claims.release(task_id)
        finally:
            self._runners.discard(task_id)
            self._changed.set()

    # ----------------------------------------------------------------- background loops

    async def _control_loop(self) -> None:
        interval = self._settings.engine.control_poll_interval
        ttl = self._settings.engine.control_ttl
        clock = self._state.clock
        while True:
            for request in await self._store.pending_controls():
                if clock.now() - request.created_at > ttl:
                    # Its sender gave up long ago: performing it now would surprise everyone.
                    outcome: Outcome = Refused(
                        ErrorType.SERVICE_UNAVAILABLE,
                        f"request expired after {ttl:.0f}s without an engine",
                    )
                else:
                    outcome = await self._perform_request(request)
                await self._store.finish_control(
                    replace(request, outcome=outcome), fence=self._state.fence
                )
            await clock.sleep(interval)

    async def _lease_loop(self) -> None:
        """Renew the store's lease a third of its TTL apart; stop the engine when it is lost.

        The lease is shared with other processes, so it runs on the host's wall clock and real
        sleeps, not on the engine's ``Clock`` (which tests replace with virtual time).
        """
        ttl = self._settings.engine.lease_ttl
        while True:
            await asyncio.sleep(ttl / 3)
            assert self._lease is not None
            renewed = await renew_lease(self._store, self._lease, ttl)
            if renewed is None:
                error = LeaseLostError("this engine's lease was taken by another engine")
                self._on_fatal(error)
                raise error
            self._lease = renewed

    async def answer(self, request: ControlRequest) -> None:
        """Perform a queued request now and record its outcome; run the work if accepted.

        For a command whose request was left unanswered by an engine that stopped: its own
        (held) engine answers it, so it is answered exactly once and a refusal changes nothing.
        """
        outcome = await self._perform_request(request)
        await self._store.finish_control(replace(request, outcome=outcome), fence=self._state.fence)
        if isinstance(outcome, Accepted):
            self.proceed()

    async def _perform_request(self, request: ControlRequest) -> Outcome:
        """A mailbox request's outcome; an engine failure is an outcome too, for its sender."""
        try:
            return await self.perform(request.command)
        except SwitchoverError as exc:
            return Refused(ErrorType.SERVICE_UNAVAILABLE, f"the engine failed: {exc}")

    async def perform(self, command: Command) -> Outcome:
        """Perform an operator command: the one dispatch every front end goes through.

        Returns:
            ``Accepted`` (what it did) or ``Refused`` (why not; nothing changed).

        Raises:
            SwitchoverError: the engine itself failed (e.g. its store), not the command.
        """
        refused = await self._refuse_foreign(command)
        if refused is not None:
            return refused
        try:
            match command:
                case SubmitPlan():
                    await self._adopt_plan(command.target.key)
                    return Accepted(command.target.key, (), "plan admitted")
                case Pause():
                    accepted = await self._ops.pause(command)
                case Resume():
                    accepted = await self._ops.resume(command)
                case Cancel():
                    accepted = await self._ops.cancel(command)
                case Retry():
                    accepted = await self._ops.retry(command)
                case Rollback():
                    accepted = await self._ops.rollback(command)
                case Promote():
                    accepted = await self._ops.promote(command)
                case _:
                    assert_never(command)
        except (NotFoundError, OperationRefusedError, InvalidTransitionError) as exc:
            return refusal(exc)
        # The audit trail: who asked for what, and what it was accepted as.
        self._state.write(
            accepted.plan_id,
            events=[lifecycle.operation_event(command, accepted, self._state.clock.now())],
            drive_plan=False,
        )
        return accepted

    async def _refuse_foreign(self, command: Command) -> Refused | None:
        """A refusal when the command's plan runs with other settings than this engine's."""
        target = command.target
        if target.kind is TargetKind.PLAN:
            plan_id: str | None = target.key
        elif target.kind is TargetKind.TASK:
            plan_id = target.key.partition("/")[0]
        else:
            found = await self._store.find_task(target.key)
            plan_id = found.plan_id if found is not None else None
        if plan_id is None or plan_id in self._state.plans:
            return None
        plan = await self._store.get_plan(plan_id)
        return self._bound_elsewhere(plan) if plan is not None else None

    async def _adopt_plan(self, plan_id: str) -> None:
        await self._load_plan(plan_id)
        self._schedule_admit()

    # ----------------------------------------------------------------- facade: submit

    async def submit_plan(
        self, spec: PlanSpec, *, actor: str = DEFAULT_ACTOR, reason: str | None = None
    ) -> Plan:
        """Create a plan and its tasks (each with its previous-config snapshot) and start it.

        Raises:
            ConflictError: a plan with this id exists.
        """
        now = self._state.clock.now()
        plan, tasks, events = lifecycle.created(
            spec,
            forward_stages(self._builder),
            now,
            actor=actor,
            reason=reason,
            binding=self._binding,
            settings_file=self._settings_file,
        )
        await self._store.create_plan(plan, tasks, events)
        self._install(plan, tasks)
        return plan

    # ----------------------------------------------------------------- facade: operations

    async def pause(self, target: Target, *, actor: str = DEFAULT_ACTOR) -> Accepted:
        """Pause a task at its next stage boundary, or a whole plan (see ``Operations``).

        Raises:
            NotFoundError, OperationRefusedError: refused; nothing changed.
        """
        return accepted_or_raise(await self.perform(Pause(target=target, actor=actor)))

    async def resume(self, target: Target, *, actor: str = DEFAULT_ACTOR) -> Accepted:
        """Resume a paused task (from its next stage) or every paused task of a plan."""
        return accepted_or_raise(await self.perform(Resume(target=target, actor=actor)))

    async def cancel(self, target: Target, *, actor: str = DEFAULT_ACTOR) -> Accepted:
        """Cancel a task (at its next stage boundary when running, at once otherwise) or a plan."""
        return accepted_or_raise(await self.perform(Cancel(target=target, actor=actor)))

    async def retry(
        self,
        target: Target,
        *,
        from_checkpoint: bool = False,
        actor: str = DEFAULT_ACTOR,
        force: bool = False,
    ) -> Accepted:
        """Run a FAILED task again (fresh, or from its checkpoint); re-run a failed rollback."""
        command = Retry(target=target, actor=actor, from_checkpoint=from_checkpoint, force=force)
        return accepted_or_raise(await self.perform(command))

    async def rollback(
        self,
        target: Target,
        *,
        version: int | None = None,
        from_checkpoint: bool = False,
        actor: str = DEFAULT_ACTOR,
        force: bool = False,
    ) -> Accepted:
        """Re-run the task's stages with its previous config (SPEC §7)."""
        command = Rollback(
            target=target,
            actor=actor,
            version=version,
            from_checkpoint=from_checkpoint,
            force=force,
        )
        return accepted_or_raise(await self.perform(command))

    # ----------------------------------------------------------------- facade: queries

    async def get_plan(self, plan_id: str) -> Plan:
        """The plan as it is now.

        Raises:
            NotFoundError: no such plan.
        """
        plan = self._state.plans.get(plan_id) or await self._state.store.get_plan(plan_id)
        if plan is None:
            raise NotFoundError("plan", plan_id)
        return plan

    async def get_task(self, task_id: str) -> Task:
        """The task as it is now.

        Raises:
            NotFoundError: no such task.
        """
        task = self._state.tasks.get(task_id) or await self._state.store.get_task(task_id)
        if task is None:
            raise NotFoundError("task", task_id)
        return task

    async def find_task(self, tenant_id: str) -> Task:
        """The tenant's most recent task.

        Raises:
            NotFoundError: the tenant has no task.
        """
        task = await self._state.store.find_task(tenant_id)
        if task is None:
            raise NotFoundError("tenant", tenant_id)
        return self._state.tasks.get(task.task_id, task)

    async def list_tasks(self, plan_id: str) -> list[Task]:
        """The plan's tasks in submission order."""
        if plan_id in self._state.plans:
            return self._state.plan_tasks(plan_id)
        return await self._state.store.list_tasks(plan_id)

    async def events(
        self, plan_id: str, since: int = 0, *, follow: bool = False, poll: float = 0.2
    ) -> AsyncIterator[Event]:
        """The plan's events after sequence number ``since``; with ``follow``, forever."""
        async for event in tail_events(
            self._store, plan_id, since, follow=follow, poll=poll, clock=self._state.clock
        ):
            yield event

    def subscribe(
        self, plan_id: str, listener: Callable[[list[Event]], None]
    ) -> Callable[[], None]:
        """Tell ``listener`` every event of the plan this engine commits, in order, once durable.

        For followers in the engine's own process: no store reads. Events committed before the
        call are not replayed (read them from the store). Returns the call that unsubscribes.
        """
        listeners = self._state.listeners.setdefault(plan_id, set())
        listeners.add(listener)

        def unsubscribe() -> None:
            listeners.discard(listener)

        return unsubscribe

    # ----------------------------------------------------------------- rollout timers

    def _wake_at(self, plan_id: str, at: float) -> None:
        """Look at the plan's rollout again at ``at`` (a bake ends then)."""
        if self._wakes.get(plan_id) == at:
            return
        self._wakes[plan_id] = at
        if self._tg is not None:  # else: started with the engine (see ``_serve``)
            self._background(self._sleep_then_drive(plan_id, at), f"wake:{plan_id}")

    async def _sleep_then_drive(self, plan_id: str, at: float) -> None:
        await self._go.wait()
        clock = self._state.clock
        await clock.sleep(max(0.0, at - clock.now()))
        if self._wakes.get(plan_id) == at:
            del self._wakes[plan_id]
        committed = self._state.drive(plan_id)
        if committed is not None:
            await committed

    def _after_commit(self, events: list[Event]) -> None:
        """Committed events the engine itself acts on: a failed task of a plan whose policy
        rolls failures back automatically is rolled back, as an operator's rollback would."""
        for event in events:
            if event.type is not EventType.TASK_FAILED or event.task_id is None:
                continue
            plan = self._state.plans.get(event.plan_id)
            if plan is None or plan.policy is None or not plan.policy.auto_rollback:
                continue
            task = self._state.tasks.get(event.task_id)
            if task is None or task.previous is None:
                continue
            command = Rollback(
                target=Target.task(event.task_id),
                actor="engine",
                reason="auto_rollback: the plan rolls failed tasks back",
            )
            self._background(self.perform(command), f"auto-rollback:{event.task_id}")

    def _background(self, work: Coroutine[Any, Any, Any], name: str) -> bool:
        """Run ``work`` in the engine's task group; whether it started (it is dropped when
        the engine is stopping, or its task group shutting down)."""
        tg = self._tg
        if tg is None or self._fatal is not None:
            work.close()
            return False
        try:
            tg.create_task(work, name=name)
        except RuntimeError:
            work.close()
            return False
        return True

    def executing_task_ids(self) -> list[str]:
        """The tasks this engine is running now (forward or rollback)."""
        return sorted(self._runners)

    def observe_commits(self, observer: Callable[[float], None] | None) -> None:
        """Tell ``observer`` the seconds each store commit took (queued to durable)."""
        self._state.commit_observer = observer

    def subscribe_all(self, listener: Callable[[list[Event]], None]) -> Callable[[], None]:
        """Like ``subscribe``, for the events of every plan (one call per commit)."""
        self._state.all_listeners.add(listener)
        return lambda: self._state.all_listeners.discard(listener)

    def is_busy(self, task_ids: Iterable[str] | None = None) -> bool:
        """Whether the named tasks (default: any) are executing or waiting for a slot."""
        if task_ids is None:
            return bool(self._runners or self._state.sched.has_ops())
        sched = self._state.sched
        return any(t in self._runners or sched.queued_op(t) is not None for t in task_ids)

    async def wait_idle(self, task_ids: Iterable[str] | None = None) -> None:
        """Wait until ``is_busy(task_ids)`` is false and nothing more is admissible."""
        ids = list(task_ids) if task_ids is not None else None
        while self._tg is not None or self._main is not None:
            self._changed.clear()
            if self._fatal is not None:
                raise EngineStoppedError(f"engine stopped: {self._fatal}") from self._fatal
            starting = self._go.is_set() and not self._live and self._main is not None
            if not starting and not self.is_busy(ids) and not self._admit_scheduled:
                return
            await self._changed.wait()
        if self._fatal is not None:
            raise EngineStoppedError(f"engine stopped: {self._fatal}") from self._fatal
