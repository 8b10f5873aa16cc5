"""The Redis adapter of the steps: hash writes, pub/sub and tenant locks, errors translated here."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.settings import Settings

T = TypeVar("T")

# The lock value is ``{token}|{holder}`` (``wire.lock_value``); the holder is what follows the
# first ``|``. A claimant takes the lock over as ``steps.locks.takes_over`` says: the same
# holder, or the same name with a generation (``name#N``; none counts as 0) at least as
# large. ``%d`` rather than ``..``: Lua 5.1 prints large numbers in exponent form.
_CLAIM = """
local function named(holder)
  local name, generation = string.match(holder, '^(.+)#(%d+)$')
  if name then return name, tonumber(generation) end
  return holder, 0
end
local current = redis.call('GET', KEYS[1])
if current then
  local holder = current
  local bar = string.find(current, '|', 1, true)
  if bar then holder = string.sub(current, bar + 1) end
  if holder ~= ARGV[1] then
    local name, generation = named(holder)
    local mine, mine_generation = named(ARGV[1])
    if not (name ~= '' and name == mine and mine_generation >= generation) then
      return holder
    end
  end
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], string.format('%d|%s', token, ARGV[1]), 'PX', ARGV[2])
return token
"""
"""KEYS: lock, fence counter. ARGV: holder, ttl ms. → the new token (integer), or the holder
string of whoever else holds the lock."""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
"""KEYS: lock. ARGV: lock value, ttl ms. → 1 when extended, 0 when the lock is not ours."""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
"""KEYS: lock. ARGV: lock value. → 1 when deleted, 0 when the lock is not ours."""

_REJECTED = -1

_FENCED_WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
return redis.call('PUBLISH', ARGV[2], ARGV[3])
"""
"""KEYS: lock, hash. ARGV: lock value, channel, message, field, value, field, value...
→ the PUBLISH receiver count, or -1 (``_REJECTED``) with nothing written."""


class RedisClient:
    """Writes tenant config hashes and publishes notifications on one shared connection pool.

    ``redis.*`` errors come out as switchover errors: connection errors (including a server
    still loading its data) as ``TransientError(SERVICE_UNAVAILABLE)``, timeouts as
    ``TransientError(TIMEOUT_ERROR)``, refused credentials (wrong or missing password) and
    anything else as a non-retryable ``StepFailedError(SYSTEM_ERROR)``. Messages never contain
    the password of the Redis URL. Retries are the caller's job
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
        # Registering computes the SHA only; each call runs EVALSHA and loads the script
        # again when the server does not know it (a restarted or flushed server).
        self._claim: AsyncScript = self._client.register_script(_CLAIM)
        self._renew: AsyncScript = self._client.register_script(_RENEW)
        self._release: AsyncScript = self._client.register_script(_RELEASE)
        self._fenced_write: AsyncScript = self._client.register_script(_FENCED_WRITE)

    async def ping(self) -> None:
        """Check that Redis answers.

        Raises:
            TransientError, StepFailedError: it does not (see ``_translate``).
        """
        await self._call("PING", lambda: self._client.ping())

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

    async def hget(self, key: str, field: str) -> str | None:
        """One field of a hash (None when the hash or the field is missing).

        Raises:
            TransientError, StepFailedError: as ``hgetall``.
        """
        raw = await self._call("HGET", lambda: self._client.hget(key, field))
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw

    async def hgetall_many(self, keys: Sequence[str], *, batch: int = 500) -> list[dict[str, str]]:
        """Every field of each hash of ``keys``, in order (an empty dict for a missing key).

        Read-only: one HGETALL per key, pipelined without a transaction, ``batch`` keys per
        round trip, so 10,000 hashes cost 20 round trips instead of 10,000.

        Raises:
            ValueError: ``batch`` is not positive.
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR), e.g. a key holding another
                type than a hash; the message names the key.
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        found: list[dict[str, str]] = []
        for start in range(0, len(keys), batch):
            chunk = keys[start : start + batch]
            pipe = self._client.pipeline(transaction=False)
            for key in chunk:
                pipe.hgetall(key)
            # Errors come back per key, so that one can be named: the whole batch fails anyway.
            replies = await self._call(
                "HGETALL (pipelined)", functools.partial(pipe.execute, raise_on_error=False)
            )
            for key, reply in zip(chunk, replies, strict=True):
                if isinstance(reply, RedisError):
                    raise self._translate(f"HGETALL of {key}", reply)
                found.append({str(k): str(v) for k, v in reply.items()})
        return found

    async def hdel_fields(self, key: str, fields: Sequence[str]) -> int:
        """Remove ``fields`` from hash ``key``; the key goes when its last field does.

        Returns:
            How many of the fields existed.

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        removed = await self._call("HDEL", lambda: self._client.hdel(key, *fields))
        return int(removed)

    async def get(self, key: str) -> str | None:
        """The string value of ``key``, or None when it does not exist.

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        raw = await self._call("GET", lambda: self._client.get(key))
        return None if raw is None else str(raw)

    async def claim_lock(
        self, lock_key: str, fence_key: str, holder: str, ttl_ms: int
    ) -> int | str:
        """Take ``lock_key`` for ``holder`` unless someone else holds it, in one script.

        When the key is absent, or its holder part is ``holder`` already, the next token is
        taken from the counter ``fence_key`` (INCR) and the key set to
        ``wire.lock_value(token, holder)`` with a TTL of ``ttl_ms``.

        Returns:
            The new fencing token (an int) when granted, else the current holder (a str).

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        result = await self._call(
            "claim (EVALSHA)",
            lambda: self._claim(keys=[lock_key, fence_key], args=[holder, ttl_ms]),
        )
        return result if isinstance(result, int) else str(result)

    async def renew_lock(self, lock_key: str, value: str, ttl_ms: int) -> bool:
        """Reset the TTL of ``lock_key`` to ``ttl_ms`` if it still holds ``value``.

        Returns:
            Whether the lock was still ``value`` (and so was extended).

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        result = await self._call(
            "renew claim (EVALSHA)", lambda: self._renew(keys=[lock_key], args=[value, ttl_ms])
        )
        return int(result) == 1

    async def release_lock(self, lock_key: str, value: str) -> bool:
        """Delete ``lock_key`` if it still holds ``value`` (a newer holder's lock is kept).

        Returns:
            Whether it was deleted.

        Raises:
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        result = await self._call(
            "release claim (EVALSHA)", lambda: self._release(keys=[lock_key], args=[value])
        )
        return int(result) == 1

    async def fenced_write(
        self,
        lock_key: str,
        value: str,
        key: str,
        mapping: Mapping[str, str],
        channel: str,
        message: str,
    ) -> int | None:
        """HSET ``mapping`` on ``key``, then PUBLISH ``message``, while ``lock_key`` is ``value``.

        The check, the one HSET of every field and the PUBLISH run as one script, so no other
        client's write falls between the check and the write.

        Args:
            lock_key: the tenant lock key.
            value: the lock value of the writer's claim (``wire.lock_value``).
            key: the hash to write.
            mapping: its fields and values (at least one).
            channel: where to announce the write.
            message: the announcement.

        Returns:
            How many subscribers received the message, or None when the lock no longer holds
            ``value``: then nothing was written and nothing published.

        Raises:
            ValueError: ``mapping`` is empty.
            TransientError: Redis unreachable, loading, or timed out.
            StepFailedError: any other Redis error (SYSTEM_ERROR).
        """
        if not mapping:
            raise ValueError("a fenced write needs at least one field")
        args: list[EncodableT] = [value, channel, message]
        for field, field_value in mapping.items():
            args += [field, field_value]
        result = await self._call(
            "HSET+PUBLISH (fenced)",
            lambda: self._fenced_write(keys=[lock_key, key], args=args),
        )
        receivers = int(result)
        return None if receivers == _REJECTED else receivers

    async def _call(self, command: str, op: Callable[[], Awaitable[T]]) -> T:
        try:
            return await op()
        except (RedisError, OSError) as exc:
            raise self._translate(command, exc) from exc

    def _translate(self, command: str, exc: RedisError | OSError) -> StepFailedError:
        """Unreachable or timed out: transient. Refused credentials or any other: a system error."""
        details = {"command": command}
        reason = self._scrub(exc)
        # Before the connection check: AuthenticationError is a ConnectionError, but another
        # attempt with the same password can only be refused again.
        if _refused_credentials(exc):
            return StepFailedError(
                ErrorType.SYSTEM_ERROR,
                f"redis refused the credentials of redis.url (check the password): {reason}",
                retryable=False,
                details={**details, "cause": "authentication"},
            )
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


def _refused_credentials(exc: BaseException) -> bool:
    """Whether Redis turned the client's password (or its absence) down."""
    if isinstance(exc, AuthenticationError | AuthenticationWrongNumberOfArgsError):
        return True
    # The parser maps NOAUTH/WRONGPASS replies to AuthenticationError; a reply passed on
    # unmapped (e.g. from inside a script) still starts with its code.
    return isinstance(exc, ResponseError) and str(exc).lstrip().startswith(("NOAUTH", "WRONGPASS"))
