"""Which stages a tenant config gets, in which order: SPEC §4's rules, with nothing else.

Kept apart from the catalogue's step wiring so that reading a plan (``validate``, ``diff``)
does not import the HTTP and Redis stacks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

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
    # One lookup among the few possible answers: validate asks for every tenant of a plan.
    return _STAGES[
        bool(config.called_number_rules and config.trunk_group),
        bool(config.deploy_unit_name),
        bool(config.network_endpoints),
    ]


def stage_counts(configs: Iterable[TenantConfig]) -> dict[str, int]:
    """How many of ``configs`` get each stage, the stages in the order they first appear (as
    counting config by config gives them): ``validate``'s summary of a plan."""
    counts: dict[str, int] = {}
    for names, count in Counter(map(stage_names, configs)).items():
        for name in names:
            counts[name] = counts.get(name, 0) + count
    return counts


def _stages(rules_and_trunk: bool, unit_name: bool, endpoints: bool) -> tuple[str, ...]:
    included = {
        ASBC_GATEWAY: rules_and_trunk,
        PORTAL: unit_name,
        BLUE_GREEN_GATEWAY: endpoints,
        OB_SERVICE: unit_name,
    }
    return tuple(name for name in STAGE_ORDER if included[name])


_STAGES = {
    (rules_and_trunk, unit_name, endpoints): _stages(rules_and_trunk, unit_name, endpoints)
    for rules_and_trunk in (False, True)
    for unit_name in (False, True)
    for endpoints in (False, True)
}
