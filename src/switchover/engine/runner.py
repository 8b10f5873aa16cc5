"""Running a task: its stages in order, each step prepare → execute → validate, checkpoints."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from switchover.discovery.protocol import Discovery
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import BoundaryRequest, Checkpoint, Task
from switchover.domain.status import EXECUTING_TASK_STATUSES, ExecutionMode, TaskStatus
from switchover.engine.journal import TaskJournal
from switchover.engine.outcome import task_failure
from switchover.engine.state import EngineState
from switchover.errors import ErrorType, LeaseLostError, StepFailedError
from switchover.settings import Settings
from switchover.stages.base import Stage, StageBuilder, StageRequest
from switchover.steps.locks import Fence
from switchover.steps.protocol import StepContext


class TaskRunner:
    """Executes tasks' stages for the engine; every change goes through ``EngineState.write``.

    After each successful stage one commit holds the checkpoint, ``StageCompleted`` and the next
    ``StageStarted``; a pause or cancel requested meanwhile is applied at that boundary (never
    during a rollback). A failed step fails the stage and the task with a FailureInfo naming
    both; in a rollback the failure becomes ROLLBACK_HEALTH_CHECK_FAILED or
    ROLLBACK_PARTIAL_FAILED (see ``outcome.task_failure``).
    """

    def __init__(
        self,
        state: EngineState,
        builder: StageBuilder,
        *,
        settings: Settings,
        discovery: Discovery,
        metrics: Counter[str],
        stopping: Callable[[], bool],
        guard: Callable[[], Awaitable[None]],
        fence: Callable[[Task], Awaitable[Fence]],
    ) -> None:
        """Set the runner up.

        Args:
            state: the engine's cache and write path.
            builder: builds a run's stages.
            settings: step settings, ``engine.stage_deadline``.
            discovery: passed to the steps.
            metrics: counters the runner increments.
            stopping: whether the engine is stopping (errors then end the run, not the task).
            guard: awaited before each step acts; raises ``LeaseLostError`` when this engine
                no longer holds the store.
            fence: the task's claim on its tenant in the targets (claiming it if needed).
        """
        self._state = state
        self._guard = guard
        self._fence = fence
        self._builder = builder
        self._settings = settings
        self._discovery = discovery
        self._stopping = stopping
        self.metrics = metrics
        self.beating = asyncio.Event()

    async def run(self, task_id: str, first: asyncio.Future[list[Event]] | None) -> None:
        """Run the task's current run (forward or rollback) from its checkpoint to its end.

        Args:
            task_id: a task whose status is RUNNING or ROLLING_BACK in the cache.
            first: the commit of its admission (None when recovered after a crash).
        """
        try:
            if first is not None:
                await first
            await self._run_stages(task_id, started=first is not None)
        except (asyncio.CancelledError, LeaseLostError):
            raise
        except Exception as exc:
            task = self._state.tasks[task_id]
            if task.status not in EXECUTING_TASK_STATUSES or self._stopping():
                raise
            cause = FailureInfo(
                ErrorType.SYSTEM_ERROR,
                f"engine error: {type(exc).__name__}: {exc}",
                stage=task.current_stage,
            )
            await self._finish_failed(task, cause, task.next_stage)
        finally:
            self._state.beats.pop(task_id, None)

    async def _run_stages(self, task_id: str, *, started: bool) -> None:
        task = self._state.tasks[task_id]
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
                task = self._state.changed(task, stages=names, current_stage=names[index])
                start_event = self._state.event(
                    EventType.STAGE_STARTED, task, stage=names[index], index=index, recovered=True
                )
                await self._state.write(task.plan_id, [task], [start_event])
        if index >= len(stages):
            await self._finish_succeeded(task, task.checkpoint, [])
            return
        self._state.beats[task_id] = self._state.clock.monotonic()
        self.beating.set()
        while True:
            stage = stages[index]
            cause = await self._run_stage(self._state.tasks[task_id], stage, config, source)
            task = self._state.tasks[task_id]
            if cause is not None:
                if cause.error_type is ErrorType.TIMEOUT_ERROR and await self._cancel_stuck(
                    task, cause
                ):
                    return
                await self._finish_failed(task, cause, index, names)
                return
            done = task.checkpoint.completed if task.checkpoint else ()
            checkpoint = Checkpoint(task.mode, index, (*done, stage.name), self._state.clock.now())
            completed = self._state.event(
                EventType.STAGE_COMPLETED, task, stage=stage.name, index=index
            )
            self.metrics["stages_completed"] += 1
            if index + 1 == len(stages):
                await self._finish_succeeded(task, checkpoint, [completed])
                return
            if await self._stop_at_boundary(task, checkpoint, completed):
                return
            index += 1
            task = self._state.changed(task, checkpoint=checkpoint, current_stage=names[index])
            started_event = self._state.event(
                EventType.STAGE_STARTED, task, stage=names[index], index=index
            )
            await self._state.write(
                task.plan_id, [task], [completed, started_event], drive_plan=False
            )

    async def _run_stage(
        self, task: Task, stage: Stage, config: Any, source: Any
    ) -> FailureInfo | None:
        """Run the stage's steps within ``engine.stage_deadline``; the failure, or None."""
        deadline = self._settings.engine.stage_deadline
        step_name: list[str | None] = [None]
        try:
            async with asyncio.timeout(deadline):
                return await self._run_steps(task, stage, config, source, step_name)
        except TimeoutError:
            return FailureInfo(
                ErrorType.TIMEOUT_ERROR,
                f"stage {stage.name} did not finish within {deadline:g}s (engine.stage_deadline)",
                stage.name,
                step_name[0],
                retryable=True,
                details={"stage_deadline": deadline},
            )

    async def _run_steps(
        self, task: Task, stage: Stage, config: Any, source: Any, current: list[str | None]
    ) -> FailureInfo | None:
        journal = TaskJournal(
            lambda message, details: self._warn(task.task_id, stage.name, message, details)
        )
        try:
            await self._guard()
            fence = await self._fence(task)
        except StepFailedError as exc:
            return FailureInfo(
                exc.error_type, str(exc), stage.name, "claim", exc.retryable, exc.details
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
            clock=self._state.clock,
            discovery=self._discovery,
            journal=journal,
            fence=fence,
        )
        for step in stage.steps:
            current[0] = step.name
            try:
                await step.prepare(ctx)
                await self._guard()
                await step.execute(ctx)
                await step.validate(ctx)
            except StepFailedError as exc:
                return FailureInfo(
                    exc.error_type, str(exc), stage.name, step.name, exc.retryable, exc.details
                )
            except (asyncio.CancelledError, LeaseLostError):
                raise
            except Exception as exc:
                return FailureInfo(
                    ErrorType.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}", stage.name, step.name
                )
        return None

    async def _warn(
        self, task_id: str, stage: str, message: str, details: Mapping[str, Any]
    ) -> None:
        task = self._state.tasks[task_id]
        event = self._state.event(
            EventType.STEP_WARNING, task, stage=stage, data={**details, "message": message}
        )
        await self._state.write(task.plan_id, (), [event], drive_plan=False)

    async def _cancel_stuck(self, task: Task, cause: FailureInfo) -> bool:
        """A stage ran out of time while a cancel was waiting for it: the task is CANCELLED.

        The cause stays on the task, so its status says which stage was cut short.
        """
        if task.mode is ExecutionMode.ROLLBACK or task.requested is not BoundaryRequest.CANCEL:
            return False
        stopped = self._state.changed(
            task, status=TaskStatus.CANCELLED, requested=None, current_stage=None, failure=cause
        )
        events = [
            self._state.event(EventType.STAGE_FAILED, stopped, stage=cause.stage, failure=cause),
            self._state.event(
                EventType.TASK_CANCELLED, stopped, failure=cause, next_stage=stopped.next_stage
            ),
        ]
        await self._state.write(task.plan_id, [stopped], events)
        return True

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
        stopped = self._state.changed(
            task,
            status=status,
            requested=None,
            current_stage=None,
            checkpoint=checkpoint or task.checkpoint,
        )
        event = self._state.event(kind, stopped, next_stage=stopped.next_stage)
        await self._state.write(task.plan_id, [stopped], [*events, event])
        return True

    async def _finish_succeeded(
        self, task: Task, checkpoint: Checkpoint | None, events: list[Event]
    ) -> None:
        rollback = task.mode is ExecutionMode.ROLLBACK
        status = TaskStatus.ROLLED_BACK if rollback else TaskStatus.COMPLETED
        done = self._state.changed(
            task, status=status, checkpoint=checkpoint, current_stage=None, requested=None
        )
        kind = EventType.TASK_ROLLED_BACK if rollback else EventType.TASK_COMPLETED
        self.metrics["rollback_success" if rollback else "tasks_completed"] += 1
        await self._state.write(
            task.plan_id,
            [done],
            [*events, self._state.event(kind, done, version=done.run_version)],
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
        failed = self._state.changed(
            task, status=status, failure=failure, current_stage=None, requested=None
        )
        kind = EventType.TASK_ROLLBACK_FAILED if rollback else EventType.TASK_FAILED
        events = [self._state.event(kind, failed, failure=failure)]
        if cause.stage is not None:
            events.insert(
                0,
                self._state.event(EventType.STAGE_FAILED, failed, stage=cause.stage, failure=cause),
            )
        self.metrics["rollback_failed" if rollback else "tasks_failed"] += 1
        await self._state.write(task.plan_id, [failed], events, drive_plan=not rollback)

    # ----------------------------------------------------------------- background loops

    async def heartbeat(self) -> None:
        """Emit ``TaskProgress`` for every task running longer than the interval, forever."""
        interval = self._settings.engine.heartbeat_interval
        while True:
            if not self._state.beats:
                self.beating.clear()
                await self.beating.wait()
                continue
            await self._state.clock.sleep(interval / 2)
            now = self._state.clock.monotonic()
            due: dict[str, list[Event]] = {}
            for task_id, last in list(self._state.beats.items()):
                if now - last < interval:
                    continue
                task = self._state.tasks[task_id]
                self._state.beats[task_id] = now
                due.setdefault(task.plan_id, []).append(
                    self._state.event(
                        EventType.TASK_PROGRESS,
                        task,
                        stage=task.current_stage,
                        index=task.next_stage,
                        stages_total=len(task.stages),
                    )
                )
            for plan_id, events in due.items():
                self._state.write(plan_id, (), events, drive_plan=False)
