"""Retry of transient I/O errors inside a step: a few attempts with exponential backoff."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from switchover.clock import Clock
from switchover.errors import TransientError
from switchover.settings import RetrySettings

T = TypeVar("T")


def backoff_delay(policy: RetrySettings, retry_index: int) -> float:
    """The pause before retry number ``retry_index`` (0 for the first retry).

    Args:
        policy: base delay, multiplier and cap.
        retry_index: how many retries came before this one.

    Returns:
        ``base_delay * multiplier ** retry_index``, capped at ``max_delay``.
    """
    return float(min(policy.base_delay * policy.multiplier**retry_index, policy.max_delay))


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
        policy: how many retries and how long to wait between them.
        clock: sleeps between attempts (a fake one in tests).
        counters: where each retry is counted (``step_retries``), if anywhere.

    Returns:
        What the first successful attempt returned.

    Raises:
        TransientError: every attempt failed; this is the last error, its ``details`` carry
            ``attempts`` (how many were made).
    """
    retries = 0
    while True:
        try:
            return await op()
        except TransientError as exc:
            if retries >= policy.attempts:
                exc.details = {**exc.details, "attempts": retries + 1}
                raise
            delay = backoff_delay(policy, retries)
            retries += 1
            if counters is not None:
                counters["step_retries"] += 1
        await clock.sleep(delay)
