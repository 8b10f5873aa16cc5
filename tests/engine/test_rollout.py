"""Waves with bake and approval, the failure budget and auto rollback, on the engine."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from msgspec.structs import replace

from switchover.domain.commands import Accepted, Promote, Refused
from switchover.domain.events import Event, EventType
from switchover.domain.records import PlanSpec, Target
from switchover.domain.rollout import Budget, GateKind, Policy, resolve_waves
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.errors import ErrorType
from tests.engine.conftest import Harness, running
from tests.support.stages import Fail, Script, make_spec


def spec_with(count: int, policy: Policy, **kw: object) -> PlanSpec:
    return replace(make_spec(count, **kw), policy=policy)  # type: ignore[arg-type]


def waves(*sizes: object, total: int) -> tuple:  # type: ignore[type-arg]
    return resolve_waves(list(sizes), total)  # type: ignore[arg-type]


async def until(harness: Harness, status: PlanStatus, *, rounds: int = 200) -> None:
    """Let virtual time run until the plan reaches ``status``."""
    for _ in range(rounds):
        await harness.settle()
        if (await harness.plan()).status is status:
            return
        await harness.clock.sleep(1.0)
    raise AssertionError(f"plan never became {status}: {(await harness.plan()).status}")


def wave_of(policy: Policy, event: Event) -> int:
    assert event.tenant_id is not None
    return policy.wave_of(int(event.tenant_id[1:]))


async def test_waves_are_admitted_one_after_the_other_never_overlapping(
    harness: Harness,
) -> None:
    policy = Policy(waves=waves(1, "30%", "100%", total=10))
    await harness.engine.submit_plan(spec_with(10, policy, max_concurrency=10))
    await until(harness, PlanStatus.COMPLETED)
    events = await harness.events()
    started = [e for e in events if e.type is EventType.TASK_STARTED]
    settled = [e for e in events if e.type is EventType.TASK_COMPLETED]
    for wave in (1, 2):
        first_start = min(e.seq for e in started if wave_of(policy, e) == wave)
        last_settle = max(e.seq for e in settled if wave_of(policy, e) == wave - 1)
        assert last_settle < first_start, f"wave {wave + 1} overlapped wave {wave}"
    opened = [e.data for e in events if e.type is EventType.PLAN_WAVE_STARTED]
    assert [(d["wave"], d["of"], d["tasks"]) for d in opened] == [(2, 3, 2), (3, 3, 7)]


async def test_a_wave_waits_for_its_bake_after_the_previous_one_settles(
    harness: Harness,
) -> None:
    policy = Policy(waves=waves(2, "100%", total=4), bake=60.0)
    await harness.engine.submit_plan(spec_with(4, policy))
    await harness.settle()
    plan = await harness.plan()
    assert plan.rollout.gate is not None
    assert plan.rollout.gate.kind is GateKind.BAKE
    assert plan.status is PlanStatus.RUNNING
    assert (await harness.statuses())["t002"] is TaskStatus.PENDING
    await until(harness, PlanStatus.COMPLETED)
    events = await harness.events()
    baking = next(e for e in events if e.type is EventType.PLAN_WAVE_BAKING)
    wave2 = next(e for e in events if e.type is EventType.PLAN_WAVE_STARTED)
    assert wave2.at - baking.at >= 60.0


async def test_an_approval_gate_holds_until_promote_even_across_a_restart(
    harness: Harness,
) -> None:
    policy = Policy(waves=waves(1, {"size": "100%", "approval": True}, total=3))
    await harness.engine.submit_plan(spec_with(3, policy))
    for _ in range(3):  # time passes: nothing more is admitted
        await harness.settle()
        await harness.clock.sleep(60)
    plan = await harness.plan()
    assert plan.rollout.gate is not None
    assert plan.rollout.gate.kind is GateKind.APPROVAL
    statuses = await harness.statuses()
    assert statuses == {
        "t000": TaskStatus.COMPLETED,
        "t001": TaskStatus.PENDING,
        "t002": TaskStatus.PENDING,
    }
    assert EventType.PLAN_AWAITING_APPROVAL.value in await harness.types()

    # The gate is in the store: a new engine keeps waiting, and promote lets it go on.
    await harness.engine.stop()
    engine = harness.new_engine()
    await engine.start()
    harness.engine = engine
    await harness.settle()
    assert (await harness.statuses())["t001"] is TaskStatus.PENDING
    accepted = await engine.perform(Promote(target=Target.plan("p1"), actor="alice"))
    assert isinstance(accepted, Accepted)
    assert "wave 2 of 2 admitted" in accepted.message
    await until(harness, PlanStatus.COMPLETED)
    audit = [e for e in await harness.events() if e.type is EventType.OPERATION_ACCEPTED]
    assert audit[-1].data["operation"] == "promote"
    assert audit[-1].data["actor"] == "alice"


async def test_promote_is_refused_when_nothing_waits(harness: Harness) -> None:
    await harness.engine.submit_plan(make_spec(1))
    await harness.settle()
    outcome = await harness.engine.perform(Promote(target=Target.plan("p1")))
    assert isinstance(outcome, Refused)
    assert "waits for nothing to promote" in outcome.message
    assert outcome.error_type is ErrorType.INVALID_STATE


async def test_the_failure_budget_halts_admission_and_resume_overrides_it(
    harness: Harness,
) -> None:
    for i in range(20):
        harness.script.set(f"t{i:03d}", "alpha", Fail())
    policy = Policy(budget=Budget(max_failed=3))
    await harness.engine.submit_plan(spec_with(20, policy, max_concurrency=2))
    await harness.settle()
    plan = await harness.plan()
    assert plan.status is PlanStatus.PAUSED
    assert plan.rollout.halted == "failure budget exceeded: 4 of 20 failed"
    events = await harness.events()
    halted = next(e for e in events if e.type is EventType.PLAN_HALTED)
    assert halted.data["failed_by"] == {"BUSINESS_ERROR at alpha": 4}
    started_after = [e for e in events if e.type is EventType.TASK_STARTED and e.seq > halted.seq]
    assert started_after == []  # nothing admitted once halted
    counts = await harness.statuses()
    assert sum(s is TaskStatus.FAILED for s in counts.values()) in (4, 5)  # + one in flight
    assert sum(s is TaskStatus.PENDING for s in counts.values()) >= 15

    accepted = await harness.engine.resume(Target.plan("p1"))
    assert "overridden" in accepted.message
    await harness.settle()
    final = await harness.plan()
    assert final.status is PlanStatus.FAILED  # every task ran, every one failed
    assert final.rollout.overridden
    assert set((await harness.statuses()).values()) == {TaskStatus.FAILED}


async def test_a_failure_during_a_bake_halts_the_plan(harness: Harness) -> None:
    harness.script.set("t000", "alpha", Fail(), Fail())
    policy = Policy(waves=waves(2, "100%", total=4), bake=600.0)
    await harness.engine.submit_plan(spec_with(4, policy))
    await harness.settle()
    assert (await harness.plan()).rollout.gate is not None
    await harness.engine.retry(Target.tenant("t000"))  # fails again, during the bake
    await harness.settle()
    await harness.clock.sleep(601)
    await harness.settle()
    plan = await harness.plan()
    assert plan.rollout.halted is not None
    assert "during the bake of wave 1" in plan.rollout.halted
    assert plan.status is PlanStatus.PAUSED
    assert (await harness.statuses())["t002"] is TaskStatus.PENDING


async def test_auto_rollback_rolls_each_failed_task_back_and_leaves_the_plan(
    harness: Harness,
) -> None:
    harness.script.set("t001", "beta", Fail())
    policy = Policy(auto_rollback=True)
    await harness.engine.submit_plan(spec_with(3, policy))
    await until(harness, PlanStatus.FAILED)
    for _ in range(5):
        await harness.settle()
    statuses = await harness.statuses()
    assert statuses["t001"] is TaskStatus.ROLLED_BACK
    assert statuses["t000"] is TaskStatus.COMPLETED
    assert (await harness.plan()).status is PlanStatus.FAILED
    audit = next(e for e in await harness.events() if e.type is EventType.OPERATION_ACCEPTED)
    assert audit.data["actor"] == "engine"
    assert audit.data["operation"] == "rollback"


async def test_a_plan_without_a_policy_behaves_as_before(harness: Harness) -> None:
    await harness.engine.submit_plan(make_spec(5, max_concurrency=5))
    await harness.settle()
    plan = await harness.plan()
    assert plan.status is PlanStatus.COMPLETED
    assert plan.policy is None
    types = set(await harness.types())
    assert not types & {"PlanWaveStarted", "PlanWaveBaking", "PlanAwaitingApproval"}


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    failing=st.sets(st.integers(0, 199), max_size=60),
    max_failed=st.integers(0, 10),
    concurrency=st.integers(1, 6),
)
async def test_the_budget_halts_at_the_right_count_and_admits_nothing_after(
    failing: set[int], max_failed: int, concurrency: int
) -> None:
    script = Script()
    for index in failing:
        script.set(f"t{index:03d}", "alpha", Fail())
    async with running(script) as started:
        store, engine = started.store, started.engine
        policy = Policy(budget=Budget(max_failed=max_failed))
        await engine.submit_plan(spec_with(200, policy, max_concurrency=concurrency))
        await engine.wait_idle()
        events = await store.read_events("p1", 0, 1_000_000)
        failures = [e for e in events if e.type is EventType.TASK_FAILED]
        halts = [e for e in events if e.type is EventType.PLAN_HALTED]
        if len(failing) <= max_failed:
            assert halts == []
            assert len(failures) == len(failing)
            return
        assert len(halts) == 1
        halt = halts[0]
        assert halt.data["failed"] == max_failed + 1
        before = [e for e in failures if e.seq < halt.seq]
        assert len(before) == max_failed + 1
        late = [e for e in events if e.type is EventType.TASK_STARTED and e.seq > halt.seq]
        assert late == []
        plan = await store.get_plan("p1")
        assert plan is not None
        assert plan.status in (PlanStatus.PAUSED, PlanStatus.FAILED)


def test_waves_resolve_counts_and_cumulative_percentages() -> None:
    resolved = resolve_waves([1, "5%", "25%", "100%"], 1000)
    assert [w.end for w in resolved] == [1, 50, 250, 1000]
    assert [w.end for w in resolve_waves([10, 10, "100%"], 45)] == [10, 20, 45]
    with pytest.raises(ValueError, match="last one must be"):
        resolve_waves([1, "50%"], 10)
    with pytest.raises(ValueError, match="adds no tenant"):
        resolve_waves(["50%", "10%", "100%"], 10)


def test_plan_files_state_waves_bake_budget_and_auto_rollback() -> None:
    from switchover.domain.planfile import parse_plan_data
    from switchover.errors import PlanValidationError

    tenants = [{"tenantId": f"t{i}"} for i in range(8)]
    doc = {
        "plan": {
            "id": "big",
            "version": 20,
            "waves": [1, {"size": "50%", "approval": True}, "100%"],
            "bake": 120,
            "failureBudget": {"maxFailed": 2, "maxFailedRatio": 0.1},
            "autoRollback": True,
        },
        "tenants": tenants,
    }
    policy = parse_plan_data(doc).policy
    assert policy is not None
    assert [(w.end, w.approval) for w in policy.waves] == [(1, False), (4, True), (8, False)]
    assert policy.bake == 120
    assert policy.budget == Budget(2, 0.1)
    assert policy.auto_rollback
    doc["plan"]["waves"] = [1, "5%"]  # type: ignore[index]
    with pytest.raises(PlanValidationError) as bad:
        parse_plan_data(doc)
    assert any(i.field == "plan.waves" for i in bad.value.issues)
    del doc["plan"]["waves"]  # type: ignore[attr-defined]
    with pytest.raises(PlanValidationError) as no_waves:
        parse_plan_data(doc)
    assert any("needs waves" in i.message for i in no_waves.value.issues)


async def test_a_wave_of_its_own_budget_halts_the_plan(harness: Harness) -> None:
    for tenant in ("t000", "t001"):
        harness.script.set(tenant, "alpha", Fail())
    sizes = [{"size": 5, "failure_budget": {"max_failed": 1}}, "100%"]
    policy = Policy(waves=resolve_waves(sizes, 10))
    await harness.engine.submit_plan(spec_with(10, policy, max_concurrency=5))
    await harness.settle()
    plan = await harness.plan()
    assert plan.rollout.halted == "failure budget of wave 1 exceeded: 2 of 5 failed"
    assert plan.status is PlanStatus.PAUSED
    statuses = await harness.statuses()
    assert all(statuses[f"t{i:03d}"] is TaskStatus.PENDING for i in range(5, 10))


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    total=st.integers(2, 60),
    cuts=st.lists(st.integers(1, 99), min_size=1, max_size=4, unique=True),
    concurrency=st.integers(1, 8),
    failing=st.sets(st.integers(0, 59), max_size=6),
)
async def test_waves_never_overlap_whatever_their_sizes_and_failures(
    total: int, cuts: list[int], concurrency: int, failing: set[int]
) -> None:
    sizes: list[object] = [f"{c}%" for c in sorted(cuts)] + ["100%"]
    try:
        policy = Policy(waves=resolve_waves(sizes, total))
    except ValueError:
        return  # two cuts that round to the same tenant: refused at validation
    script = Script()
    for index in failing:
        script.set(f"t{index:03d}", "beta", Fail())
    async with running(script) as started:
        store, engine = started.store, started.engine
        await engine.submit_plan(spec_with(total, policy, max_concurrency=concurrency))
        await engine.wait_idle()
        events = await store.read_events("p1", 0, 1_000_000)
    started = {e.tenant_id: e.seq for e in events if e.type is EventType.TASK_STARTED}
    settled = {
        e.tenant_id: e.seq
        for e in events
        if e.type in (EventType.TASK_COMPLETED, EventType.TASK_FAILED)
    }
    assert len(started) == total  # every wave ran (no approval, no bake, no budget)
    for wave in range(1, len(policy.waves)):
        members = [t for t in started if policy.wave_of(int(t[1:])) == wave]
        before = [t for t in settled if policy.wave_of(int(t[1:])) == wave - 1]
        assert max(settled[t] for t in before) < min(started[t] for t in members)
