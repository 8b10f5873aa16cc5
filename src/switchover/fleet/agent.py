"""The local fleet's agent-readiness check: its agents are always ready."""

from __future__ import annotations


def judge_agent(tenant_id: str, plan_id: str) -> bool:
    """``settings.agent.check = "switchover.fleet.agent:judge_agent"`` for the local fleet."""
    return bool(tenant_id) and bool(plan_id)
