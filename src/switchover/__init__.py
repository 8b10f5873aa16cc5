"""switchover: switch tenants between deployment units, safely, and back.

Layers (imports point inward): ``errors`` and ``domain`` (pure) ← ``steps``, ``stages``,
``stores``, ``discovery`` ← ``engine`` (protocols only) ← ``wiring`` (the one place that knows
concrete classes) ← ``cli``.

Typical use::

    async with runtime(load_settings()) as rt, rt.make_engine() as engine:
        await engine.submit_plan(parse_plan_text(text))
        await engine.wait_idle()
"""

from __future__ import annotations

from switchover.domain import PlanStatus, Target, TaskStatus, parse_plan_text
from switchover.engine import Accepted, Engine
from switchover.errors import (
    ErrorType,
    NotFoundError,
    OperationRefusedError,
    PlanValidationError,
    SwitchoverError,
)
from switchover.settings import Settings, load_settings
from switchover.wiring import runtime

__version__ = "0.1.0"

__all__ = [
    "Accepted",
    "Engine",
    "ErrorType",
    "NotFoundError",
    "OperationRefusedError",
    "PlanStatus",
    "PlanValidationError",
    "Settings",
    "SwitchoverError",
    "Target",
    "TaskStatus",
    "__version__",
    "load_settings",
    "parse_plan_text",
    "runtime",
]
