"""``Operator``: submits plans and performs commands through a ``Session`` (the live engine,
or one of its own), refuses what cannot be done safely, and follows the resulting work to its
outcome, making sure an engine runs it all along."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from switchover.bulk import MAX_SELECTED, BulkOutcome, Selection, perform_each
from switchover.domain.commands import (
    DEFAULT_ACTOR,
    Accepted,
    Command,
    Resume,
    Retry,
    Rollback,
)
from switchover.domain.events import Event
from switchover.domain.records import (
    Plan,
    PlanSpec,
    TargetKind,
    Task,
    TenantSpec,
    bound_elsewhere,
)
from switchover.domain.revert import Skipped, revert_id, revert_spec
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.engine.session import Session
from switchover.engine.tail import tail_events
from switchover.errors import ConflictError, ErrorType, NotFoundError, OperationRefusedError
from switchover.service.progress import (
    Done,
    Progress,
    Result,
    TaskProgress,
    Update,
    Watch,
    watch_for,
)
from switchover.service.query import Queries
from switchover.settings import Settings
from switchover.wiring import Runtime, runtime

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
        try:
            accepted = await self.session.perform(command)
        except NotFoundError as exc:
            raise await self._suggesting(exc) from None
        return accepted, await self._watch(command, accepted, since)

    async def _suggesting(self, exc: NotFoundError) -> NotFoundError:
        """``exc`` naming the ids close to the one not found (a refusal that came through
        another engine's mailbox names none)."""
        kinds = {kind.value: kind for kind in TargetKind}
        if exc.suggestions or exc.kind not in kinds:
            return exc
        return await Queries(self.session.store).missing(kinds[exc.kind], exc.key)

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
            raise await Queries(store).missing(TargetKind.PLAN, selection.plan_id)
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
            raise await Queries(store).missing(TargetKind.PLAN, selection.plan_id)
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
            progress.track(
                task.task_id,
                TaskProgress(task.tenant_id, task.status, task.current_stage),
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
