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

from typing import TYPE_CHECKING

from switchover._lazy import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "PlanStatus": "switchover.domain",
    "Target": "switchover.domain",
    "TaskStatus": "switchover.domain",
    "parse_plan_text": "switchover.domain",
    "Accepted": "switchover.engine",
    "Engine": "switchover.engine",
    "ErrorType": "switchover.errors",
    "NotFoundError": "switchover.errors",
    "OperationRefusedError": "switchover.errors",
    "PlanValidationError": "switchover.errors",
    "SwitchoverError": "switchover.errors",
    "Settings": "switchover.settings",
    "load_settings": "switchover.settings",
    "runtime": "switchover.wiring",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)
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
