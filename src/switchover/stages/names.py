"""Which stages a tenant config gets, in which order: SPEC §4's rules, with nothing else.

Kept apart from the catalogue's step wiring so that reading a plan (``validate``, ``diff``)
does not import the HTTP and Redis stacks.
"""

from __future__ import annotations

from switchover.domain.config import TenantConfig

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
