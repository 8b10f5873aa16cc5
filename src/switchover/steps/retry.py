"""Retry of transient I/O errors inside a step: a few attempts, exponential backoff with jitter.

The loop is tenacity's (``AsyncRetrying``): it sleeps on the step's ``Clock`` (a fake one in
tests), retries only ``TransientError``, and lets everything else through at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from switchover.clock import Clock
from switchover.errors import TransientError
from switchover.settings import RetrySettings

T = TypeVar("T")


def backoff_delay(policy: RetrySettings, retry_index: int) -> float:
    """The longest pause before retry number ``retry_index`` (0 for the first retry).

    Args:
        policy: base delay, multiplier and cap.
        retry_index: how many retries came before this one.

    Returns:
        ``base_delay * multiplier ** retry_index``, capped at ``max_delay``; the pause actually
        taken is drawn between ``(1 - policy.jitter)`` times that and that (see ``backoff``).
    """
    return float(min(policy.base_delay * policy.multiplier**retry_index, policy.max_delay))


def backoff(policy: RetrySettings) -> wait_base:
    """The pauses of ``policy`` as a tenacity wait strategy, jitter included.

    The pause before retry ``n`` is ``(1 - jitter) * d + jitter * U * d``, where
    ``d = backoff_delay(policy, n)`` and ``U`` is uniform in [0, 1]: a fixed share of the
    nominal pause plus tenacity's "full jitter" (``wait_random_exponential``) over the rest.
    ``jitter = 0`` gives fixed exponential pauses, ``1`` full jitter.

    Args:
        policy: base delay, multiplier, cap and jitter.

    Returns:
        A strategy whose pauses lie in ``[(1 - jitter) * d, d]``.
    """
    fixed, spread = 1.0 - policy.jitter, policy.jitter
    base, cap, exp_base = policy.base_delay, policy.max_delay, policy.multiplier
    # Scaling both the base and the cap by a share scales the capped pause by it, so the two
    # parts add up to at most the nominal pause.
    return wait_exponential(
        multiplier=base * fixed, max=cap * fixed, exp_base=exp_base
    ) + wait_random_exponential(multiplier=base * spread, max=cap * spread, exp_base=exp_base)


async def retry_transient(
    op: Callable[[], Awaitable[T]],
    *,
    policy: RetrySettings,
    clock: Clock,
    counters: Counter[str] | None = None,
) -> T:
    """Run ``op``, retrying it on ``TransientError`` up to ``policy.attempts`` more times.

    Any other exception, and ``asyncio.CancelledError``, passes through at once.

    Args:
        op: makes a fresh awaitable for each attempt.
        policy: how many retries and how long to wait between them (``backoff``).
        clock: sleeps between attempts (a fake one in tests).
        counters: where each retry is counted (``step_retries``), if anywhere.

    Returns:
        What the first successful attempt returned.

    Raises:
        TransientError: every attempt failed; this is the last error, its ``details`` carry
            ``attempts`` (how many were made).
    """

    def count(state: RetryCallState) -> None:
        if counters is not None:
            counters["step_retries"] += 1

    made = 0

    async def attempt() -> T:
        nonlocal made
        made += 1
        return await op()

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts + 1),
        wait=backoff(policy),
        retry=retry_if_exception_type(TransientError),
        sleep=clock.sleep,
        before_sleep=count,
        reraise=True,
    )
    try:
        return await retrying(attempt)
    except TransientError as exc:
        exc.details = {**exc.details, "attempts": made}
        raise
