"""``TargetState`` over the tenants' config hashes in Redis."""

from __future__ import annotations

from switchover import wire
from switchover.settings import Settings
from switchover.steps.redis_client import RedisClient


class RedisTargetState:
    """The tenant's config hash in Redis (``{redis.key_prefix}{tenantId}``)."""

    def __init__(self, redis: RedisClient, settings: Settings) -> None:
        self._redis = redis
        self._prefix = settings.redis.key_prefix

    async def current_version(self, tenant_id: str) -> int | None:
        """``metadata.version`` of the tenant's hash, or None when there is none."""
        key = wire.tenant_config_key(self._prefix, tenant_id)
        raw = await self._redis.hget(key, wire.METADATA_FIELD)
        metadata = wire.parse_json_object(raw)
        if metadata is None:
            return None
        version = metadata.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            return None
        return version
