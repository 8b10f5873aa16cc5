"""The Redis adapter of the steps: hash writes and pub/sub, redis errors translated at its edge."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.settings import Settings

T = TypeVar("T")


class RedisClient:
    """Writes tenant config hashes and publishes notifications on one shared connection pool.

    ``redis.*`` errors come out as switchover errors: connection errors (including a server
    still loading its data) as ``TransientError(SERVICE_UNAVAILABLE)``, timeouts as
    ``TransientError(TIMEOUT_ERROR)``, anything else as ``StepFailedError(SYSTEM_ERROR)``.
    Messages never contain the password of the Redis URL. Retries are the caller's job
    (``retry_transient``): the redis library's own retries are switched off so that a dead
    server fails fast instead of stalling a step.
    """

    def __init__(self, settings: Settings) -> None:
        """Create the client from ``settings.redis``; it connects lazily.

        Args:
            settings: URL (a secret), socket timeout.
        """
        url = settings.redis.url.get_secret_value()
        self._password = urlsplit(url).password
        timeout = settings.redis.socket_timeout
        self._client: aioredis.Redis = aioredis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    async def hset_fields(self, key: str, mapping: Mapping[str, str]) -> None:
        """Set several fields of hash ``key`` in one HSET, so readers see all or none of them.

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        fields: dict[FieldT, EncodableT] = dict(mapping.items())
        await self._call("HSET", lambda: self._client.hset(key, mapping=fields))

    async def publish(self, channel: str, message: str) -> int:
        """Publish ``message`` on ``channel``.

        Returns:
            How many subscribers received it.

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        receivers = await self._call("PUBLISH", lambda: self._client.publish(channel, message))
        return int(receivers)

    async def hgetall(self, key: str) -> dict[str, str]:
        """Every field of hash ``key`` (empty when the key does not exist).

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        raw = await self._call("HGETALL", lambda: self._client.hgetall(key))
        return {str(k): str(v) for k, v in raw.items()}

    async def _call(self, command: str, op: Callable[[], Awaitable[T]]) -> T:
        try:
            return await op()
        except (RedisError, OSError) as exc:
            raise self._translate(command, exc) from exc

    def _translate(self, command: str, exc: RedisError | OSError) -> StepFailedError:
        """Unreachable or timed out: transient. Any other Redis error: a system error."""
        details = {"command": command}
        reason = self._scrub(exc)
        if isinstance(exc, RedisTimeoutError):
            return TransientError(
                ErrorType.TIMEOUT_ERROR,
                f"redis unavailable: {command} timed out: {reason}",
                details=details,
            )
        # Socket errors the library did not wrap still mean "unreachable".
        if isinstance(exc, RedisConnectionError | OSError):
            return TransientError(
                ErrorType.SERVICE_UNAVAILABLE,
                f"redis unavailable: {command} failed: {reason}",
                details=details,
            )
        return StepFailedError(
            ErrorType.SYSTEM_ERROR, f"redis {command} failed: {reason}", details=details
        )

    def _scrub(self, exc: BaseException) -> str:
        text = str(exc).strip() or type(exc).__name__
        if self._password:
            text = text.replace(self._password, "***")
        return text

    async def close(self) -> None:
        """Close the connection pool (idempotent)."""
        await self._client.aclose()

    async def __aenter__(self) -> RedisClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
