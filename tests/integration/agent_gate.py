"""An OB agent-readiness check that tests can hold closed, to act while a task waits in it.

Point ``settings.agent.check`` at ``tests.integration.agent_gate:judge_agent``. A tenant with no
gate is ready at once; a tenant with a gate (``hold``) signals ``reached`` when its ob-service
stage asks, and is ready only once the test sets ``opened``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

CHECK = "tests.integration.agent_gate:judge_agent"
"""The ``settings.agent.check`` value naming ``judge_agent``."""


@dataclass(slots=True)
class Gate:
    """``reached``: the task asked about its agents; ``opened``: the test lets it go on."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)


_GATES: dict[str, Gate] = {}


def hold(tenant_id: str) -> Gate:
    """Hold the tenant's ob-service stage at its agent check until ``opened`` is set."""
    gate = _GATES[tenant_id] = Gate()
    return gate


def release_all() -> None:
    """Forget every gate (a test's teardown)."""
    for gate in _GATES.values():
        gate.opened.set()
    _GATES.clear()


async def judge_agent(tenant_id: str, plan_id: str) -> bool:
    """Ready at once, or when the tenant's gate opens."""
    gate = _GATES.get(tenant_id)
    if gate is not None:
        gate.reached.set()
        await gate.opened.wait()
    return bool(plan_id)
