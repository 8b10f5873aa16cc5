"""Operator commands on tasks and plans: pause, resume, cancel, retry, rollback.

Each checks its preconditions against the cache and either refuses (raising, with nothing
changed) or applies its change through ``EngineState.write`` in the same synchronous step.
Resume, retry and rollback are queued with the scheduler for a plan slot and start when it
admits them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from msgspec.structs import replace

from switchover.domain import lifecycle
from switchover.domain.commands import (
    Accepted,
    Cancel,
    Pause,
    Promote,
    QueuedCommand,
    Resume,
    Retry,
    Rollback,
    command_name,
)
from switchover.domain.events import Event
from switchover.domain.records import BoundaryRequest, Plan, Target, TargetKind, Task
from switchover.domain.rollout import describe
from switchover.domain.status import (
    EXECUTING_TASK_STATUSES,
    TASK_TRANSITIONS,
    ExecutionMode,
    PlanStatus,
    TaskStatus,
    plan_transition,
)
from switchover.engine.state import EngineState
from switchover.errors import ErrorType, NotFoundError, OperationRefusedError, StepFailedError
from switchover.settings import Settings
from switchover.steps.targets import TargetState, UnknownTargetState

ROLLBACK_FROM = frozenset({TaskStatus.FAILED, TaskStatus.PAUSED, TaskStatus.ROLLBACK_FAILED})
_NEVER_STARTED = frozenset({TaskStatus.PENDING, TaskStatus.CANCELLED})
"""Statuses of a task that may never have touched its tenant (when it has no checkpoint)."""
"""Statuses a rollback may start from (SPEC §7)."""


class Operations:
    """The operations of the engine facade, over its state."""

    def __init__(
        self,
        state: EngineState,
        settings: Settings,
        load: Callable[[str], Awaitable[None]],
        targets: TargetState | None = None,
    ) -> None:
        self._state = state
        self._settings = settings
        self._load = load
        self._targets: TargetState = targets or UnknownTargetState()

    async def pause(self, command: Pause) -> Accepted:
        """Pause a task at its next stage boundary, or a whole plan.

        Raises:
            NotFoundError, OperationRefusedError: nothing changed.
        """
        target = command.target
        if target.kind is TargetKind.PLAN:
            return await self._pause_plan(target.key)
        task = await self._resolve(target)
        if task.status is TaskStatus.PAUSED:
            if isinstance(self._state.sched.queued_op(task.task_id), Resume):
                self._state.sched.withdraw_op(task.plan_id, task.task_id)
            return Accepted(task.plan_id, (task.task_id,), "already paused")
        if task.status is not TaskStatus.RUNNING:
            raise _refuse_state(task, "pause", "RUNNING")
        if task.requested is BoundaryRequest.CANCEL:
            raise _refuse_state(task, "pause", "RUNNING", note="a cancel is already requested")
        if task.requested is None:
            await self._state.write(task.plan_id, [self._ask(task, BoundaryRequest.PAUSE)])
        return Accepted(
            task.plan_id, (task.task_id,), "pause requested: applies at the next stage boundary"
        )

    async def _pause_plan(self, plan_id: str) -> Accepted:
        plan = await self._plan_for_op(plan_id)
        if plan.status in (PlanStatus.COMPLETED, PlanStatus.CANCELLED, PlanStatus.FAILED):
            raise _plan_refused(
                plan,
                f"plan {plan_id} is {plan.status.value}; it cannot be paused",
            )
        if plan.operator_paused:
            return Accepted(plan_id, (), "plan already paused")
        tasks = [
            self._ask(t, BoundaryRequest.PAUSE)
            for t in self._state.plan_tasks(plan_id)
            if t.status is TaskStatus.RUNNING and t.requested is None
        ]
        paused = replace(plan, operator_paused=True, updated_at=self._state.clock.now())
        events: list[Event] = []
        if plan.status is not PlanStatus.PAUSED:
            paused = replace(
                paused, status=plan_transition(plan_id, plan.status, PlanStatus.PAUSED)
            )
            events.append(self._state.plan_event(paused, stopping=len(tasks)))
        await self._state.write(plan_id, tasks, events, plan=paused)
        return Accepted(
            plan_id,
            tuple(t.task_id for t in tasks),
            f"plan paused: {len(tasks)} running task(s) stop at their next stage boundary",
        )

    async def resume(self, command: Resume) -> Accepted:
        """Resume a paused task (from its next stage) or every paused task of a plan.

        Raises:
            NotFoundError, OperationRefusedError: nothing changed.
        """
        target = command.target
        if target.kind is TargetKind.PLAN:
            return await self._resume_plan(command)
        task = await self._resolve(target)
        if task.status is TaskStatus.RUNNING and task.requested is BoundaryRequest.PAUSE:
            await self._state.write(task.plan_id, [self._ask(task, None)])
            return Accepted(task.plan_id, (task.task_id,), "pause request withdrawn")
        if task.status is TaskStatus.RUNNING:
            return Accepted(task.plan_id, (task.task_id,), "already running")
        if task.status is TaskStatus.ROLLING_BACK:
            # Left by an engine that stopped mid-rollback: the engine now running it continues
            # from the rollback checkpoint.
            return Accepted(task.plan_id, (task.task_id,), "its rollback continues")
        if task.status is not TaskStatus.PAUSED:
            raise _refuse_state(task, "resume", "PAUSED")
        self._queue(task, command)
        return Accepted(task.plan_id, (task.task_id,), "resume accepted")

    async def _resume_plan(self, command: Resume) -> Accepted:
        plan_id = command.target.key
        plan = await self._plan_for_op(plan_id)
        tasks = self._state.plan_tasks(plan_id)
        # Resuming a RUNNING plan is accepted: after a crash it is how the plan gets going again
        # (the engine doing the resume has recovered it), and it resumes any paused tasks.
        if plan.status not in (PlanStatus.PAUSED, PlanStatus.RUNNING):
            interrupted = tuple(t.task_id for t in tasks if t.status in EXECUTING_TASK_STATUSES)
            if interrupted:
                # A settled plan whose rollbacks (which never move a plan) were interrupted:
                # they continue, and the plan keeps its status.
                return Accepted(
                    plan_id,
                    interrupted,
                    f"plan {plan_id} is {plan.status.value}; "
                    f"{len(interrupted)} interrupted task(s) continue",
                )
            raise _plan_refused(
                plan,
                f"plan {plan_id} is {plan.status.value}; only a PAUSED or RUNNING plan resumes",
            )
        withdrawn = []
        resumed = []
        for task in tasks:
            if task.status is TaskStatus.RUNNING and task.requested is BoundaryRequest.PAUSE:
                withdrawn.append(self._ask(task, None))
            elif (
                task.status is TaskStatus.PAUSED
                and self._state.sched.queued_op(task.task_id) is None
            ):
                resumed.append(task)
        for task in resumed:
            self._queue(task, replace(command, target=Target.task(task.task_id)))
        unpaused = replace(plan, operator_paused=False, updated_at=self._state.clock.now())
        note = ""
        if plan.rollout.halted is not None:
            # The operator overrides the budget: admission goes on, and the budget no longer
            # halts this plan.
            unpaused = replace(
                unpaused, rollout=replace(plan.rollout, halted=None, overridden=True)
            )
            note = f"; the halt ({plan.rollout.halted}) is overridden"
        await self._state.write(plan_id, withdrawn, plan=unpaused)
        driven = self._state.drive(plan_id)  # a settled wave may go on now
        if driven is not None:
            await driven
        ids = tuple(t.task_id for t in (*withdrawn, *resumed))
        return Accepted(plan_id, ids, f"plan resumed: {len(resumed)} paused task(s) queued{note}")

    async def promote(self, command: Promote) -> Accepted:
        """Let a plan waiting between waves go on: approve the next wave, or end its bake.

        Raises:
            NotFoundError, OperationRefusedError: nothing changed (nothing waits).
        """
        target = command.target
        if target.kind is not TargetKind.PLAN:
            raise OperationRefusedError(
                ErrorType.VALIDATION_ERROR, "promote takes a plan (--plan P)"
            )
        plan = await self._plan_for_op(target.key)
        gate = plan.rollout.gate
        if gate is None:
            where = describe(plan.policy, plan.rollout) or "it has no waves"
            raise _plan_refused(plan, f"plan {plan.plan_id} waits for nothing to promote ({where})")
        committed = self._state.drive(plan.plan_id, promoted=True)
        if committed is not None:
            await committed
        after = self._state.plans[plan.plan_id].rollout
        waves = len(plan.policy.waves) if plan.policy is not None else 1
        message = f"promoted: wave {after.wave + 1} of {waves} admitted"
        if after.gate is not None:  # e.g. a bake ended early into a wait for approval
            message = f"promoted: {describe(plan.policy, after)}"
        return Accepted(plan.plan_id, (), message)

    async def cancel(self, command: Cancel) -> Accepted:
        """Cancel a task (at its next stage boundary when running, at once otherwise) or a plan.

        Raises:
            NotFoundError, OperationRefusedError: nothing changed.
        """
        target = command.target
        if target.kind is TargetKind.PLAN:
            return await self._cancel_plan(target.key)
        task = await self._resolve(target)
        if task.status is TaskStatus.RUNNING:
            if task.requested is not BoundaryRequest.CANCEL:
                await self._state.write(task.plan_id, [self._ask(task, BoundaryRequest.CANCEL)])
            return Accepted(
                task.plan_id,
                (task.task_id,),
                "cancel requested: applies at the next stage boundary" + _partly(task),
            )
        if TaskStatus.CANCELLED not in TASK_TRANSITIONS[task.status]:
            raise _refuse_state(task, "cancel", "PENDING, RUNNING, PAUSED or FAILED")
        await self._state.apply(self._cancelled(task))
        return Accepted(task.plan_id, (task.task_id,), "cancelled" + _partly(task))

    def _cancelled(self, task: Task) -> lifecycle.Step:
        self._state.sched.withdraw_op(task.plan_id, task.task_id)
        return lifecycle.cancel_now(task, self._state.clock.now())

    async def _cancel_plan(self, plan_id: str) -> Accepted:
        plan = await self._plan_for_op(plan_id)
        if plan.status in (PlanStatus.COMPLETED, PlanStatus.CANCELLED):
            raise _plan_refused(
                plan,
                f"plan {plan_id} is {plan.status.value}; it cannot be cancelled",
            )
        changed: list[Task] = []
        events: list[Event] = []
        stopping = 0
        for task in self._state.plan_tasks(plan_id):
            if task.status is TaskStatus.RUNNING:
                if task.requested is not BoundaryRequest.CANCEL:
                    changed.append(self._ask(task, BoundaryRequest.CANCEL))
                stopping += 1
            elif task.status in (TaskStatus.PENDING, TaskStatus.PAUSED, TaskStatus.FAILED):
                step = self._cancelled(task)
                changed.append(step.task)
                events.extend(step.events)
        self._state.sched.drop_pending(plan_id)
        cancelled = replace(
            plan,
            status=plan_transition(plan_id, plan.status, PlanStatus.CANCELLED),
            operator_paused=False,
            updated_at=self._state.clock.now(),
        )
        events.append(self._state.plan_event(cancelled, stopping=stopping))
        await self._state.write(plan_id, changed, events, plan=cancelled, drive_plan=False)
        return Accepted(
            plan_id,
            tuple(t.task_id for t in changed),
            f"plan cancelled: {len(events) - 1} task(s) now, {stopping} at their next boundary",
        )

    async def retry(self, command: Retry) -> Accepted:
        """Run a FAILED task again (fresh, or from its checkpoint); re-run a failed rollback.

        Raises:
            NotFoundError, OperationRefusedError: nothing changed.
        """
        task = await self._resolve(command.target)
        from_checkpoint = command.from_checkpoint
        if task.status is TaskStatus.ROLLBACK_FAILED:
            return await self.rollback(
                Rollback(
                    target=command.target,
                    actor=command.actor,
                    reason=command.reason,
                    from_checkpoint=from_checkpoint,
                )
            )
        if task.status is not TaskStatus.FAILED:
            raise _refuse_state(task, "retry", "FAILED or ROLLBACK_FAILED")
        if not command.force:
            await self._refuse_superseded(task, "retry", ErrorType.CONFLICT)
        limit = self._settings.engine.max_retries
        if task.retry_count >= limit:
            raise _refused(
                ErrorType.INVALID_STATE,
                task,
                f"task {task.task_id} has used all {limit} retries",
            )
        self._claim(task)
        self._queue(task, command)
        where = (
            "from its checkpoint" if from_checkpoint and task.checkpoint else "from the first stage"
        )
        return Accepted(task.plan_id, (task.task_id,), f"retry accepted ({where})")

    async def rollback(self, command: Rollback) -> Accepted:
        """Re-run the task's stages with its previous config (SPEC §7).

        Raises:
            NotFoundError, OperationRefusedError: nothing changed; ROLLBACK_PRECONDITION_FAILED
                when the status is not FAILED, PAUSED or ROLLBACK_FAILED or there is no
                previous config, TENANT_BUSY when another task holds the tenant.
        """
        task = await self._resolve(command.target)
        version = command.version
        if task.status not in ROLLBACK_FROM:
            raise _refused(
                ErrorType.ROLLBACK_PRECONDITION_FAILED,
                task,
                f"task {task.task_id} is {task.status.value}; "
                "rollback needs FAILED, PAUSED or ROLLBACK_FAILED",
            )
        if task.previous is None:
            raise _refused(
                ErrorType.ROLLBACK_PRECONDITION_FAILED,
                task,
                f"task {task.task_id} has no previous config "
                "(sourceTenantDeployConfig); it cannot be rolled back",
            )
        if not command.force:
            await self._refuse_superseded(task, "rollback", ErrorType.ROLLBACK_PRECONDITION_FAILED)
            await self._refuse_drift(task)
        self._claim(task)
        self._queue(task, command)
        to = version if version is not None else task.previous.plan_version
        return Accepted(task.plan_id, (task.task_id,), f"rollback accepted (to version {to})")

    async def _refuse_superseded(self, task: Task, action: str, error_type: ErrorType) -> None:
        """Refuse when a newer task has switched the tenant since ``task`` ran: writing this
        task's configs back would undo the newer one's work."""
        for other in await self._state.store.tenant_history(task.tenant_id, limit=20):
            if other.task_id == task.task_id or other.created_at <= task.created_at:
                continue
            if other.checkpoint is not None or other.status not in _NEVER_STARTED:
                raise _refused(
                    error_type,
                    task,
                    f"tenant {task.tenant_id} has since been switched by task {other.task_id} "
                    f"({other.status.value}, version {other.run_version}); a {action} of "
                    f"{task.task_id} would undo it. Act on {other.task_id} instead, or pass "
                    "--force",
                )

    async def _refuse_drift(self, task: Task) -> None:
        """Refuse a rollback onto a tenant whose record holds a version that is neither the
        task's nor its previous config's: something else moved it."""
        assert task.previous is not None
        try:
            current = await self._targets.current_version(task.tenant_id)
        except StepFailedError as exc:
            raise _refused(
                ErrorType.ROLLBACK_PRECONDITION_FAILED,
                task,
                f"cannot read tenant {task.tenant_id}'s current version to check for drift "
                f"({exc}); try again, or pass --force",
            ) from exc
        known = {task.config.plan_version, task.previous.plan_version, task.run_version}
        if current is not None and current not in known:
            raise _refused(
                ErrorType.ROLLBACK_PRECONDITION_FAILED,
                task,
                f"tenant {task.tenant_id}'s record holds version {current}, which is neither "
                f"task {task.task_id}'s ({task.config.plan_version}) nor its previous config's "
                f"({task.previous.plan_version}): something else changed it (drift). Check "
                "the tenant, or pass --force",
            )

    def _ask(self, task: Task, request: BoundaryRequest | None) -> Task:
        """``task`` asked to pause or cancel at its next boundary (None: the ask withdrawn)."""
        return lifecycle.request_at_boundary(task, request, self._state.clock.now())

    def _claim(self, task: Task) -> None:
        queued = self._state.sched.queued_op(task.task_id)
        if queued is not None:
            raise _refused(
                ErrorType.CONFLICT,
                task,
                f"task {task.task_id} already has a queued {command_name(queued)}",
            )
        if not self._state.sched.hold_tenant(task.tenant_id, task.task_id):
            holder = self._state.sched.tenant_holder(task.tenant_id)
            raise _refused(
                ErrorType.TENANT_BUSY,
                task,
                f"tenant {task.tenant_id} is busy with task {holder}",
            )

    def _queue(self, task: Task, op: QueuedCommand) -> None:
        self._state.sched.queue_op(task.plan_id, task.task_id, op)
        self._state.notify()

    async def _resolve(self, target: Target) -> Task:
        if target.kind is TargetKind.TASK:
            task = self._state.tasks.get(target.key) or await self._state.store.get_task(target.key)
            if task is None:
                raise NotFoundError("task", target.key)
        elif target.kind is TargetKind.TENANT:
            task = await self._state.store.find_task(target.key)
            if task is None:
                raise NotFoundError("tenant", target.key)
        else:
            raise OperationRefusedError(
                ErrorType.VALIDATION_ERROR, f"{target} does not name a task"
            )
        await self._load(task.plan_id)
        return self._state.tasks[task.task_id]

    async def _plan_for_op(self, plan_id: str) -> Plan:
        await self._load(plan_id)
        return self._state.plans[plan_id]


def _partly(task: Task) -> str:
    """A warning for a task cancelled after some stage completed: its tenant is half-switched."""
    checkpoint = task.checkpoint
    if checkpoint is None or not checkpoint.completed or task.mode is not ExecutionMode.NORMAL:
        return ""
    return (
        f"; tenant {task.tenant_id} is partly switched (done: {', '.join(checkpoint.completed)})"
        f": put it back with 'switchover revert --plan {task.plan_id} --tenant {task.tenant_id}'"
    )


def _refuse_state(
    task: Task, action: str, needed: str, *, note: str | None = None
) -> OperationRefusedError:
    reason = f"; {note}" if note else ""
    return _refused(
        ErrorType.INVALID_STATE,
        task,
        f"task {task.task_id} is {task.status.value}; {action} needs {needed}{reason}",
    )


def _refused(error_type: ErrorType, task: Task, message: str) -> OperationRefusedError:
    return OperationRefusedError(
        error_type,
        message,
        task_id=task.task_id,
        tenant_id=task.tenant_id,
        status=task.status.value,
    )


def _plan_refused(plan: Plan, message: str) -> OperationRefusedError:
    return OperationRefusedError(ErrorType.INVALID_STATE, message, status=plan.status.value)
