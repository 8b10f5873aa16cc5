"""Reading a plan's events from any store: from a sequence number on, optionally forever."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from switchover.clock import SystemClock

if TYPE_CHECKING:
    from switchover.clock import Clock
    from switchover.domain.events import Event
    from switchover.stores.protocol import StateStore

PAGE = 1000
"""Events read per store call."""


async def tail_events(
    store: StateStore,
    plan_id: str,
    since: int = 0,
    *,
    follow: bool = False,
    poll: float = 0.2,
    clock: Clock | None = None,
) -> AsyncIterator[Event]:
    """The plan's events with ``seq > since``, in order; with ``follow``, forever.

    Sequence numbers are gapless, so a reader that resumes from the last ``seq`` it saw misses
    nothing and sees nothing twice. With ``follow`` the store is polled every ``poll`` seconds
    while there is nothing new.
    """
    sleep = (clock or SystemClock()).sleep
    while True:
        batch = await store.read_events(plan_id, since, PAGE)
        for event in batch:
            since = event.seq
            yield event
        if len(batch) == PAGE:
            continue
        if not follow:
            return
        await sleep(poll)
