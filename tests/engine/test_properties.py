"""Invariants under random plans, failures and operator actions (Hypothesis)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchover.domain.records import Target
from switchover.domain.status import (
    ACTIVE_TASK_STATUSES,
    FINAL_TASK_STATUSES,
    SLOT_TASK_STATUSES,
    ExecutionMode,
    TaskStatus,
)
from switchover.errors import SwitchoverError
from switchover.stores.memory import MemoryStore
from tests.engine.conftest import running
from tests.support.stages import Fail, Script, Sleep, make_spec

TENANTS = ["a", "b", "c", "d", "e", "f"]
STAGES = ["alpha", "beta", "gamma"]

outcome = st.one_of(
    st.none(),
    st.builds(Fail),
    st.builds(Sleep, st.sampled_from([1.0, 4.0, 12.0])),
)
operation = st.tuples(
    st.sampled_from(
        [
            "pause",
            "resume",
            "cancel",
            "retry",
            "rollback",
            "pause_plan",
            "resume_plan",
            "cancel_plan",
        ]
    ),
    st.sampled_from(["p1", "p2"]),
    st.sampled_from(TENANTS),
    st.integers(min_value=0, max_value=30),
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    plans = {
        plan_id: draw(st.lists(st.sampled_from(TENANTS), min_size=1, max_size=6, unique=True))
        for plan_id in ("p1", "p2")
    }
    limits = {plan_id: draw(st.integers(min_value=1, max_value=3)) for plan_id in plans}
    outcomes = draw(
        st.dictionaries(
            st.tuples(
                st.sampled_from(TENANTS),
                st.sampled_from(STAGES),
                st.sampled_from(list(ExecutionMode)),
            ),
            st.lists(outcome, max_size=2),
            max_size=10,
        )
    )
    ops = draw(st.lists(operation, max_size=8))
    return {"plans": plans, "limits": limits, "outcomes": outcomes, "ops": ops}


def check_committed(store: MemoryStore, limits: dict[str, int]) -> None:
    tasks = store.snapshot()
    slots = Counter(t.plan_id for t in tasks if t.status in SLOT_TASK_STATUSES)
    for plan_id, used in slots.items():
        assert used <= limits[plan_id], f"{plan_id} uses {used} slots > {limits[plan_id]}"
    active = Counter(t.tenant_id for t in tasks if t.status in ACTIVE_TASK_STATUSES)
    assert all(n <= 1 for n in active.values()), f"tenant active twice: {active}"


async def run_scenario(scenario: dict[str, object]) -> None:
    plans: dict[str, list[str]] = scenario["plans"]  # type: ignore[assignment]
    limits: dict[str, int] = scenario["limits"]  # type: ignore[assignment]
    script = Script()
    for (tenant, stage, mode), outs in scenario["outcomes"].items():  # type: ignore[attr-defined]
        script.set(tenant, stage, *outs, mode=mode)
    async with running(script) as started:
        store, engine = started.store, started.engine
        script.on_step = lambda ctx: check_committed(store, limits)
        for plan_id, tenants in plans.items():
            await engine.submit_plan(
                make_spec(tenants, plan_id=plan_id, max_concurrency=limits[plan_id])
            )
        for name, plan_id, tenant, delay in scenario["ops"]:  # type: ignore[attr-defined]
            for _ in range(delay):
                await asyncio.sleep(0)
            check_committed(store, limits)
            target = (
                Target.plan(plan_id)
                if name.endswith("_plan")
                else Target.task(f"{plan_id}/{tenant}")
            )
            with contextlib.suppress(SwitchoverError):
                await getattr(engine, name.removesuffix("_plan"))(target)
        await asyncio.wait_for(engine.wait_idle(), timeout=20)
        check_committed(store, limits)

    for plan_id in plans:
        events = await store.read_events(plan_id, 0, 1_000_000)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        seen_final: dict[str, str] = {}
        history: dict[str, list[str]] = defaultdict(list)
        for event in events:
            if event.task_id is None or event.status is None:
                continue
            history[event.task_id].append(event.status)
            if event.task_id in seen_final:
                assert event.status == seen_final[event.task_id], (
                    f"{event.task_id} changed after {seen_final[event.task_id]}: {event}"
                )
            if TaskStatus(event.status) in FINAL_TASK_STATUSES:
                seen_final[event.task_id] = event.status
        for task in await store.list_tasks(plan_id):
            assert history[task.task_id][-1] == task.status.value


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenarios())
def test_invariants_hold_under_random_plans_failures_and_operations(
    scenario: dict[str, object],
) -> None:
    """Gapless seqs; slots ≤ max; one active task per tenant; final tasks never change."""
    asyncio.run(run_scenario(scenario))
