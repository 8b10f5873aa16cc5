"""The stage catalogue: which stages a tenant config gets, in which order, with which steps."""

from __future__ import annotations

from collections.abc import Sequence

from switchover import wire
from switchover.settings import Settings
from switchover.stages.base import Stage, StageRequest

# The rules themselves live in ``names``: reading a plan needs them without the steps.
from switchover.stages.names import (
    ASBC_GATEWAY,
    BLUE_GREEN_GATEWAY,
    BLUE_GREEN_GATEWAY_SERVICE,
    OB_SERVICE,
    OB_SERVICE_KEY,
    PORTAL,
    STAGE_ORDER,
    stage_names,
)
from switchover.steps.agent import AgentReadinessStep, JudgeAgent, load_judge_agent
from switchover.steps.config_push import ConfigPushStep
from switchover.steps.http_client import HttpClient
from switchover.steps.notify import AsbcSwitchStep, PortalNotifyStep
from switchover.steps.protocol import Step
from switchover.steps.redis_client import RedisClient

__all__ = [
    "ASBC_GATEWAY",
    "BLUE_GREEN_GATEWAY",
    "BLUE_GREEN_GATEWAY_SERVICE",
    "OB_SERVICE",
    "OB_SERVICE_KEY",
    "PORTAL",
    "STAGE_ORDER",
    "CatalogueStageBuilder",
    "stage_names",
]


class CatalogueStageBuilder:
    """Builds the stages of ``stage_names`` with fresh step objects on the shared clients.

    The same builder serves forward runs and rollbacks: ``request.config`` is already the
    config the run applies, and the steps read the mode from their context.
    """

    def __init__(
        self,
        http: HttpClient,
        redis: RedisClient,
        settings: Settings,
        judge_agent: JudgeAgent | None = None,
    ) -> None:
        """Create the builder.

        Args:
            http: shared HTTP client of every step.
            redis: shared Redis client of every config push.
            settings: ``agent.check`` names the readiness check when ``judge_agent`` is None.
            judge_agent: the OB agent-readiness check; overrides ``settings.agent.check``.

        Raises:
            SettingsError: ``settings.agent.check`` cannot be imported.
        """
        self._http = http
        self._redis = redis
        self._judge = (
            judge_agent if judge_agent is not None else load_judge_agent(settings.agent.check)
        )

    def names(self, request: StageRequest) -> tuple[str, ...]:
        """The stage names ``build`` would return."""
        return stage_names(request.config)

    def build(self, request: StageRequest) -> Sequence[Stage]:
        """Fresh stages, with fresh step objects, in execution order."""
        return [Stage(name, self._steps(name)) for name in stage_names(request.config)]

    def _steps(self, stage: str) -> list[Step]:
        if stage == ASBC_GATEWAY:
            return [AsbcSwitchStep(self._http)]
        if stage == PORTAL:
            return [PortalNotifyStep(self._http)]
        if stage == BLUE_GREEN_GATEWAY:
            return [self._config_push(wire.BG_GATEWAY_FIELD, BLUE_GREEN_GATEWAY_SERVICE)]
        if stage == OB_SERVICE:
            return [
                AgentReadinessStep(self._judge),
                self._config_push(wire.OB_FIELD, OB_SERVICE_KEY),
            ]
        raise ValueError(f"unknown stage {stage!r}")

    def _config_push(self, field: str, service_key: str) -> ConfigPushStep:
        return ConfigPushStep(
            field=field, service_key=service_key, http=self._http, redis=self._redis
        )
