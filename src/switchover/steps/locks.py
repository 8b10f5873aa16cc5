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


class TenantLocks(Protocol):
    """Claims on tenants, shared by every engine that writes to the same targets."""

    async def claim(self, tenant_id: str, holder: str, ttl: float) -> Fence | Busy:
        """Claim ``tenant_id`` for ``holder`` for ``ttl`` seconds.

        A holder that already holds the claim (e.g. an engine recovering its own task after a
        crash) gets it again with a fresh token; the old token stops being accepted.

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
        if current is not None and current.holder != holder:
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
