"""The stage catalogue: which stages a tenant config gets, in which order, with which steps."""

from __future__ import annotations

from collections.abc import Sequence

from switchover import wire
from switchover.domain.config import TenantConfig
from switchover.settings import Settings
from switchover.stages.base import Stage, StageRequest
from switchover.steps.agent import AgentReadinessStep, JudgeAgent, load_judge_agent
from switchover.steps.config_push import ConfigPushStep
from switchover.steps.http_client import HttpClient
from switchover.steps.notify import AsbcSwitchStep, PortalNotifyStep
from switchover.steps.protocol import Step
from switchover.steps.redis_client import RedisClient

ASBC_GATEWAY = "asbc-gateway"
PORTAL = "portal"
BLUE_GREEN_GATEWAY = "blue-green-gateway"
OB_SERVICE = "ob-service"

STAGE_ORDER = (ASBC_GATEWAY, PORTAL, BLUE_GREEN_GATEWAY, OB_SERVICE)
"""Every stage there is, in execution order (SPEC §4)."""

BLUE_GREEN_GATEWAY_SERVICE = "blueGreenGatewayService"
OB_SERVICE_KEY = "obService"


def stage_names(config: TenantConfig) -> tuple[str, ...]:
    """The stages ``config`` gets, in execution order: the one place with SPEC §4's rules.

    * ``asbc-gateway`` when it has called-number rules and a trunk group;
    * ``portal`` when it has a deploy unit name;
    * ``blue-green-gateway`` when it has network endpoints;
    * ``ob-service`` when it has a deploy unit name.

    Forward runs, retries and rollbacks (with the previous config) all use it.
    """
    included = {
        ASBC_GATEWAY: bool(config.called_number_rules) and bool(config.trunk_group),
        PORTAL: bool(config.deploy_unit_name),
        BLUE_GREEN_GATEWAY: bool(config.network_endpoints),
        OB_SERVICE: bool(config.deploy_unit_name),
    }
    return tuple(name for name in STAGE_ORDER if included[name])


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
