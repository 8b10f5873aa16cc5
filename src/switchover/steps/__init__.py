"""The Step protocol and the built-in steps."""

from switchover.steps.agent import AgentReadinessStep, JudgeAgent, load_judge_agent
from switchover.steps.config_push import ConfigPushStep
from switchover.steps.http_client import HttpClient
from switchover.steps.notify import AsbcSwitchStep, PortalNotifyStep
from switchover.steps.protocol import Step, StepContext, StepJournal
from switchover.steps.redis_client import RedisClient
from switchover.steps.retry import backoff_delay, retry_transient

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
