"""asyncio orchestration: scheduler, task runner, operations, leases, control requests."""

from switchover.domain.commands import Accepted
from switchover.engine.engine import Engine, EngineStoppedError
from switchover.engine.session import Session

__all__ = ["Accepted", "Engine", "EngineStoppedError", "Session"]
