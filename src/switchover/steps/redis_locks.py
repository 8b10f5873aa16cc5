"""Tenant claims with fencing tokens in the shared Redis (the ``TenantLocks`` of real targets).

Each tenant's claim is one key, ``{redis.lock_prefix}{tenantId}``, holding
``wire.lock_value(token, holder)`` with a TTL; tokens come from the INCR counter
``redis.fence_key``, so a later claim always has a larger token than any earlier one. Claim,
renew and release each run as one Lua script (``RedisClient``), so checking the current value
and changing it cannot be split by another engine's command. Config writes check the same
value (``RedisClient.fenced_write``).
"""

from __future__ import annotations

from switchover import wire
from switchover.settings import Settings
from switchover.steps.locks import Busy, Fence
from switchover.steps.redis_client import RedisClient


def _ttl_ms(ttl: float) -> int:
    """``ttl`` seconds as whole milliseconds, at least 1 (PX and PEXPIRE refuse 0)."""
    return max(1, round(ttl * 1000))


class RedisTenantLocks:
    """``TenantLocks`` on the Redis that every engine writes tenant configs to.

    Errors are those of ``RedisClient``: ``TransientError`` when Redis is unreachable or timed
    out, ``StepFailedError(SYSTEM_ERROR)`` when it refused the credentials or failed otherwise.
    Nothing is retried here; the caller decides.
    """

    def __init__(self, redis: RedisClient, settings: Settings) -> None:
        """Create the locks.

        Args:
            redis: the shared Redis client (the one config pushes write through).
            settings: ``redis.lock_prefix`` and ``redis.fence_key``.
        """
        self._redis = redis
        self._prefix = settings.redis.lock_prefix
        self._fence_key = settings.redis.fence_key

    def _key(self, tenant_id: str) -> str:
        return wire.tenant_lock_key(self._prefix, tenant_id)

    async def claim(self, tenant_id: str, holder: str, ttl: float) -> Fence | Busy:
        """Claim ``tenant_id`` for ``holder`` for ``ttl`` seconds.

        Granted when nobody holds the tenant, or ``holder`` takes the claim over (it holds it
        already, or holds it under a lower generation: ``steps.locks.takes_over``); the claim
        then gets a fresh, larger token and the previous token stops being accepted.

        Args:
            tenant_id: the tenant to claim.
            holder: who claims it (an engine's identity); compared as an exact string.
            ttl: seconds the claim lives unless renewed.

        Returns:
            The granted ``Fence``, or ``Busy`` naming the current holder.

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        result = await self._redis.claim_lock(
            self._key(tenant_id), self._fence_key, holder, _ttl_ms(ttl)
        )
        if isinstance(result, int):
            return Fence(tenant_id, holder, result)
        return Busy(tenant_id, result)

    async def renew(self, fence: Fence, ttl: float) -> bool:
        """Extend the claim to ``ttl`` seconds from now if ``fence`` is still current.

        Returns:
            False when the claim was lost: released, expired, or claimed again since (by
            anyone, the same holder included).

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        value = wire.lock_value(fence.token, fence.holder)
        return await self._redis.renew_lock(self._key(fence.tenant_id), value, _ttl_ms(ttl))

    async def release(self, fence: Fence) -> None:
        """Give the claim up if ``fence`` is still current; a newer claim is left alone.

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        value = wire.lock_value(fence.token, fence.holder)
        await self._redis.release_lock(self._key(fence.tenant_id), value)
