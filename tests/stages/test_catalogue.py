"""The stage catalogue: inclusion rules and order for every field combination, and the builder."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from switchover import wire
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.status import ExecutionMode
from switchover.errors import SettingsError
from switchover.settings import AgentSettings, Settings
from switchover.stages import CatalogueStageBuilder, StageRequest, stage_names
from switchover.steps import (
    AgentReadinessStep,
    AsbcSwitchStep,
    ConfigPushStep,
    HttpClient,
    PortalNotifyStep,
    RedisClient,
)
from tests.steps.fakes import always_ready

ENDPOINT = NetworkEndpoint(key="r1", source_ip="127.0.0.11", target_ip="127.0.0.12")


def config(*, rules: bool, trunk: bool, unit: bool, endpoints: bool) -> TenantConfig:
    return TenantConfig(
        tenant_id="t-1",
        plan_id="p-1",
        plan_version=1,
        called_number_rules=("1001",) if rules else (),
        trunk_group="tg" if trunk else None,
        deploy_unit_name="green" if unit else None,
        network_endpoints=(ENDPOINT,) if endpoints else (),
    )


def expected(*, rules: bool, trunk: bool, unit: bool, endpoints: bool) -> tuple[str, ...]:
    names: list[str] = []
    if rules and trunk:
        names.append("asbc-gateway")
    if unit:
        names.append("portal")
    if endpoints:
        names.append("blue-green-gateway")
    if unit:
        names.append("ob-service")
    return tuple(names)


COMBINATIONS = [
    dict(zip(("rules", "trunk", "unit", "endpoints"), flags, strict=True))
    for flags in itertools.product((False, True), repeat=4)
]


@pytest.mark.parametrize(
    "flags", COMBINATIONS, ids=lambda f: "-".join(k for k, v in f.items() if v)
)
def test_stage_names_follow_the_inclusion_rules_in_spec_order(flags: dict[str, bool]) -> None:
    assert stage_names(config(**flags)) == expected(**flags)


def test_full_config_gets_all_four_stages_in_order() -> None:
    full = config(rules=True, trunk=True, unit=True, endpoints=True)
    assert stage_names(full) == ("asbc-gateway", "portal", "blue-green-gateway", "ob-service")


def test_empty_strings_do_not_enable_stages() -> None:
    blank = TenantConfig(
        tenant_id="t-1", plan_id="p-1", plan_version=1, deploy_unit_name="", trunk_group=""
    )
    assert stage_names(blank) == ()


@pytest.fixture
async def clients() -> AsyncIterator[tuple[HttpClient, RedisClient]]:
    settings = Settings()
    http, redis = HttpClient(settings), RedisClient(settings)
    yield http, redis
    await http.aclose()
    await redis.close()


def request(cfg: TenantConfig, mode: ExecutionMode = ExecutionMode.NORMAL) -> StageRequest:
    return StageRequest(tenant_id=cfg.tenant_id, config=cfg, mode=mode)


async def test_builder_makes_the_steps_of_each_stage(
    clients: tuple[HttpClient, RedisClient],
) -> None:
    http, redis = clients
    builder = CatalogueStageBuilder(http, redis, Settings())
    full = config(rules=True, trunk=True, unit=True, endpoints=True)
    stages = builder.build(request(full))
    assert [s.name for s in stages] == list(builder.names(request(full)))
    steps = {s.name: list(s.steps) for s in stages}
    assert [type(s) for s in steps["asbc-gateway"]] == [AsbcSwitchStep]
    assert [type(s) for s in steps["portal"]] == [PortalNotifyStep]
    (bg,) = steps["blue-green-gateway"]
    assert isinstance(bg, ConfigPushStep)
    assert (bg.field, bg.service_key) == (wire.BG_GATEWAY_FIELD, "blueGreenGatewayService")
    agent, ob = steps["ob-service"]
    assert isinstance(agent, AgentReadinessStep)
    assert isinstance(ob, ConfigPushStep)
    assert (ob.field, ob.service_key) == (wire.OB_FIELD, "obService")


async def test_every_build_makes_fresh_step_objects(
    clients: tuple[HttpClient, RedisClient],
) -> None:
    http, redis = clients
    builder = CatalogueStageBuilder(http, redis, Settings())
    cfg = config(rules=True, trunk=True, unit=True, endpoints=True)
    first = [step for stage in builder.build(request(cfg)) for step in stage.steps]
    second = [step for stage in builder.build(request(cfg)) for step in stage.steps]
    assert all(a is not b for a, b in zip(first, second, strict=True))


async def test_rollback_builds_from_the_config_it_is_given(
    clients: tuple[HttpClient, RedisClient],
) -> None:
    http, redis = clients
    builder = CatalogueStageBuilder(http, redis, Settings())
    previous = config(rules=False, trunk=False, unit=False, endpoints=True)
    names = [s.name for s in builder.build(request(previous, ExecutionMode.ROLLBACK))]
    assert names == ["blue-green-gateway"]


async def test_agent_check_is_loaded_from_settings_once(
    clients: tuple[HttpClient, RedisClient],
) -> None:
    http, redis = clients
    settings = Settings(agent=AgentSettings(check="tests.steps.fakes:always_ready"))
    builder = CatalogueStageBuilder(http, redis, settings)
    assert builder._judge is always_ready


async def test_bad_agent_check_path_fails_when_the_builder_is_made(
    clients: tuple[HttpClient, RedisClient],
) -> None:
    http, redis = clients
    settings = Settings(agent=AgentSettings(check="no_such_module_anywhere:judge"))
    with pytest.raises(SettingsError, match=r"agent\.check"):
        CatalogueStageBuilder(http, redis, settings)
