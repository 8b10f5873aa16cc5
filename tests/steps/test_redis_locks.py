"""RedisTenantLocks against a real redis-server: grant, busy, fencing tokens, renew and release."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from switchover.errors import ErrorType, TransientError
from switchover.fleet.redis_server import RedisServer
from switchover.secrets import Secret
from switchover.settings import RedisSettings, Settings
from switchover.steps.locks import Busy, Fence, LocalTenantLocks, TenantLocks, takes_over
from switchover.steps.redis_client import RedisClient
from switchover.steps.redis_locks import RedisTenantLocks

pytestmark = pytest.mark.integration

LOCK = "switchover:tenant_lock:t-1"
SHORT = 0.2
"""A TTL short enough to let expire in a test (seconds)."""


def settings_for(url: str) -> Settings:
    return Settings(redis=RedisSettings(url=Secret(url), socket_timeout=2.0))


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[RedisClient]:
    async with RedisClient(settings_for(redis_server.url)) as client:
        yield client


@pytest.fixture
def locks(redis: RedisClient, redis_server: RedisServer) -> TenantLocks:
    return RedisTenantLocks(redis, settings_for(redis_server.url))


async def claimed(locks: TenantLocks, holder: str, ttl: float = 30.0) -> Fence:
    fence = await locks.claim("t-1", holder, ttl)
    assert isinstance(fence, Fence), fence
    return fence


async def test_claim_on_a_free_tenant_is_granted_with_a_token_and_a_ttl(
    locks: TenantLocks, raw: aioredis.Redis
) -> None:
    fence = await claimed(locks, "engine-a", ttl=30.0)
    assert fence == Fence("t-1", "engine-a", 1)
    assert await raw.get(LOCK) == "1|engine-a"
    assert await raw.get("switchover:fence") == "1"
    assert 29_000 < await raw.pttl(LOCK) <= 30_000


async def test_claim_held_by_another_holder_is_busy_naming_it(locks: TenantLocks) -> None:
    await claimed(locks, "engine-a")
    assert await locks.claim("t-1", "engine-b", 30.0) == Busy("t-1", "engine-a")


async def test_same_holder_reclaiming_gets_a_larger_token_and_the_old_one_stops_counting(
    locks: TenantLocks, raw: aioredis.Redis
) -> None:
    first = await claimed(locks, "engine-a")
    second = await claimed(locks, "engine-a")
    assert second.token > first.token
    assert await raw.get(LOCK) == f"{second.token}|engine-a"
    assert await locks.renew(first, 30.0) is False
    assert await locks.renew(second, 30.0) is True


async def test_tokens_grow_across_tenants_from_one_counter(locks: TenantLocks) -> None:
    tokens = []
    for tenant in ("t-1", "t-2", "t-3"):
        fence = await locks.claim(tenant, "engine-a", 30.0)
        assert isinstance(fence, Fence)
        tokens.append(fence.token)
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == 3


async def test_renew_extends_the_claim_past_its_first_ttl(locks: TenantLocks) -> None:
    fence = await claimed(locks, "engine-a", ttl=SHORT)
    assert await locks.renew(fence, 30.0) is True
    await asyncio.sleep(SHORT + 0.1)
    assert await locks.claim("t-1", "engine-b", 30.0) == Busy("t-1", "engine-a")
    assert await locks.renew(fence, 30.0) is True


async def test_renew_is_false_after_release(locks: TenantLocks, raw: aioredis.Redis) -> None:
    fence = await claimed(locks, "engine-a")
    await locks.release(fence)
    assert await raw.exists(LOCK) == 0
    assert await locks.renew(fence, 30.0) is False
    assert await raw.exists(LOCK) == 0


async def test_renew_is_false_once_the_claim_expired_and_another_holder_took_it(
    locks: TenantLocks, raw: aioredis.Redis
) -> None:
    """An engine frozen past its TTL finds its claim gone and cannot take it back by renewing."""
    stale = await claimed(locks, "engine-a", ttl=SHORT)
    await asyncio.sleep(SHORT + 0.1)
    current = await claimed(locks, "engine-b")
    assert current.token > stale.token
    assert await locks.renew(stale, 30.0) is False
    assert await raw.get(LOCK) == f"{current.token}|engine-b"


async def test_renew_is_false_once_the_claim_expired_unclaimed(locks: TenantLocks) -> None:
    fence = await claimed(locks, "engine-a", ttl=SHORT)
    await asyncio.sleep(SHORT + 0.1)
    assert await locks.renew(fence, 30.0) is False


async def test_release_with_a_stale_token_keeps_the_new_holders_lock(
    locks: TenantLocks, raw: aioredis.Redis
) -> None:
    stale = await claimed(locks, "engine-a", ttl=SHORT)
    await asyncio.sleep(SHORT + 0.1)
    current = await claimed(locks, "engine-b")
    await locks.release(stale)
    assert await raw.get(LOCK) == f"{current.token}|engine-b"
    assert await locks.claim("t-1", "engine-a", 30.0) == Busy("t-1", "engine-b")


async def test_release_by_the_same_holder_with_an_older_token_keeps_the_newer_claim(
    locks: TenantLocks, raw: aioredis.Redis
) -> None:
    old = await claimed(locks, "engine-a")
    new = await claimed(locks, "engine-a")
    await locks.release(old)
    assert await raw.get(LOCK) == f"{new.token}|engine-a"


async def test_release_is_idempotent_and_frees_the_tenant(locks: TenantLocks) -> None:
    fence = await claimed(locks, "engine-a")
    await locks.release(fence)
    await locks.release(fence)
    assert isinstance(await locks.claim("t-1", "engine-b", 30.0), Fence)


async def test_twenty_claimers_racing_for_one_tenant_get_exactly_one_grant(
    locks: TenantLocks,
) -> None:
    holders = [f"engine-{n}" for n in range(20)]
    results = await asyncio.gather(*(locks.claim("t-1", h, 30.0) for h in holders))
    granted = [r for r in results if isinstance(r, Fence)]
    assert len(granted) == 1
    winner = granted[0].holder
    assert all(r == Busy("t-1", winner) for r in results if isinstance(r, Busy))


async def test_holder_containing_the_separator_is_still_recognised(locks: TenantLocks) -> None:
    fence = await claimed(locks, "host|pid-7")
    again = await claimed(locks, "host|pid-7")
    assert again.token > fence.token
    assert await locks.claim("t-1", "host", 30.0) == Busy("t-1", "host|pid-7")


async def test_a_zero_ttl_becomes_one_millisecond_instead_of_an_error(
    locks: TenantLocks,
) -> None:
    """PX 0 is an error in Redis; the claim lives 1 ms instead."""
    await claimed(locks, "engine-a", ttl=0.0)
    await asyncio.sleep(0.05)
    assert isinstance(await locks.claim("t-1", "engine-b", 30.0), Fence)


async def test_scripts_are_loaded_again_after_the_server_forgot_them(
    locks: TenantLocks, raw: aioredis.Redis
) -> None:
    fence = await claimed(locks, "engine-a")
    await raw.script_flush()
    assert await locks.renew(fence, 30.0) is True
    await locks.release(fence)
    assert await raw.exists(LOCK) == 0


async def test_claim_on_a_stopped_redis_is_transient(
    locks: TenantLocks, redis_server: RedisServer
) -> None:
    redis_server.stop()
    with pytest.raises(TransientError) as info:
        await locks.claim("t-1", "engine-a", 30.0)
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE


@pytest.fixture(params=["redis", "local"])
def either_locks(request: pytest.FixtureRequest, redis_server: RedisServer) -> TenantLocks:
    """The Redis claims and the in-process ones: the takeover rule is the same for both."""
    if request.param == "local":
        return LocalTenantLocks()
    redis: RedisClient = request.getfixturevalue("redis")
    return RedisTenantLocks(redis, settings_for(redis_server.url))


async def test_a_later_generation_of_the_same_name_takes_the_claim_over(
    either_locks: TenantLocks,
) -> None:
    """The engine that took a store over (its lease epoch is larger) takes its claims."""
    old = await claimed(either_locks, "store/p/t-1#3")
    new = await claimed(either_locks, "store/p/t-1#4")
    assert new.token > old.token
    assert await either_locks.renew(old, 30.0) is False
    assert await claimed(either_locks, "store/p/t-1#4") != new  # its own again: a new token


async def test_an_earlier_generation_cannot_take_the_claim_back(
    either_locks: TenantLocks,
) -> None:
    """A deposed engine woken after its successor claimed the tenant is refused, and the
    successor's claim stays current."""
    successor = await claimed(either_locks, "store/p/t-1#4")
    assert await either_locks.claim("t-1", "store/p/t-1#3", 30.0) == Busy("t-1", "store/p/t-1#4")
    assert await either_locks.renew(successor, 30.0) is True


@pytest.mark.parametrize(
    "other",
    ["store/p/t-2#9", "other-store/p/t-1#9", "store/p/t-1", "store/p/t-1#x", "#9"],
)
async def test_another_name_is_busy_whatever_its_generation(
    either_locks: TenantLocks, other: str
) -> None:
    await claimed(either_locks, "store/p/t-1#4")
    assert await either_locks.claim("t-1", other, 30.0) == Busy("t-1", "store/p/t-1#4")


async def test_a_generation_without_a_name_takes_nothing_over(either_locks: TenantLocks) -> None:
    await claimed(either_locks, "#4")
    assert await either_locks.claim("t-1", "#5", 30.0) == Busy("t-1", "#4")


@pytest.mark.parametrize(
    ("claimant", "holder", "expected"),
    [
        ("a#2", "a#2", True),
        ("a#3", "a#2", True),
        ("a#10", "a#9", True),  # numbers, not text
        ("a#1", "a#2", False),
        ("a#2", "b#2", False),
        ("a", "a#2", False),  # no generation counts as 0
        ("a#2", "a", True),  # a claim taken before holders had generations
        ("a#0", "a", True),
        ("a", "a", True),
        ("#3", "#2", False),  # no name
        ("a#x", "a", False),  # not a generation: another name
        ("a#٣", "a#2", False),  # ASCII digits only, as Lua's %d
        ("x/y#z#3", "x/y#z#2", True),  # the generation is what follows the last '#'
    ],
)
def test_takes_over(claimant: str, holder: str, expected: bool) -> None:
    assert takes_over(claimant, holder) is expected


async def test_a_claim_without_a_generation_is_taken_over_by_its_name(
    either_locks: TenantLocks,
) -> None:
    """A claim taken before holder names had generations (an older engine, mid-run) is taken
    over by the same name at once, not left Busy until it expires."""
    old = await claimed(either_locks, "store/p/t-1")
    new = await claimed(either_locks, "store/p/t-1#1")
    assert await either_locks.renew(old, 30.0) is False
    assert await either_locks.claim("t-1", "store/p/t-1", 30.0) == Busy("t-1", "store/p/t-1#1")
    assert await either_locks.renew(new, 30.0) is True
