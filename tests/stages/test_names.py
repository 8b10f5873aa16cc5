"""Stage names: the cached answers are SPEC §4's rules, and a plan's counts are the per-config
counts."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.stages.names import STAGE_ORDER, stage_counts, stage_names

ENDPOINT = NetworkEndpoint(key="r1", source_ip="127.0.0.11", target_ip="127.0.0.12")


def config(rules: str, trunk: str | None, unit: str | None, endpoints: bool) -> TenantConfig:
    return TenantConfig(
        tenant_id="t-1",
        plan_id="p-1",
        plan_version=1,
        called_number_rules=(rules,) if rules else (),
        trunk_group=trunk,
        deploy_unit_name=unit,
        network_endpoints=(ENDPOINT,) if endpoints else (),
    )


CONFIGS = [
    config(rules, trunk, unit, endpoints)
    for rules, trunk, unit, endpoints in itertools.product(
        ["", "1001"], [None, "", "tg"], [None, "", "green"], [False, True]
    )
]


def test_every_combination_gets_the_stages_spec_names() -> None:
    """Each stage is included by its own rule, in SPEC order; empty text includes nothing."""
    for item in CONFIGS:
        included = {
            "asbc-gateway": bool(item.called_number_rules) and bool(item.trunk_group),
            "portal": bool(item.deploy_unit_name),
            "blue-green-gateway": bool(item.network_endpoints),
            "ob-service": bool(item.deploy_unit_name),
        }
        assert stage_names(item) == tuple(name for name in STAGE_ORDER if included[name])


@given(st.lists(st.sampled_from(CONFIGS), max_size=30))
def test_stage_counts_are_the_counts_config_by_config(configs: list[TenantConfig]) -> None:
    """The same counts, in the order the stages first appear, as counting each config."""
    expected: dict[str, int] = {}
    for item in configs:
        for name in stage_names(item):
            expected[name] = expected.get(name, 0) + 1
    counts = stage_counts(configs)
    assert counts == expected
    assert list(counts) == list(expected)
