"""A Session: how one command reaches the engine — the live one elsewhere, or its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

from switchover.clock import Clock, SystemClock
from switchover.domain import lifecycle
from switchover.domain.commands import (
    DEFAULT_ACTOR,
    Accepted,
    Command,
    ControlRequest,
    Outcome,
    SubmitPlan,
    accepted_or_raise,
    command_name,
)
from switchover.domain.records import Plan, PlanSpec, Target, binding_differences
from switchover.engine.engine import Engine, EngineStoppedError
from switchover.engine.lease import lease_is_live
from switchover.errors import (
    EngineBusyError,
    EngineUnavailableError,
    ErrorType,
    LeaseLostError,
    OperationRefusedError,
)
from switchover.stages.base import StageBuilder, forward_stages
from switchover.stores.protocol import Store

EngineFactory = Callable[[], Engine]


class Session:
    """Performs operations for one command.

    When a live engine holds the store's lease, operations become control requests that it
    performs within a second, and the session follows the store. Otherwise the session starts
    its own engine, held: it loads the unfinished work but runs nothing until the command's
    operation is accepted, so a refused command changes nothing. Once accepted, that engine
    runs every piece of unfinished work it found, and the command stays until it is done
    (``drain``). Whoever follows work makes sure some engine runs it (``keep_alive``).
    """

    def __init__(
        self,
        store: Store,
        make_engine: EngineFactory,
        builder: StageBuilder,
        *,
        request_ttl: float = 30.0,
        clock: Clock | None = None,
        binding: Mapping[str, str] | None = None,
        settings_file: str | None = None,
    ) -> None:
        self.store = store
        self._clock: Clock = clock or SystemClock()
        self._make_engine = make_engine
        self._builder = builder
        self._request_ttl = request_ttl
        self._binding = dict(binding or {})
        self._settings_file = settings_file
        self.engine: Engine | None = None
        self.lasting = False
        """Whether this session's engine outlives the requests it serves (``serve``)."""

    @property
    def clock(self) -> Clock:
        """The clock the session waits on."""
        return self._clock

    @property
    def remote(self) -> bool:
        """Whether another process's engine does the work."""
        return self.engine is None

    async def start(self, *, own_engine: bool = True, hold: bool = True) -> None:
        """Find a live engine, or (``own_engine``) start one here, held until work is accepted.

        Raises:
            StoreError: the store cannot be read.
        """
        lease = await self.store.get_lease()
        if lease is not None and lease_is_live(lease):
            return
        if own_engine:
            engine = self._make_engine()
            try:
                await engine.start(hold=hold)
            except EngineBusyError:
                return  # someone else won the race: talk to them instead
            self.engine = engine

    async def serve(self) -> Engine:
        """Start a long-lived engine here: it takes the lease, recovers and runs at once.

        Raises:
            EngineBusyError: another live engine owns the store.
            StoreError: the store cannot be read.
        """
        engine = self._make_engine()
        await engine.start()
        self.engine = engine
        self.lasting = True
        return engine

    async def keep_alive(self) -> str | None:
        """Make sure an engine is running this store's work; a note when that changed.

        * This session's engine was deposed (frozen past its lease, another engine took over):
          it is stopped, and the session follows the new holder's work.
        * The engine doing the work went away with work unfinished: this session takes the
          lease and runs the work itself.

        Raises:
            EngineUnavailableError: this session's engine stopped for another reason.
        """
        engine = self.engine
        if engine is not None:
            fatal = engine.fatal
            if fatal is None:
                return None
            await engine.stop()
            self.engine = None
            if not isinstance(fatal, LeaseLostError):
                raise EngineUnavailableError(f"the engine stopped: {fatal}") from fatal
            lease = await self.store.get_lease()
            if lease is not None and lease_is_live(lease):
                return (
                    "this command's engine lost the store's lease (it was stopped longer than "
                    f"engine.lease_ttl); the engine of pid {lease.pid} on {lease.host} took over "
                    "and this command follows its work"
                )
        lease = await self.store.get_lease()
        if lease is not None and lease_is_live(lease):
            return None
        await self.start(own_engine=True, hold=False)
        if self.engine is None:
            return None
        return "the engine running this work stopped; this command took it over and continues"

    async def drain(self) -> bool:
        """Before the command exits, let its engine finish every piece of work it holds.

        Returns:
            Whether there was other work to finish (work of other commands, or recovered).

        Raises:
            EngineUnavailableError: this session's engine stopped for a reason other than a
                takeover.
        """
        engine = self.engine
        if engine is None or engine.held:
            return False
        busy = engine.is_busy()
        try:
            await engine.wait_idle()
        except EngineStoppedError:
            await self.keep_alive()
        return busy

    async def close(self) -> None:
        """Stop this session's own engine, if it has one."""
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None

    async def submit_plan(
        self, spec: PlanSpec, *, actor: str = DEFAULT_ACTOR, reason: str | None = None
    ) -> Plan:
        """Create the plan (recording who submitted it, and why) and get it running."""
        if self.engine is not None:
            plan = await self.engine.submit_plan(spec, actor=actor, reason=reason)
            self.engine.proceed()
            return plan
        lease = await self.store.get_lease()
        if lease is not None and lease_is_live(lease):
            theirs = lease.extra.get("binding")
            differences = binding_differences(theirs, self._binding) if theirs else []
            if differences:
                where = lease.extra.get("settings_file")
                hint = f" (--config {where})" if where else ""
                raise OperationRefusedError(
                    ErrorType.INVALID_STATE,
                    f"the engine running on this store (pid {lease.pid} on {lease.host}) works "
                    f"with other settings than this command: {'; '.join(differences)}. Submit "
                    f"with its settings{hint}, or use another store",
                )
        now = self._clock.now()
        plan, tasks, events = lifecycle.created(
            spec,
            forward_stages(self._builder),
            now,
            actor=actor,
            reason=reason,
            binding=self._binding,
            settings_file=self._settings_file,
        )
        await self.store.create_plan(plan, tasks, events)
        await self.perform(SubmitPlan(target=Target.plan(plan.plan_id), actor=actor))
        return plan

    async def perform(self, command: Command) -> Accepted:
        """Perform a command: on this session's engine, or through the live engine's mailbox.

        Raises:
            NotFoundError, OperationRefusedError: refused; nothing changed.
            EngineUnavailableError: the live engine did not answer in time.
        """
        engine = self.engine
        if engine is None:
            return accepted_or_raise(await self._request(command))
        accepted = accepted_or_raise(await engine.perform(command))
        engine.proceed()  # accepted: run it, and everything else left unfinished
        return accepted

    async def _request(self, command: Command) -> Outcome:
        """Queue a control request and wait for its outcome.

        If the live engine stops before answering (it finished its own work), this session
        takes the lease and its own engine answers the request: a request is answered exactly
        once and never left for a later engine to surprise with.
        """
        request = ControlRequest(
            control_id=uuid.uuid4().hex, command=command, created_at=self._clock.now()
        )
        await self.store.submit_control(request)
        deadline = self._clock.monotonic() + self._request_ttl
        while self._clock.monotonic() < deadline:
            done = await self.store.get_control(request.control_id)
            if done is not None and done.outcome is not None:
                return done.outcome
            if self.engine is None and not await self.engine_alive():
                await self.start(own_engine=True)
                if self.engine is not None:
                    await self.engine.answer(request)
                    continue
            await self._clock.sleep(0.05)
        raise EngineUnavailableError(
            f"no engine answered the {command_name(command)} request within "
            f"{self._request_ttl:.0f}s"
        )

    async def engine_alive(self) -> bool:
        """Whether some engine (ours or another) is running this store's work."""
        if self.engine is not None:
            return self.engine.fatal is None
        lease = await self.store.get_lease()
        return lease is not None and lease_is_live(lease)
