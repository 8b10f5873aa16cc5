"""AgentReadinessStep polling and loading judge_agent from ``module:function``."""

from __future__ import annotations

import pytest

from switchover.errors import ErrorType, SettingsError, StepFailedError, TransientError
from switchover.settings import AgentSettings, Settings, VerifySettings
from switchover.steps.agent import AgentReadinessStep, JudgeAgent, load_judge_agent
from switchover.steps.protocol import StepContext
from tests.steps.fakes import FakeClock, FakeJournal, always_ready, make_ctx


class Judge:
    """Says "not ready" ``not_ready`` times, then ready; records its arguments."""

    def __init__(self, not_ready: int, *, error: Exception | None = None) -> None:
        self.not_ready = not_ready
        self.error = error
        self.calls: list[tuple[str, str]] = []

    def __call__(self, tenant_id: str, plan_id: str) -> bool:
        self.calls.append((tenant_id, plan_id))
        if self.error is not None:
            raise self.error
        return len(self.calls) > self.not_ready


async def run(step: AgentReadinessStep, ctx: StepContext) -> None:
    await step.prepare(ctx)
    await step.execute(ctx)
    await step.validate(ctx)


async def test_without_a_check_the_step_is_skipped_with_a_warning() -> None:
    journal = FakeJournal()
    await run(AgentReadinessStep(None), make_ctx(journal=journal, stage="ob-service"))
    assert len(journal.warnings) == 1
    message, details = journal.warnings[0]
    assert message == "agent readiness check not configured; skipped"
    assert details["tenant_id"] == "t-1"


async def test_sync_check_is_polled_until_ready() -> None:
    judge = Judge(not_ready=2)
    clock = FakeClock()
    await run(AgentReadinessStep(judge), make_ctx(clock=clock))
    assert judge.calls == [("t-1", "p-1")] * 3
    assert clock.sleeps == [3.0, 3.0]


async def test_async_check_is_awaited() -> None:
    calls: list[str] = []

    async def judge(tenant_id: str, plan_id: str) -> bool:
        calls.append(tenant_id)
        return True

    await run(AgentReadinessStep(judge), make_ctx())
    assert calls == ["t-1"]


async def test_never_ready_fails_with_timeout_after_max_attempts() -> None:
    judge = Judge(not_ready=100)
    clock = FakeClock()
    settings = Settings(agent=AgentSettings(interval=1.5, max_attempts=4))
    with pytest.raises(StepFailedError) as info:
        await run(AgentReadinessStep(judge), make_ctx(clock=clock, settings=settings))
    assert info.value.error_type is ErrorType.TIMEOUT_ERROR
    assert info.value.details["attempts"] == 4
    assert len(judge.calls) == 4
    assert clock.sleeps == [1.5] * 3


async def test_the_verify_deadline_bounds_the_wait_for_the_agents() -> None:
    judge = Judge(not_ready=100)
    clock = FakeClock()
    settings = Settings(
        agent=AgentSettings(interval=2.0, max_attempts=100), verify=VerifySettings(deadline=5.0)
    )
    with pytest.raises(StepFailedError) as info:
        await run(AgentReadinessStep(judge), make_ctx(clock=clock, settings=settings))
    assert info.value.error_type is ErrorType.TIMEOUT_ERROR
    assert "within the verify deadline of 5s" in str(info.value)
    assert len(judge.calls) == 3  # at 0, 2 and 4 s: a fourth would come after the deadline
    assert sum(clock.sleeps) < 5.0


async def test_transient_error_from_the_check_counts_as_not_ready() -> None:
    flaky = Judge(0, error=TransientError(ErrorType.NETWORK_ERROR, "agent api down"))
    settings = Settings(agent=AgentSettings(max_attempts=2))
    with pytest.raises(StepFailedError) as info:
        await run(AgentReadinessStep(flaky), make_ctx(settings=settings))
    assert info.value.error_type is ErrorType.TIMEOUT_ERROR
    assert "agent api down" in str(info.value)


async def test_check_raising_an_unexpected_error_fails_with_system_error() -> None:
    broken = Judge(0, error=KeyError("tenant"))
    with pytest.raises(StepFailedError) as info:
        await run(AgentReadinessStep(broken), make_ctx())
    assert info.value.error_type is ErrorType.SYSTEM_ERROR
    assert len(broken.calls) == 1


def test_check_is_imported_from_module_function_path() -> None:
    judge: JudgeAgent | None = load_judge_agent("tests.steps.fakes:always_ready")
    assert judge is always_ready


def test_no_configured_check_loads_as_none() -> None:
    assert load_judge_agent(None) is None
    assert load_judge_agent("") is None


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("tests.steps.fakes.always_ready", "must look like"),
        ("no_such_module_anywhere:judge", "cannot import"),
        ("tests.steps.fakes:missing", "has no"),
        ("tests.steps.fakes:NOT_CALLABLE", "not callable"),
    ],
)
def test_bad_check_path_is_a_clear_settings_error(path: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        load_judge_agent(path)
