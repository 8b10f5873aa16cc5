"""The engine lease: one live engine per store, taken over when its holder dies."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from switchover.domain.records import Lease
from switchover.errors import EngineBusyError

if TYPE_CHECKING:
    from switchover.stores.protocol import Store

HOST = socket.gethostname()


def new_owner_id() -> str:
    """A fresh, unique engine owner id."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_is_live(lease: Lease, now: float | None = None) -> bool:
    """Unexpired, and (when held on this host) its process still exists.

    A lease held by a dead process on this host is not live even before it expires, so a
    restart after ``kill -9`` takes over at once instead of waiting out the TTL.
    """
    if lease.expires_at <= (time.time() if now is None else now):
        return False
    return lease.host != HOST or pid_alive(lease.pid)


async def acquire_lease(
    store: Store, owner: str, ttl: float, extra: Mapping[str, Any] | None = None
) -> Lease:
    """Take the store's lease for ``owner``; the returned lease carries the store's new epoch.

    ``extra`` is what others should know of the engine (e.g. the settings it works with).

    Raises:
        EngineBusyError: a live engine holds it.
    """
    for _ in range(5):
        current = await store.get_lease()
        mine = Lease(
            owner=owner,
            host=HOST,
            pid=os.getpid(),
            expires_at=time.time() + ttl,
            extra=dict(extra or {}),
        )
        if current is not None and current.owner != owner and lease_is_live(current):
            raise EngineBusyError(current.owner, current.host, current.pid)
        taken = await store.swap_lease(current.owner if current else None, mine)
        if taken is not None:
            return taken
    current = await store.get_lease()
    if current is None:
        raise EngineBusyError("unknown", "unknown", 0)
    raise EngineBusyError(current.owner, current.host, current.pid)


async def renew_lease(store: Store, lease: Lease, ttl: float) -> Lease | None:
    """Extend ``lease`` (same epoch); None when it was lost to another engine."""
    renewed = Lease(
        lease.owner, lease.host, lease.pid, time.time() + ttl, lease.extra, epoch=lease.epoch
    )
    written = await store.swap_lease(lease.owner, renewed)
    if written is None or written.epoch != lease.epoch:
        return None
    return written
