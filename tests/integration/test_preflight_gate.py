"""A failing preflight refuses a plan before anything is written (or keeps a paused plan
PAUSED), with one line per problem. Real redis-server and fleet."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from switchover.domain.status import PlanStatus
from switchover.fleet.fleet import Fleet
from switchover.fleet.redis_server import RedisServer
from switchover.stores.sqlite import SqliteStore
from tests.integration.conftest import eventually, plan_doc, tenant_doc
from tests.integration.test_cli import Cli, cli_for, store  # noqa: F401

pytestmark = pytest.mark.integration


async def test_a_plan_whose_redis_is_down_is_refused_before_it_is_created(
    tmp_path: Path,
    redis_server: RedisServer,
    cli_for: Callable[..., Cli],  # noqa: F811
    store: SqliteStore,  # noqa: F811
) -> None:
    """The reproduction: a plan run with the wrong settings failed 22 tenants in 3.6 s."""
    cli = cli_for()
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan_doc("pre", [tenant_doc(f"p{i}") for i in range(22)])))
    redis_server.stop()
    refused = await cli("run", str(plan_file))
    assert refused.code == 4, refused
    assert "preflight found" in refused.stderr
    assert "redis: cannot connect to" in refused.stderr
    assert "plan pre was not created" in refused.stderr
    assert await store.get_plan("pre") is None


async def test_a_paused_plan_stays_paused_when_its_targets_are_gone(
    tmp_path: Path,
    redis_server: RedisServer,
    fleet: Fleet,
    cli_for: Callable[..., Cli],  # noqa: F811
    store: SqliteStore,  # noqa: F811
) -> None:
    cli = cli_for(verify={"interval": 0.1, "max_attempts": 400, "deadline": 60.0})
    await fleet.set_faults(fleet.gateways, lag=2.0)
    plan_file = tmp_path / "plan.json"
    docs = [tenant_doc(f"q{i}", asbc=False) for i in range(4)]
    plan_file.write_text(json.dumps(plan_doc("held", docs, max_concurrency=2)))
    run = await cli.start("run", str(plan_file))

    async def started() -> bool:
        events = await store.read_events("held", 0, 10_000)
        return any(e.type.value == "StageStarted" for e in events)

    await eventually(started, within=30)
    paused = await cli("pause", "--plan", "held")
    assert paused.code == 0, paused
    assert (await run.finish()).code == 5  # the plan paused
    plan = await store.get_plan("held")
    assert plan is not None
    assert plan.status is PlanStatus.PAUSED
    redis_server.stop()
    resumed = await cli("resume", "--plan", "held")
    assert resumed.code == 4, resumed
    assert "plan held stays PAUSED" in resumed.stderr
    assert "redis: cannot connect to" in resumed.stderr
    plan = await store.get_plan("held")
    assert plan is not None
    assert plan.status is PlanStatus.PAUSED
