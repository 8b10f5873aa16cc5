"""The Session: its own held engine, the live engine's mailbox, takeover, drain and submit.

A second Engine on the same MemoryStore, in the same event loop, stands for another process's
engine: to a Session that is exactly what a live lease held elsewhere means.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from switchover.clock import Clock, SystemClock
from switchover.domain import lifecycle
from switchover.domain.commands import Accepted, Command, ControlRequest, Pause, Retry, Rollback
from switchover.domain.events import Event, EventType
from switchover.domain.records import Lease, PlanSpec, Target
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.engine.engine import Engine
from switchover.engine.session import Session
from switchover.errors import (
    EngineUnavailableError,
    ErrorType,
    NotFoundError,
    OperationRefusedError,
    StoreError,
    SwitchoverError,
)
from switchover.stages.base import forward_stages
from switchover.stores.memory import MemoryStore
from switchover.stores.protocol import Change
from tests.engine.conftest import NoDiscovery, engine_settings
from tests.support.clock import FakeClock
from tests.support.stages import Fail, Gate, Script, ScriptedBuilder, make_spec

BOUND = 10.0
"""Seconds any one test may take."""

FIRST_RUN_FAILED = ["alpha", "beta"]
"""The stages a task failing at beta ran before an operator acted on it."""

FULL_RUN = ["alpha", "beta", "gamma"]


class ObservedStore(MemoryStore):
    """A MemoryStore that counts mailbox polls and answers, and can be made to fail commits."""

    def __init__(self) -> None:
        super().__init__()
        self.polls = 0
        self.answers: Counter[str] = Counter()
        self.broken = False

    async def pending_controls(self) -> list[ControlRequest]:
        self.polls += 1
        return await super().pending_controls()

    async def finish_control(self, request: ControlRequest, fence: int | None = None) -> None:
        await super().finish_control(request, fence)
        self.answers[request.control_id] += 1

    def submit(self, change: Change) -> asyncio.Future[list[Event]]:
        if not self.broken:
            return super().submit(change)
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        future.set_exception(StoreError("the disk is full"))
        return future


@dataclass
class World:
    """One store, one clock and one script shared by every engine and session of a test."""

    store: ObservedStore
    clock: FakeClock
    script: Script
    engines: list[Engine] = field(default_factory=list)

    def engine(self, *, clock: Clock | None = None, **engine: object) -> Engine:
        made = Engine(
            self.store,
            ScriptedBuilder(self.script),
            settings=engine_settings(**engine),
            discovery=NoDiscovery(),
            clock=clock or self.clock,
        )
        self.engines.append(made)
        return made

    def session(self) -> Session:
        return Session(self.store, self.engine, ScriptedBuilder(self.script), clock=self.clock)

    async def live_engine(self, *, clock: Clock | None = None, **engine: object) -> Engine:
        """Another process's engine: started, holding the lease, reading its mailbox."""
        other = self.engine(clock=clock, **engine)
        polls = self.store.polls
        await other.start()
        await eventually(lambda: _true(self.store.polls > polls))
        return other

    async def run_to_end(self, spec: PlanSpec) -> None:
        """Run a plan to its end with an engine that then stops (the state a command finds)."""
        engine = self.engine()
        await engine.start()
        await engine.submit_plan(spec)
        await engine.wait_idle()
        await engine.stop()

    async def leave_unfinished(self, spec: PlanSpec) -> None:
        """Create a plan in the store that no engine has started (its tasks are PENDING)."""
        plan, tasks, events = lifecycle.created(
            spec, forward_stages(ScriptedBuilder(self.script)), self.clock.now()
        )
        await self.store.create_plan(plan, tasks, events)

    async def events(self, plan_id: str) -> list[Event]:
        return await self.store.read_events(plan_id, 0, 1_000_000)

    async def status(self, task_id: str) -> TaskStatus:
        task = await self.store.get_task(task_id)
        assert task is not None
        return task.status

    async def statuses(self, plan_id: str) -> dict[str, TaskStatus]:
        return {t.tenant_id: t.status for t in await self.store.list_tasks(plan_id)}

    async def lease_owner(self) -> str | None:
        lease = await self.store.get_lease()
        return None if lease is None else lease.owner


async def _true(value: bool) -> bool:
    return value


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until ``check`` holds (bounded by the test's own timeout)."""
    while not await check():  # noqa: ASYNC110 - no event to wait on across engines
        await asyncio.sleep(0.005)


async def all_done(world: World, plan_id: str) -> bool:
    return set((await world.statuses(plan_id)).values()) == {TaskStatus.COMPLETED}


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    made = World(ObservedStore(), clock, Script())
    try:
        yield made
    finally:
        for engine in made.engines:
            await engine.stop()
        await clock.aclose()


async def failed_task(world: World, tenant: str = "t1", plan_id: str = "p0") -> None:
    """A plan whose one task FAILED at beta, with no engine left running."""
    world.script.set(tenant, "beta", Fail())
    await world.run_to_end(make_spec([tenant], plan_id=plan_id))
    assert await world.status(f"{plan_id}/{tenant}") is TaskStatus.FAILED


async def completed_task(world: World, tenant: str = "t1", plan_id: str = "p0") -> None:
    """A plan whose one task COMPLETED, with no engine left running."""
    await world.run_to_end(make_spec([tenant], plan_id=plan_id))
    assert await world.status(f"{plan_id}/{tenant}") is TaskStatus.COMPLETED


# ----------------------------------------------------------------- start


async def test_start_without_a_live_lease_holds_its_own_engine(world: World) -> None:
    """No live engine: the session takes the lease, loads the unfinished work, runs nothing."""
    async with asyncio.timeout(BOUND):
        await world.leave_unfinished(make_spec(["t1", "t2"]))
        before = await world.events("p1")
        session = world.session()
        await session.start()
        assert not session.remote
        assert session.engine is not None
        assert session.engine.held
        assert await world.lease_owner() == session.engine.owner
        assert await session.engine_alive()
        for _ in range(50):
            await asyncio.sleep(0)
        assert world.script.calls == []
        assert await world.events("p1") == before

        await session.close()
        assert session.remote
        assert await world.lease_owner() is None
        assert await world.events("p1") == before
        assert set((await world.statuses("p1")).values()) == {TaskStatus.PENDING}


async def test_start_with_a_live_lease_elsewhere_stays_remote(world: World) -> None:
    """A live engine holds the lease: the session talks to it and starts none of its own."""
    async with asyncio.timeout(BOUND):
        other = await world.live_engine()
        session = world.session()
        await session.start()
        assert session.remote
        assert session.engine is None
        assert world.engines == [other]
        assert await world.lease_owner() == other.owner
        assert await session.engine_alive()


# ----------------------------------------------------------------- perform on its own engine


REFUSED_HERE: list[tuple[Command, type[Exception], ErrorType]] = [
    (
        Rollback(target=Target.tenant("t1")),
        OperationRefusedError,
        ErrorType.ROLLBACK_PRECONDITION_FAILED,
    ),
    (Retry(target=Target.tenant("t1")), OperationRefusedError, ErrorType.INVALID_STATE),
    (Pause(target=Target.plan("p0")), OperationRefusedError, ErrorType.INVALID_STATE),
    (Retry(target=Target.tenant("nobody")), NotFoundError, ErrorType.NOT_FOUND),
    (Rollback(target=Target.task("p0/nobody")), NotFoundError, ErrorType.NOT_FOUND),
]
REFUSED_IDS = [
    "rollback-completed",
    "retry-completed",
    "pause-completed-plan",
    "retry-unknown-tenant",
    "rollback-unknown-task",
]


@pytest.mark.parametrize(("command", "error", "error_type"), REFUSED_HERE, ids=REFUSED_IDS)
async def test_a_refused_command_on_a_held_engine_changes_nothing(
    world: World, command: Command, error: type[Exception], error_type: ErrorType
) -> None:
    """Refused: the right error, no event anywhere, no step run, the engine still held."""
    async with asyncio.timeout(BOUND):
        await completed_task(world)
        await world.leave_unfinished(make_spec(["t2"]))
        before = {p: await world.events(p) for p in ("p0", "p1")}
        calls = list(world.script.calls)

        session = world.session()
        await session.start()
        with pytest.raises(error) as refused:
            await session.perform(command)
        assert getattr(refused.value, "error_type", None) is error_type
        for _ in range(50):
            await asyncio.sleep(0)

        assert session.engine is not None
        assert session.engine.held
        assert world.script.calls == calls
        assert {p: await world.events(p) for p in ("p0", "p1")} == before
        assert not await session.drain()  # nothing accepted: nothing to wait for


async def test_an_accepted_command_lets_the_held_engine_run_everything(world: World) -> None:
    """Accepted: the command's work runs, and so does the unfinished work the engine found."""
    async with asyncio.timeout(BOUND):
        await failed_task(world)
        await world.leave_unfinished(make_spec(["t2"]))
        session = world.session()
        await session.start()

        accepted = await session.perform(Retry(target=Target.tenant("t1")))
        assert accepted.plan_id == "p0"
        assert accepted.task_ids == ("p0/t1",)
        assert session.engine is not None
        assert not session.engine.held
        await session.drain()

        assert await world.status("p0/t1") is TaskStatus.COMPLETED
        assert world.script.stages_run("t1") == FIRST_RUN_FAILED + FULL_RUN
        assert await world.statuses("p1") == {"t2": TaskStatus.COMPLETED}
        assert world.script.stages_run("t2") == FULL_RUN


# ----------------------------------------------------------------- perform through the mailbox


async def test_perform_through_the_mailbox_returns_the_live_engines_answer(world: World) -> None:
    """With a live engine elsewhere, the command is its request; its Accepted comes back."""
    async with asyncio.timeout(BOUND):
        await failed_task(world)
        other = await world.live_engine()
        session = world.session()
        await session.start()

        accepted = await session.perform(Retry(target=Target.tenant("t1")))
        assert accepted.plan_id == "p0"
        assert accepted.task_ids == ("p0/t1",)
        assert "retry accepted" in accepted.message
        assert session.remote

        await eventually(lambda: _status_is(world, "p0/t1", TaskStatus.COMPLETED))
        await other.wait_idle()
        assert world.script.stages_run("t1") == FIRST_RUN_FAILED + FULL_RUN
        assert list(world.store.answers.values()) == [1]
        assert world.engines[-1] is other  # the session made no engine of its own


async def _status_is(world: World, task_id: str, status: TaskStatus) -> bool:
    return await world.status(task_id) is status


async def test_a_refusal_through_the_mailbox_raises_with_what_it_named(world: World) -> None:
    """OperationRefusedError from another engine carries error type, task, tenant and status."""
    async with asyncio.timeout(BOUND):
        await completed_task(world)
        await world.live_engine()
        session = world.session()
        await session.start()
        before = await world.events("p0")
        calls = len(world.script.calls)

        with pytest.raises(OperationRefusedError) as refused:
            await session.perform(Rollback(target=Target.tenant("t1")))
        error = refused.value
        assert error.error_type is ErrorType.ROLLBACK_PRECONDITION_FAILED
        assert error.task_id == "p0/t1"
        assert error.tenant_id == "t1"
        assert error.status == TaskStatus.COMPLETED.value
        assert "rollback needs" in str(error)

        with pytest.raises(OperationRefusedError) as busy:
            await session.perform(Retry(target=Target.task("p0/t1")))
        assert busy.value.error_type is ErrorType.INVALID_STATE
        assert busy.value.status == TaskStatus.COMPLETED.value

        assert await world.events("p0") == before
        assert len(world.script.calls) == calls


async def test_not_found_through_the_mailbox_raises_not_found(world: World) -> None:
    """A NotFoundError from another engine names what was not found."""
    async with asyncio.timeout(BOUND):
        await world.live_engine()
        session = world.session()
        await session.start()
        with pytest.raises(NotFoundError) as missing:
            await session.perform(Retry(target=Target.tenant("nobody")))
        assert missing.value.kind == "tenant"
        assert missing.value.key == "nobody"


async def test_a_request_left_by_a_stopped_engine_is_answered_once_by_the_session(
    world: World,
) -> None:
    """The live engine stops before reading the request: the session's engine answers it."""
    async with asyncio.timeout(BOUND):
        await failed_task(world)
        # Its next mailbox poll is a minute away on the real clock: it will not read the request.
        other = await world.live_engine(clock=SystemClock(), control_poll_interval=60.0)
        session = world.session()
        await session.start()
        assert session.remote

        accepted = await _perform_while_it_stops(
            world, session, other, Retry(target=Target.tenant("t1"))
        )

        assert isinstance(accepted, Accepted)
        assert accepted.task_ids == ("p0/t1",)
        assert not session.remote
        await session.drain()
        assert await world.status("p0/t1") is TaskStatus.COMPLETED
        assert list(world.store.answers.values()) == [1]
        assert world.script.stages_run("t1") == FIRST_RUN_FAILED + FULL_RUN
        retries = [e for e in await world.events("p0") if e.type is EventType.TASK_RETRY_STARTED]
        assert len(retries) == 1

        await session.close()
        later = await world.live_engine()
        await later.wait_idle()
        assert list(world.store.answers.values()) == [1]
        assert world.script.stages_run("t1") == FIRST_RUN_FAILED + FULL_RUN


async def _has_pending(world: World) -> bool:
    return bool(await world.store.pending_controls())


async def _perform_while_it_stops(
    world: World, session: Session, other: Engine, command: Command
) -> Accepted | SwitchoverError:
    """Send ``command`` through the mailbox and stop the live engine before it reads it."""

    async def perform() -> Accepted | SwitchoverError:
        try:
            return await session.perform(command)
        except SwitchoverError as exc:
            return exc

    async with asyncio.TaskGroup() as tg:
        performing = tg.create_task(perform())
        await eventually(lambda: _has_pending(world))
        await other.stop()
    return performing.result()


async def test_a_request_left_by_a_stopped_engine_and_refused_changes_nothing(
    world: World,
) -> None:
    """Answered by the session's own engine, a refusal leaves that engine held and idle."""
    async with asyncio.timeout(BOUND):
        await completed_task(world)
        other = await world.live_engine(clock=SystemClock(), control_poll_interval=60.0)
        session = world.session()
        await session.start()
        before = await world.events("p0")
        calls = len(world.script.calls)

        refused = await _perform_while_it_stops(
            world, session, other, Rollback(target=Target.tenant("t1"))
        )
        assert isinstance(refused, OperationRefusedError)
        assert refused.error_type is ErrorType.ROLLBACK_PRECONDITION_FAILED
        assert refused.status == TaskStatus.COMPLETED.value
        assert session.engine is not None
        assert session.engine.held
        assert list(world.store.answers.values()) == [1]
        assert await world.events("p0") == before
        assert len(world.script.calls) == calls


# ----------------------------------------------------------------- keep_alive


async def test_keep_alive_is_quiet_while_the_remote_engine_runs_the_work(world: World) -> None:
    """Nothing to say while another live engine holds the work."""
    async with asyncio.timeout(BOUND):
        gate = Gate()
        world.script.set("t1", "alpha", gate)
        other = await world.live_engine()
        await other.submit_plan(make_spec(["t1"]))
        await gate.entered.wait()
        session = world.session()
        await session.start()
        assert await session.keep_alive() is None
        assert session.remote
        assert await world.lease_owner() == other.owner
        gate.open()
        await other.wait_idle()


async def test_keep_alive_is_quiet_while_its_own_engine_runs_the_work(world: World) -> None:
    """Nothing to say while this session's own engine is healthy."""
    async with asyncio.timeout(BOUND):
        gate = Gate()
        world.script.set("t1", "alpha", gate)
        session = world.session()
        await session.start()
        await session.submit_plan(make_spec(["t1"]))
        await gate.entered.wait()
        engine = session.engine
        assert await session.keep_alive() is None
        assert session.engine is engine
        gate.open()
        assert await session.drain()
        assert await world.status("p1/t1") is TaskStatus.COMPLETED


async def test_keep_alive_takes_over_when_the_remote_engine_stops_mid_work(world: World) -> None:
    """The engine doing the work goes away: the session takes the lease and finishes it."""
    async with asyncio.timeout(BOUND):
        gate = Gate()
        world.script.set("t1", "alpha", gate)
        other = await world.live_engine()
        await other.submit_plan(make_spec(["t1", "t2"]))
        await gate.entered.wait()
        session = world.session()
        await session.start()
        assert session.remote

        await other.stop()
        assert await world.status("p1/t1") is TaskStatus.RUNNING
        note = await session.keep_alive()
        assert note is not None
        assert "took it over" in note
        assert session.engine is not None
        assert not session.engine.held
        assert await world.lease_owner() == session.engine.owner

        await session.drain()
        assert await all_done(world, "p1")
        assert (await world.store.get_plan("p1")).status is PlanStatus.COMPLETED  # type: ignore[union-attr]
        assert world.script.stages_run("t1") == ["alpha", *FULL_RUN]  # alpha interrupted once


async def test_keep_alive_stops_a_deposed_engine_and_follows_the_new_holder(world: World) -> None:
    """Another engine took the lease: keep_alive stops this one, says so, and goes remote."""
    async with asyncio.timeout(BOUND):
        gate = Gate()
        world.script.set("t1", "alpha", gate)
        session = world.session()
        await session.start()
        await session.submit_plan(make_spec(["t1"]))
        await gate.entered.wait()
        mine = await world.store.get_lease()
        assert mine is not None
        usurper = Lease("usurper", "elsewhere", 1, time.time() + 60)
        assert await world.store.swap_lease(mine.owner, usurper) is not None
        seq = await world.store.last_seq("p1")

        gate.open()  # its StageCompleted commit is refused: the engine stops
        engine = session.engine
        assert engine is not None
        await eventually(lambda: _true(engine.fatal is not None))
        note = await session.keep_alive()

        assert note is not None
        assert "lease" in note
        assert "elsewhere" in note
        assert session.remote
        assert await world.lease_owner() == "usurper"
        assert await world.store.last_seq("p1") == seq
        assert world.script.stages_run("t1") == ["alpha"]
        assert await world.status("p1/t1") is TaskStatus.RUNNING  # the usurper's to finish
        assert await session.keep_alive() is None  # the usurper is live: nothing to take over


async def test_keep_alive_reports_an_engine_that_stopped_for_another_reason(world: World) -> None:
    """Its own engine failed (its store refused a commit): keep_alive raises, no takeover."""
    async with asyncio.timeout(BOUND):
        gate = Gate()
        world.script.set("t1", "alpha", gate)
        session = world.session()
        await session.start()
        await session.submit_plan(make_spec(["t1"]))
        await gate.entered.wait()
        engine = session.engine
        assert engine is not None

        world.store.broken = True
        gate.open()
        await eventually(lambda: _true(engine.fatal is not None))
        with pytest.raises(EngineUnavailableError, match="disk is full"):
            await session.keep_alive()
        assert session.engine is None


# ----------------------------------------------------------------- drain


async def test_drain_waits_for_work_its_engine_adopted_from_the_mailbox(world: World) -> None:
    """A plan submitted through this engine's mailbox by someone else is finished before exit."""
    async with asyncio.timeout(BOUND):
        mine = world.session()
        await mine.start()
        await mine.submit_plan(make_spec(["t1"]))
        assert mine.engine is not None
        await mine.engine.wait_idle()

        gate = Gate()
        world.script.set("t2", "alpha", gate)
        theirs = world.session()
        await theirs.start()
        assert theirs.remote
        await theirs.submit_plan(make_spec(["t2", "t3"], plan_id="p2"))
        await gate.entered.wait()

        async with asyncio.TaskGroup() as tg:
            draining = tg.create_task(mine.drain())
            await asyncio.sleep(0)
            assert not draining.done()
            gate.open()
        assert draining.result()
        assert await all_done(world, "p2")
        assert world.script.stages_run("t2") == FULL_RUN


async def test_drain_is_false_when_its_engine_has_nothing_left(world: World) -> None:
    """Once its own work is done and nothing else is held, drain has nothing to wait for."""
    async with asyncio.timeout(BOUND):
        session = world.session()
        await session.start()
        await session.submit_plan(make_spec(["t1"]))
        assert session.engine is not None
        await session.engine.wait_idle()
        assert not await session.drain()
        assert await all_done(world, "p1")


async def test_drain_on_a_held_engine_returns_false_at_once(world: World) -> None:
    """Held (nothing accepted): drain neither waits nor lets the unfinished work run."""
    async with asyncio.timeout(BOUND):
        await world.leave_unfinished(make_spec(["t1"]))
        before = await world.events("p1")
        session = world.session()
        await session.start()
        assert not await session.drain()
        assert session.engine is not None
        assert session.engine.held
        assert world.script.calls == []
        assert await world.events("p1") == before


async def test_drain_of_a_remote_session_is_false(world: World) -> None:
    """A session following another engine has nothing of its own to finish."""
    async with asyncio.timeout(BOUND):
        await world.live_engine()
        session = world.session()
        await session.start()
        assert not await session.drain()


# ----------------------------------------------------------------- submit_plan


async def test_submit_plan_on_its_own_engine_runs_the_plan(world: World) -> None:
    """Submitted on the session's engine, the plan runs to its end; the engine is no longer held."""
    async with asyncio.timeout(BOUND):
        session = world.session()
        await session.start()
        plan = await session.submit_plan(make_spec(["t1", "t2"], max_concurrency=1))
        assert plan.plan_id == "p1"
        assert session.engine is not None
        assert not session.engine.held
        await session.engine.wait_idle()
        assert await all_done(world, "p1")
        assert (await world.store.get_plan("p1")).status is PlanStatus.COMPLETED  # type: ignore[union-attr]


async def test_submit_plan_through_the_mailbox_is_adopted_by_the_live_engine(
    world: World,
) -> None:
    """Remote: the plan is created in the store and the live engine runs it (SubmitPlan)."""
    async with asyncio.timeout(BOUND):
        other = await world.live_engine()
        session = world.session()
        await session.start()
        plan = await session.submit_plan(make_spec(["t1", "t2"], plan_id="p9"))
        assert plan.plan_id == "p9"
        assert await world.store.get_plan("p9") is not None
        assert session.remote

        await eventually(lambda: all_done(world, "p9"))
        await other.wait_idle()
        assert (await world.store.get_plan("p9")).status is PlanStatus.COMPLETED  # type: ignore[union-attr]
        assert world.engines == [other]
        assert list(world.store.answers.values()) == [1]
        types = [e.type for e in await world.events("p9")]
        assert types[0] is EventType.PLAN_CREATED
        assert types.count(EventType.TASK_COMPLETED) == 2
