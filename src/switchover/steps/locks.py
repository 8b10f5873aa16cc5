"""Claims on tenants in the target system, with fencing tokens (across stores and engines).

A task claims its tenant before its first stage and holds the claim while it executes. The
claim carries a fencing token from an atomic counter; every config write names it, and the
target applies the write only while that token is still the tenant's current one. So two
engines on two stores (two operators) never interleave their writes to one tenant, and an
engine that lost its claim (frozen past the claim's TTL) cannot overwrite the new holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Fence:
    """A granted claim: the tenant, who holds it, and the fencing token of this claim."""

    tenant_id: str
    holder: str
    token: int


@dataclass(frozen=True, slots=True)
class Busy:
    """A refused claim: someone else holds the tenant."""

    tenant_id: str
    holder: str


def takes_over(claimant: str, holder: str) -> bool:
    """Whether ``claimant`` may take the claim ``holder`` has: it is ``holder``, or the same
    name with a generation (``name#N``; none counts as 0) at least as large.

    Every engine of one store claims a task's tenant under the same name, with the store's
    lease epoch as the generation: the engine that took a store over takes its predecessor's
    claims at once, and a predecessor woken after being frozen (a lower generation) cannot
    take back a tenant its successor holds. Tenant, plan and store ids contain no ``#``.
    """
    if claimant == holder:
        return True
    name, generation = _named(claimant)
    held_name, held_generation = _named(holder)
    return bool(name) and name == held_name and generation >= held_generation


def _named(holder: str) -> tuple[str, int]:
    """A holder's name and generation: ``name#N``, or the whole text and 0."""
    name, mark, generation = holder.rpartition("#")
    if mark and name and generation.isascii() and generation.isdigit():
        return name, int(generation)
    return holder, 0


class TenantLocks(Protocol):
    """Claims on tenants, shared by every engine that writes to the same targets."""

    async def claim(self, tenant_id: str, holder: str, ttl: float) -> Fence | Busy:
        """Claim ``tenant_id`` for ``holder`` for ``ttl`` seconds.

        Granted when nobody holds the tenant or ``holder`` takes the claim over
        (``takes_over``: e.g. an engine recovering its own task after a crash); the claim
        then gets a fresh token and the old token stops being accepted.

        Raises:
            TransientError: the target is unreachable.
        """
        ...

    async def renew(self, fence: Fence, ttl: float) -> bool:
        """Extend the claim; False when it was lost (expired and taken, or released)."""
        ...

    async def release(self, fence: Fence) -> None:
        """Give the claim up if it is still held with this token (idempotent)."""
        ...


class LocalTenantLocks:
    """Claims within one process: for engines whose steps write to no shared target (tests)."""

    def __init__(self) -> None:
        self._held: dict[str, Fence] = {}
        self._counter = 0

    async def claim(self, tenant_id: str, holder: str, ttl: float) -> Fence | Busy:
        """Grant unless another holder has the tenant (``ttl`` is not enforced here)."""
        current = self._held.get(tenant_id)
        if current is not None and not takes_over(holder, current.holder):
            return Busy(tenant_id, current.holder)
        self._counter += 1
        fence = Fence(tenant_id, holder, self._counter)
        self._held[tenant_id] = fence
        return fence

    async def renew(self, fence: Fence, ttl: float) -> bool:
        """Whether ``fence`` is still the current claim."""
        return self._held.get(fence.tenant_id) == fence

    async def release(self, fence: Fence) -> None:
        """Drop the claim if ``fence`` is current."""
        if self._held.get(fence.tenant_id) == fence:
            del self._held[fence.tenant_id]
