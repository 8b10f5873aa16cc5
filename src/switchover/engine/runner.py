"""Running a task: its stages in order, each step prepare → execute → validate, checkpoints."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from switchover.discovery.protocol import Discovery
from switchover.domain import lifecycle
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Task
from switchover.domain.status import EXECUTING_TASK_STATUSES, ExecutionMode, TaskStatus
from switchover.engine.journal import TaskJournal
from switchover.engine.state import EngineState
from switchover.errors import ErrorType, LeaseLostError, StepFailedError
from switchover.secrets import Scrubber
from switchover.settings import Settings
from switchover.stages.base import Stage, StageBuilder, StageRequest
from switchover.steps.locks import Fence
from switchover.steps.protocol import StepContext

_COUNTED = {
    TaskStatus.COMPLETED: "tasks_completed",
    TaskStatus.FAILED: "tasks_failed",
    TaskStatus.ROLLED_BACK: "rollback_success",
    TaskStatus.ROLLBACK_FAILED: "rollback_failed",
}
"""The counter each way a run can end increments."""


class TaskRunner:
    """Executes tasks' stages for the engine; every change goes through ``EngineState.write``.

    After each successful stage one commit holds the checkpoint, ``StageCompleted`` and the next
    ``StageStarted``; a pause or cancel requested meanwhile is applied at that boundary (never
    during a rollback). A failed step fails the stage and the task with a FailureInfo naming
    both; in a rollback the failure becomes ROLLBACK_HEALTH_CHECK_FAILED or
    ROLLBACK_PARTIAL_FAILED (see ``lifecycle.task_failure``).
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
        parking: Callable[[], bool] = lambda: False,
        guard: Callable[[], Awaitable[None]],
        fence: Callable[[Task], Awaitable[Fence]],
        scrubber: Scrubber | None = None,
    ) -> None:
        """Set the runner up.

        Args:
            state: the engine's cache and write path.
            builder: builds a run's stages.
            settings: step settings, ``engine.stage_deadline``.
            discovery: passed to the steps.
            metrics: counters the runner increments.
            stopping: whether the engine is stopping (errors then end the run, not the task).
            parking: whether the engine is quiescing: a run stops at its next stage boundary,
                left RUNNING with its checkpoint for the next engine to continue.
            guard: awaited before each step acts; raises ``LeaseLostError`` when this engine
                no longer holds the store.
            fence: the task's claim on its tenant in the targets (claiming it if needed).
            scrubber: masks configured secrets in failures and warnings before they are
                stored (a peer may quote a token back in its answer).
        """
        self._scrubber = scrubber or Scrubber.empty()
        self._state = state
        self._guard = guard
        self._fence = fence
        self._builder = builder
        self._settings = settings
        self._discovery = discovery
        self._stopping = stopping
        self._parking = parking
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
            cause = self._failure(
                ErrorType.SYSTEM_ERROR,
                f"engine error: {type(exc).__name__}: {exc}",
                task.current_stage,
            )
            now = self._state.clock.now()
            await self._finish(lifecycle.stage_failed(task, cause, task.next_stage, now))
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
        clock = self._state.clock
        if not started:
            # Recovered after a crash: honour a pause/cancel asked before it, then restart.
            step = lifecycle.recover(task, names, clock.now())
            if step.events:
                await self._state.apply(step)
            if step.task.status is not task.status:
                return
        task = self._state.tasks[task_id]
        index = task.next_stage
        if index >= len(stages):
            await self._finish(lifecycle.succeeded(task, task.checkpoint, clock.now()))
            return
        self._state.beats[task_id] = clock.monotonic()
        self.beating.set()
        policy = self._state.plans[task.plan_id].policy
        stage_deadline = (policy.stage_deadline if policy else None) or (
            self._settings.engine.stage_deadline
        )
        task_deadline = (policy.task_deadline if policy else None) or (
            self._settings.engine.task_deadline
        )
        planned = policy is not None and policy.stage_deadline is not None
        run_started = clock.monotonic()
        while True:
            left = task_deadline - (clock.monotonic() - run_started)
            cause = await self._run_stage(
                self._state.tasks[task_id],
                stages[index],
                config,
                source,
                (
                    stage_deadline,
                    "the plan's deadlines.stage" if planned else "engine.stage_deadline",
                ),
                (left, task_deadline),
            )
            task = self._state.tasks[task_id]
            if cause is not None:
                await self._finish(lifecycle.stage_failed(task, cause, index, clock.now()))
                return
            self.metrics["stages_completed"] += 1
            step = lifecycle.stage_completed(task, index, clock.now())
            if step.task.status is not task.status:
                await self._finish(step)
                return
            await self._state.apply(step)
            if self._parking():
                return  # quiescing: the next engine continues from this checkpoint
            index += 1

    async def _finish(self, step: lifecycle.Step) -> None:
        """Write the step that ends the run, and count how it ended."""
        status = step.task.status
        if status in _COUNTED:
            self.metrics[_COUNTED[status]] += 1
        await self._state.apply(step)

    async def _run_stage(
        self,
        task: Task,
        stage: Stage,
        config: Any,
        source: Any,
        stage_limit: tuple[float, str],
        task_left: tuple[float, float],
    ) -> FailureInfo | None:
        """Run the stage's steps within the stage deadline and what is left of the task's;
        the failure, or None."""
        stage_deadline, setting = stage_limit
        left, task_deadline = task_left
        by_task = left < stage_deadline
        deadline = max(left, 0.0) if by_task else stage_deadline
        step_name: list[str | None] = [None]
        try:
            async with asyncio.timeout(deadline):
                return await self._run_steps(task, stage, config, source, step_name)
        except TimeoutError:
            if by_task:
                message = (
                    f"task {task.task_id} did not finish within {task_deadline:g}s "
                    f"(task deadline), at stage {stage.name}"
                )
                details: dict[str, Any] = {"task_deadline": task_deadline}
            else:
                message = f"stage {stage.name} did not finish within {deadline:g}s ({setting})"
                details = {"stage_deadline": deadline}
            return FailureInfo(
                ErrorType.TIMEOUT_ERROR,
                message,
                stage.name,
                step_name[0],
                retryable=True,
                details=details,
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
            return self._failure(
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
            counters=self.metrics,
        )
        for step in stage.steps:
            current[0] = step.name
            try:
                await step.prepare(ctx)
                await self._guard()
                await step.execute(ctx)
                await step.validate(ctx)
            except StepFailedError as exc:
                return self._failure(
                    exc.error_type, str(exc), stage.name, step.name, exc.retryable, exc.details
                )
            except (asyncio.CancelledError, LeaseLostError):
                raise
            except Exception as exc:
                return self._failure(
                    ErrorType.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}", stage.name, step.name
                )
        return None

    def _failure(
        self,
        error_type: ErrorType,
        message: str,
        stage: str | None,
        step: str | None = None,
        retryable: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> FailureInfo:
        """A stage's FailureInfo, with every configured secret masked."""
        scrub = self._scrubber
        return FailureInfo(
            error_type,
            scrub.scrub(message),
            stage,
            step,
            retryable,
            scrub.scrub_data(dict(details or {})),
        )

    async def _warn(
        self, task_id: str, stage: str, message: str, details: Mapping[str, Any]
    ) -> None:
        task = self._state.tasks[task_id]
        data = self._scrubber.scrub_data({**details, "message": message})
        event = self._state.event(EventType.STEP_WARNING, task, stage=stage, data=data)
        await self._state.write(task.plan_id, (), [event], drive_plan=False)

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
