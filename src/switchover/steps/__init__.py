"""The Step protocol and the built-in steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchover._lazy import lazy_exports

if TYPE_CHECKING:
    from switchover.steps.agent import AgentReadinessStep, JudgeAgent, load_judge_agent
    from switchover.steps.config_push import ConfigPushStep
    from switchover.steps.http_client import HttpClient
    from switchover.steps.notify import AsbcSwitchStep, PortalNotifyStep
    from switchover.steps.protocol import Step, StepContext, StepJournal
    from switchover.steps.redis_client import RedisClient
    from switchover.steps.retry import backoff_delay, retry_transient

_EXPORTS = {
    "AgentReadinessStep": "switchover.steps.agent",
    "JudgeAgent": "switchover.steps.agent",
    "load_judge_agent": "switchover.steps.agent",
    "ConfigPushStep": "switchover.steps.config_push",
    "HttpClient": "switchover.steps.http_client",
    "AsbcSwitchStep": "switchover.steps.notify",
    "PortalNotifyStep": "switchover.steps.notify",
    "Step": "switchover.steps.protocol",
    "StepContext": "switchover.steps.protocol",
    "StepJournal": "switchover.steps.protocol",
    "RedisClient": "switchover.steps.redis_client",
    "backoff_delay": "switchover.steps.retry",
    "retry_transient": "switchover.steps.retry",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "AgentReadinessStep",
    "AsbcSwitchStep",
    "ConfigPushStep",
    "HttpClient",
    "JudgeAgent",
    "PortalNotifyStep",
    "RedisClient",
    "Step",
    "StepContext",
    "StepJournal",
    "backoff_delay",
    "load_judge_agent",
    "retry_transient",
]
