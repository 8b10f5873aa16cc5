"""retry_transient: attempts, exponential backoff on the clock, what is and is not retried."""

from __future__ import annotations

import asyncio

import pytest

from switchover.errors import ErrorType, StepFailedError, TransientError
from switchover.settings import RetrySettings
from switchover.steps.retry import backoff_delay, retry_transient
from tests.steps.fakes import FakeClock

POLICY = RetrySettings(attempts=3, base_delay=0.5, multiplier=2.0, max_delay=8.0)


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


def test_backoff_is_capped_at_max_delay() -> None:
    policy = RetrySettings(attempts=5, base_delay=1.0, multiplier=10.0, max_delay=8.0)
    assert [backoff_delay(policy, n) for n in range(4)] == [1.0, 8.0, 8.0, 8.0]


async def test_non_transient_step_failure_is_not_retried() -> None:
    clock = FakeClock()
    op = Flaky(StepFailedError(ErrorType.BUSINESS_ERROR, "refused"))
    with pytest.raises(StepFailedError) as info:
        await retry_transient(op, policy=POLICY, clock=clock)
    assert not isinstance(info.value, TransientError)
    assert (op.calls, clock.sleeps) == (1, [])


async def test_cancellation_passes_through_and_is_not_retried() -> None:
    clock = FakeClock()
    op = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await retry_transient(op, policy=POLICY, clock=clock)
    assert (op.calls, clock.sleeps) == (1, [])


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
