"""The README's worked example of a large plan, run as written on the fleet: waves, bake, an
approval gate that only 'promote' passes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from switchover.domain.status import PlanStatus
from switchover.stores.sqlite import SqliteStore
from tests.integration.conftest import eventually
from tests.integration.test_cli import Cli, cli_for, store  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = Path(__file__).parents[2] / "examples" / "waves.yaml"


async def test_the_waves_example_runs_canary_then_a_quarter_then_the_rest_on_promote(
    cli_for: Callable[..., Cli],  # noqa: F811
    store: SqliteStore,  # noqa: F811
) -> None:
    cli = cli_for()
    checked = await cli("--json", "validate", str(EXAMPLE))
    assert checked.code == 0, checked
    rollout = json.loads(checked.stdout)["rollout"]
    assert rollout[0] == "waves: 1: 1; 2: 9; 3: 30 after approval, bake 5s between waves"

    run = await cli.start("run", str(EXAMPLE), "--reason", "README example")

    async def waiting() -> bool:
        plan = await store.get_plan("waves-plan")
        gate = plan.rollout.gate if plan is not None else None
        return gate is not None and gate.kind.value == "approval"

    await eventually(waiting, within=60)
    status = await cli("status", "waves-plan")
    assert "waiting for approval of wave 3 of 3" in status.stdout, status
    counts = {t.status.value for t in await store.list_tasks("waves-plan") if t.position >= 10}
    assert counts == {"PENDING"}
    promoted = await cli("promote", "--plan", "waves-plan")
    assert promoted.code == 0, promoted
    result = await run.finish()
    assert result.code == 0, result
    plan = await store.get_plan("waves-plan")
    assert plan is not None
    assert plan.status is PlanStatus.COMPLETED
    events = await store.read_events("waves-plan", 0, 100_000)
    bakes = [e for e in events if e.type.value == "PlanWaveBaking"]
    assert len(bakes) == 2
    assert "waves-plan: waiting for approval of wave 3 of 3" in result.stdout
