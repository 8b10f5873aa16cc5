"""An engine's claims on its tasks' tenants in the targets (``steps.locks``), with their fences.

A task claims its tenant before its first stage and holds the claim while it executes; the
claim's fence goes with every config write of the task. The claims are renewed a third of
their TTL apart, and a claim found lost is dropped, so the task's next stage claims again (or
fails with CONFLICT). Whether the engine may claim at all (it holds the store's lease) is the
engine's to check before each call here.
"""

from __future__ import annotations

import asyncio
import contextlib

from switchover.clock import Clock
from switchover.domain.records import Task
from switchover.errors import ErrorType, StepFailedError, SwitchoverError
from switchover.settings import Settings
from switchover.steps.locks import Busy, Fence, TenantLocks
from switchover.steps.retry import retry_transient


class TenantClaims:
    """The claims one engine holds, by task id."""

    def __init__(self, locks: TenantLocks, settings: Settings, clock: Clock) -> None:
        """Claim through ``locks``, for ``redis.lock_ttl`` seconds, retrying per ``retry``."""
        self._locks = locks
        self._settings = settings
        self._clock = clock
        self._fences: dict[str, Fence] = {}
        self._held = asyncio.Event()
        self.store_id = ""
        """The store's identity, part of every holder name (set once the store is open)."""
        self.generation = 0
        """The engine's lease epoch: the generation of its holder names (``takes_over``)."""

    @property
    def ttl(self) -> float:
        """Seconds a claim lives unrenewed."""
        return self._settings.redis.lock_ttl

    def holder(self, task: Task) -> str:
        """This engine's name for the task as a claimant: the same for every engine on the
        store, with this engine's generation (``{store}/{task}#{epoch}``)."""
        return f"{self.store_id}/{task.task_id}#{self.generation}"

    async def try_claim(self, task: Task) -> Fence | Busy | None:
        """Claim the task's tenant once: the fence (held from now on), ``Busy`` naming who
        holds the tenant, or None when the targets cannot be reached."""
        try:
            claim = await self._locks.claim(task.tenant_id, self.holder(task), self.ttl)
        except SwitchoverError:
            return None
        if isinstance(claim, Fence):
            self._hold(task.task_id, claim)
        return claim

    async def fence(self, task: Task) -> Fence:
        """The task's claim on its tenant, claimed now (with retries) when it has none.

        Raises:
            StepFailedError: CONFLICT when another holder has the tenant; the claim's own error
                when the targets stay unreachable.
        """
        fence = self._fences.get(task.task_id)
        if fence is not None:
            return fence
        holder = self.holder(task)
        claim = await retry_transient(
            lambda: self._locks.claim(task.tenant_id, holder, self.ttl),
            policy=self._settings.retry,
            clock=self._clock,
        )
        if isinstance(claim, Busy):
            raise StepFailedError(
                ErrorType.CONFLICT,
                f"tenant {task.tenant_id} is claimed by {claim.holder} in the targets; "
                "this task wrote nothing",
                details={"holder": claim.holder},
            )
        self._hold(task.task_id, claim)
        return claim

    async def release(self, task_id: str) -> None:
        """Give the task's claim back, if it holds one (it expires by itself otherwise)."""
        fence = self._fences.pop(task_id, None)
        if fence is not None:
            with contextlib.suppress(SwitchoverError):
                await self._locks.release(fence)

    async def renew_forever(self) -> None:
        """Renew every claim held, a third of the TTL apart; drop the lost ones."""
        while True:
            if not self._fences:
                self._held.clear()
                await self._held.wait()
                continue
            await self._clock.sleep(self.ttl / 3)
            for task_id, fence in list(self._fences.items()):
                try:
                    kept = await self._locks.renew(fence, self.ttl)
                except SwitchoverError:
                    continue  # unreachable now; the claim lives on until its TTL
                if not kept and self._fences.get(task_id) == fence:
                    del self._fences[task_id]  # the next stage claims again, or fails CONFLICT

    def _hold(self, task_id: str, fence: Fence) -> None:
        self._fences[task_id] = fence
        self._held.set()
