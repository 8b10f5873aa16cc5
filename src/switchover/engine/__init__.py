"""asyncio orchestration: scheduler, task runner, operations, leases, control requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchover._lazy import lazy_exports

if TYPE_CHECKING:
    from switchover.domain.commands import Accepted
    from switchover.engine.engine import Engine
    from switchover.engine.session import Session
    from switchover.errors import EngineStoppedError

_EXPORTS = {
    "Accepted": "switchover.domain.commands",
    "Engine": "switchover.engine.engine",
    "EngineStoppedError": "switchover.errors",
    "Session": "switchover.engine.session",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = ["Accepted", "Engine", "EngineStoppedError", "Session"]
