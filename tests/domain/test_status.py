"""Task and plan state machines: every (from, to) pair, and the derived plan status."""

from __future__ import annotations

import itertools

import pytest

from switchover.domain.status import (
    PlanStatus,
    TaskStatus,
    derive_plan_status,
    plan_transition,
    task_transition,
)
from switchover.errors import InvalidTransitionError

T = TaskStatus
P = PlanStatus

# SPEC §5, written out by hand (not read from TASK_TRANSITIONS) so the two can disagree.
EXPECTED_TASK_TRANSITIONS: frozenset[tuple[TaskStatus, TaskStatus]] = frozenset(
    {
        (T.PENDING, T.RUNNING),  # admitted
        (T.PENDING, T.CANCELLED),  # cancel
        (T.RUNNING, T.COMPLETED),  # last stage succeeded
        (T.RUNNING, T.FAILED),  # a stage failed
        (T.RUNNING, T.PAUSED),  # pause at the next stage boundary
        (T.RUNNING, T.CANCELLED),  # cancel at the next stage boundary
        (T.PAUSED, T.RUNNING),  # resume
        (T.PAUSED, T.CANCELLED),  # cancel
        (T.FAILED, T.CANCELLED),  # cancel
        (T.FAILED, T.RUNNING),  # retry
        (T.FAILED, T.ROLLING_BACK),  # rollback
        (T.PAUSED, T.ROLLING_BACK),  # rollback
        (T.ROLLBACK_FAILED, T.ROLLING_BACK),  # rollback again (or retry the rollback)
        (T.ROLLING_BACK, T.ROLLED_BACK),  # every rollback stage succeeded
        (T.ROLLING_BACK, T.ROLLBACK_FAILED),  # a rollback stage failed
    }
)

# SPEC §5 describes plan statuses in prose; this is that prose as pairs: pause/resume, settle
# (also from PAUSED, when the last running stage finishes the last tasks), cancel, and a retry
# giving a FAILED plan forward progress again. COMPLETED and CANCELLED are final.
EXPECTED_PLAN_TRANSITIONS: frozenset[tuple[PlanStatus, PlanStatus]] = frozenset(
    {
        (P.RUNNING, P.PAUSED),
        (P.RUNNING, P.COMPLETED),
        (P.RUNNING, P.FAILED),
        (P.RUNNING, P.CANCELLED),
        (P.PAUSED, P.RUNNING),
        (P.PAUSED, P.COMPLETED),
        (P.PAUSED, P.FAILED),
        (P.PAUSED, P.CANCELLED),
        (P.FAILED, P.RUNNING),
        (P.FAILED, P.CANCELLED),
    }
)

TASK_PAIRS = list(itertools.product(TaskStatus, repeat=2))
PLAN_PAIRS = list(itertools.product(PlanStatus, repeat=2))


@pytest.mark.parametrize(("current", "target"), TASK_PAIRS, ids=lambda s: s.value)
def test_task_transition_allows_exactly_the_spec_table(
    current: TaskStatus, target: TaskStatus
) -> None:
    """Each task (from, to) pair is allowed iff SPEC §5 lists it; a refusal names both."""
    if (current, target) in EXPECTED_TASK_TRANSITIONS:
        assert task_transition("task-1", current, target) is target
        return
    with pytest.raises(InvalidTransitionError) as info:
        task_transition("task-1", current, target)
    error = info.value
    assert (error.entity, error.key) == ("task", "task-1")
    assert (error.current, error.requested) == (current.value, target.value)
    assert current.value in str(error)
    assert target.value in str(error)


@pytest.mark.parametrize(("current", "target"), PLAN_PAIRS, ids=lambda s: s.value)
def test_plan_transition_allows_exactly_the_expected_table(
    current: PlanStatus, target: PlanStatus
) -> None:
    """Each plan (from, to) pair is allowed iff expected; a refusal names both statuses."""
    if (current, target) in EXPECTED_PLAN_TRANSITIONS:
        assert plan_transition("plan-1", current, target) is target
        return
    with pytest.raises(InvalidTransitionError) as info:
        plan_transition("plan-1", current, target)
    error = info.value
    assert (error.entity, error.key) == ("plan", "plan-1")
    assert (error.current, error.requested) == (current.value, target.value)
    assert current.value in str(error)
    assert target.value in str(error)


@pytest.mark.parametrize("final", [T.COMPLETED, T.CANCELLED, T.ROLLED_BACK])
def test_final_task_statuses_accept_nothing(final: TaskStatus) -> None:
    """COMPLETED, CANCELLED and ROLLED_BACK have no way out."""
    assert not any(current is final for current, _ in EXPECTED_TASK_TRANSITIONS)
    for target in TaskStatus:
        with pytest.raises(InvalidTransitionError):
            task_transition("t", final, target)


def test_no_status_transitions_to_itself() -> None:
    """A same-status 'transition' is refused for tasks and plans alike."""
    for task_status in TaskStatus:
        with pytest.raises(InvalidTransitionError):
            task_transition("t", task_status, task_status)
    for plan_status in PlanStatus:
        with pytest.raises(InvalidTransitionError):
            plan_transition("p", plan_status, plan_status)


def test_invalid_transition_error_is_an_invalid_state_error() -> None:
    """The refusal carries the INVALID_STATE error type."""
    with pytest.raises(InvalidTransitionError) as info:
        task_transition("t", T.COMPLETED, T.RUNNING)
    assert info.value.error_type.value == "INVALID_STATE"


# --- derive_plan_status ----------------------------------------------------------------------


def derive(
    counts: dict[TaskStatus, int], current: PlanStatus = P.RUNNING, *, paused: bool = False
) -> PlanStatus:
    """derive_plan_status with keyword sugar."""
    return derive_plan_status(current, counts, operator_paused=paused)


@pytest.mark.parametrize("active", [T.PENDING, T.RUNNING])
def test_plan_is_running_while_a_task_is_pending_or_running(active: TaskStatus) -> None:
    """A pending or running task keeps the plan RUNNING, even next to failures."""
    assert derive({active: 1, T.COMPLETED: 3, T.FAILED: 1}) is P.RUNNING


def test_paused_plan_with_a_running_task_is_running_again() -> None:
    """Without an operator pause, a PAUSED plan with running work becomes RUNNING."""
    assert derive({T.RUNNING: 1}, P.PAUSED) is P.RUNNING


@pytest.mark.parametrize("active", [T.PENDING, T.RUNNING, T.PAUSED])
def test_operator_paused_plan_with_unfinished_tasks_is_paused(active: TaskStatus) -> None:
    """An operator pause makes the plan PAUSED while work is left."""
    assert derive({active: 2, T.COMPLETED: 1}, paused=True) is P.PAUSED


def test_plan_with_only_paused_tasks_left_is_paused() -> None:
    """Paused tasks and settled ones only: the plan is PAUSED."""
    assert derive({T.PAUSED: 1, T.COMPLETED: 2, T.FAILED: 1}) is P.PAUSED


def test_plan_is_completed_when_every_task_completed() -> None:
    """All tasks COMPLETED: the plan is COMPLETED."""
    assert derive({T.COMPLETED: 5}) is P.COMPLETED


def test_operator_paused_plan_still_settles() -> None:
    """A paused plan whose tasks all settled is COMPLETED or FAILED."""
    assert derive({T.COMPLETED: 2}, P.PAUSED, paused=True) is P.COMPLETED
    assert derive({T.COMPLETED: 1, T.FAILED: 1}, P.PAUSED, paused=True) is P.FAILED


@pytest.mark.parametrize("other", [T.FAILED, T.CANCELLED])
def test_plan_is_failed_when_settled_and_some_did_not_complete(other: TaskStatus) -> None:
    """Every task settled, at least one not COMPLETED: the plan is FAILED."""
    assert derive({T.COMPLETED: 3, other: 1}) is P.FAILED


@pytest.mark.parametrize("rollback", [T.ROLLING_BACK, T.ROLLED_BACK, T.ROLLBACK_FAILED])
def test_rollback_statuses_count_as_settled_not_completed(rollback: TaskStatus) -> None:
    """Rollback never drives the plan: rollback statuses count as settled-but-not-completed."""
    assert derive({T.COMPLETED: 3, rollback: 1}) is P.FAILED
    assert derive({T.COMPLETED: 3, rollback: 1}, P.FAILED) is P.FAILED


def test_failed_plan_with_a_retried_task_is_running() -> None:
    """A retry gives a FAILED plan forward progress again."""
    assert derive({T.RUNNING: 1, T.COMPLETED: 2}, P.FAILED) is P.RUNNING


@pytest.mark.parametrize(
    "counts",
    [{T.PENDING: 1}, {T.RUNNING: 1}, {T.PAUSED: 1}, {T.COMPLETED: 1}, {T.FAILED: 1}],
)
@pytest.mark.parametrize("sticky", [P.CANCELLED, P.COMPLETED])
@pytest.mark.parametrize("paused", [False, True])
def test_cancelled_and_completed_plans_keep_their_status(
    counts: dict[TaskStatus, int], sticky: PlanStatus, paused: bool
) -> None:
    """CANCELLED and COMPLETED are sticky whatever the tasks do."""
    assert derive(counts, sticky, paused=paused) is sticky
