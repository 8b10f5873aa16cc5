"""retry_transient: attempts, jittered exponential backoff on the clock, what is retried, counts."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.metrics import Metrics
from switchover.settings import RetrySettings
from switchover.steps.retry import backoff_delay, retry_transient
from tests.steps.fakes import FakeClock, is_backoff

POLICY = RetrySettings(attempts=3, base_delay=0.5, multiplier=2.0, max_delay=8.0, jitter=0)
"""Fixed pauses, to check the exponential part exactly."""


class Flaky:
    """Fails with the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def transient() -> TransientError:
    return TransientError(ErrorType.NETWORK_ERROR, "connection refused")


async def test_first_success_returns_without_sleeping() -> None:
    clock = FakeClock()
    op = Flaky()
    assert await retry_transient(op, policy=POLICY, clock=clock) == "ok"
    assert (op.calls, clock.sleeps) == (1, [])


async def test_transient_errors_are_retried_with_exponential_backoff() -> None:
    clock = FakeClock()
    op = Flaky(transient(), transient())
    assert await retry_transient(op, policy=POLICY, clock=clock) == "ok"
    assert op.calls == 3
    assert clock.sleeps == [0.5, 1.0]


async def test_last_transient_error_is_raised_after_all_attempts_with_count() -> None:
    clock = FakeClock()
    op = Flaky(*(transient() for _ in range(10)))
    with pytest.raises(TransientError) as info:
        await retry_transient(op, policy=POLICY, clock=clock)
    assert op.calls == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert info.value.details["attempts"] == 4
    assert info.value.error_type is ErrorType.NETWORK_ERROR


async def test_the_final_error_keeps_its_own_details() -> None:
    error = TransientError(ErrorType.TIMEOUT_ERROR, "timed out", details={"url": "http://h/v"})
    with pytest.raises(TransientError) as info:
        await retry_transient(Flaky(error), policy=POLICY.replace(attempts=0), clock=FakeClock())
    assert info.value is error
    assert info.value.details == {"url": "http://h/v", "attempts": 1}


def test_backoff_is_capped_at_max_delay() -> None:
    policy = RetrySettings(attempts=5, base_delay=1.0, multiplier=10.0, max_delay=8.0)
    assert [backoff_delay(policy, n) for n in range(4)] == [1.0, 8.0, 8.0, 8.0]


async def test_capped_pauses_stay_at_max_delay_without_jitter() -> None:
    clock = FakeClock()
    policy = RetrySettings(attempts=5, base_delay=1.0, multiplier=10.0, max_delay=8.0, jitter=0)
    with pytest.raises(TransientError):
        await retry_transient(Flaky(*(transient() for _ in range(6))), policy=policy, clock=clock)
    assert clock.sleeps == [1.0, 8.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize("jitter", [0.25, 0.5, 1.0])
async def test_jittered_pauses_lie_between_their_bounds_and_vary(jitter: float) -> None:
    """Each pause is within [(1 - jitter) d, d] of its nominal d, and they are not all alike."""
    policy = RetrySettings(attempts=6, base_delay=0.5, multiplier=2.0, max_delay=4.0, jitter=jitter)
    clock = FakeClock()
    for _ in range(30):
        with pytest.raises(TransientError):
            await retry_transient(
                Flaky(*(transient() for _ in range(7))), policy=policy, clock=clock
            )
    runs = [clock.sleeps[i : i + 6] for i in range(0, len(clock.sleeps), 6)]
    assert len(runs) == 30
    assert all(is_backoff(run, policy) for run in runs)
    for n in range(6):  # nominal 0.5, 1, 2, 4, 4, 4
        nth = [run[n] for run in runs]
        assert min(nth) >= (1 - jitter) * backoff_delay(policy, n) - 1e-9
        assert max(nth) <= backoff_delay(policy, n) + 1e-9
        assert len(set(nth)) > 1


async def test_default_policy_is_jittered_exponential_backoff() -> None:
    policy = RetrySettings()
    assert (policy.attempts, policy.base_delay, policy.multiplier, policy.jitter) == (
        3,
        0.5,
        2.0,
        0.5,
    )
    clock = FakeClock()
    with pytest.raises(TransientError):
        await retry_transient(Flaky(*(transient() for _ in range(4))), policy=policy, clock=clock)
    assert len(clock.sleeps) == 3
    assert is_backoff(clock.sleeps, policy)
    assert 0.25 <= clock.sleeps[0] <= 0.5
    assert 1.0 <= clock.sleeps[2] <= 2.0


async def test_no_delay_at_all_is_a_valid_policy() -> None:
    clock = FakeClock()
    policy = RetrySettings(attempts=2, base_delay=0, multiplier=1)
    assert await retry_transient(Flaky(transient(), transient()), policy=policy, clock=clock)
    assert clock.sleeps == [0.0, 0.0]


async def test_each_retry_is_counted_and_exposed_as_a_metric() -> None:
    counters: Counter[str] = Counter()
    clock = FakeClock()
    await retry_transient(
        Flaky(transient(), transient()), policy=POLICY, clock=clock, counters=counters
    )
    with pytest.raises(TransientError):
        await retry_transient(
            Flaky(*(transient() for _ in range(9))), policy=POLICY, clock=clock, counters=counters
        )
    await retry_transient(Flaky(), policy=POLICY, clock=clock, counters=counters)
    assert counters == Counter(step_retries=5)  # 2 + 3: retries, not attempts
    text = Metrics().render(counters, []).decode()
    assert "switchover_step_retries_total 5.0" in text


async def test_non_transient_step_failure_is_not_retried() -> None:
    clock = FakeClock()
    counters: Counter[str] = Counter()
    op = Flaky(StepFailedError(ErrorType.BUSINESS_ERROR, "refused"))
    with pytest.raises(StepFailedError) as info:
        await retry_transient(op, policy=POLICY, clock=clock, counters=counters)
    assert not isinstance(info.value, TransientError)
    assert "attempts" not in info.value.details
    assert (op.calls, clock.sleeps, counters) == (1, [], Counter())


async def test_other_exceptions_pass_through_at_once() -> None:
    clock = FakeClock()
    op = Flaky(transient(), KeyError("bug"))
    with pytest.raises(KeyError, match="bug"):
        await retry_transient(op, policy=POLICY, clock=clock)
    assert (op.calls, clock.sleeps) == (2, [0.5])


async def test_cancellation_passes_through_and_is_not_retried() -> None:
    clock = FakeClock()
    op = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await retry_transient(op, policy=POLICY, clock=clock)
    assert (op.calls, clock.sleeps) == (1, [])


async def test_cancellation_during_a_pause_stops_the_retries() -> None:
    class StoppedClock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            raise asyncio.CancelledError

    clock = StoppedClock()
    op = Flaky(transient(), transient())
    with pytest.raises(asyncio.CancelledError):
        await retry_transient(op, policy=POLICY, clock=clock)
    assert (op.calls, clock.sleeps) == (1, [0.5])


async def test_zero_attempts_means_a_single_try() -> None:
    clock = FakeClock()
    op = Flaky(transient())
    with pytest.raises(TransientError) as info:
        await retry_transient(
            op,
            policy=RetrySettings(attempts=0, base_delay=1, multiplier=2, max_delay=2),
            clock=clock,
        )
    assert (op.calls, clock.sleeps, info.value.details["attempts"]) == (1, [], 1)
