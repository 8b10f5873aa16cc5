"""The Scheduler on its own: slots, FIFO admission, tenant exclusion and queued commands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum, auto

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from switchover.domain.commands import QueuedCommand, Resume, Retry, Rollback
from switchover.domain.records import Target
from switchover.engine.scheduler import Admission, Scheduler


def everyone_pending(task_id: str) -> bool:
    return True


def ids(admissions: Sequence[Admission]) -> list[str]:
    return [a.task_id for a in admissions]


def plan_with(
    tenants: Sequence[str],
    *,
    plan_id: str = "p",
    max_concurrency: int = 10,
    accepting: bool = True,
    sched: Scheduler | None = None,
) -> Scheduler:
    """A scheduler tracking ``plan_id`` with one PENDING task per tenant, in this order."""
    sched = sched or Scheduler()
    sched.add_plan(plan_id, max_concurrency, accepting=accepting)
    for tenant in tenants:
        sched.add_pending(plan_id, f"{plan_id}/{tenant}", tenant)
    return sched


def finish(sched: Scheduler, task_id: str) -> None:
    """What the engine does when a run ends: slot and tenant back."""
    plan_id, tenant = task_id.split("/")
    sched.release_slot(plan_id, task_id)
    sched.release_tenant(tenant, task_id)


def queue_command(sched: Scheduler, task_id: str, op: QueuedCommand) -> None:
    """Accept ``op`` for a task that is not running: it claims its tenant, then waits."""
    plan_id, tenant = task_id.split("/")
    assert sched.hold_tenant(tenant, task_id)
    sched.queue_op(plan_id, task_id, op)


def resume(task_id: str) -> Resume:
    return Resume(target=Target.task(task_id))


COMMANDS: list[Callable[[str], QueuedCommand]] = [
    resume,
    lambda t: Retry(target=Target.task(t), from_checkpoint=True),
    lambda t: Rollback(target=Target.task(t), version=21),
]
COMMAND_IDS = ["resume", "retry", "rollback"]


# ----------------------------------------------------------------- slots and FIFO


@pytest.mark.parametrize(
    ("max_concurrency", "tasks", "first_wave"),
    [(1, 3, 1), (2, 5, 2), (3, 3, 3), (4, 2, 2), (10, 25, 10)],
)
def test_a_plan_never_holds_more_slots_than_its_max_concurrency(
    max_concurrency: int, tasks: int, first_wave: int
) -> None:
    """Admission fills the free slots and no more; each freed slot admits one more task."""
    sched = plan_with([f"t{i:02d}" for i in range(tasks)], max_concurrency=max_concurrency)
    running = ids(sched.admit(everyone_pending))
    assert len(running) == first_wave
    assert sched.slots_used("p") == first_wave
    assert sched.admit(everyone_pending) == []

    admitted_total = len(running)
    while running:
        finish(sched, running.pop(0))
        more = ids(sched.admit(everyone_pending))
        assert len(more) == (1 if admitted_total < tasks else 0)
        admitted_total += len(more)
        running.extend(more)
        assert sched.slots_used("p") <= max_concurrency
    assert admitted_total == tasks
    assert sched.slots_used("p") == 0


def test_pending_tasks_are_admitted_in_submission_order() -> None:
    """FIFO: whatever order slots free up in, the next task admitted is the oldest waiting."""
    sched = plan_with(["e", "b", "d", "a", "c"], max_concurrency=2)
    order = ids(sched.admit(everyone_pending))
    assert order == ["p/e", "p/b"]
    for done in ["p/b", "p/e", "p/d"]:
        finish(sched, done)
        order += ids(sched.admit(everyone_pending))
    assert order == ["p/e", "p/b", "p/d", "p/a", "p/c"]


def test_admissions_are_forward_tasks_with_their_plan() -> None:
    """A PENDING task's admission names its plan and carries no command."""
    sched = plan_with(["a"], plan_id="p")
    (admission,) = sched.admit(everyone_pending)
    assert admission == Admission("p", "p/a")
    assert not admission.queued_op
    assert sched.tenant_holder("a") == "p/a"


def test_a_task_whose_tenant_is_busy_keeps_its_place_in_line() -> None:
    """Blocked by its tenant, a task is skipped; once the tenant frees it goes before later ones."""
    sched = Scheduler()
    assert sched.hold_tenant("x", "other/x")  # e.g. a paused task of another plan
    plan_with(["x", "y", "z", "w"], max_concurrency=2, sched=sched)

    assert ids(sched.admit(everyone_pending)) == ["p/y", "p/z"]
    finish(sched, "p/y")
    assert ids(sched.admit(everyone_pending)) == ["p/w"]  # x still busy: the next one goes

    sched.release_tenant("x", "other/x")
    assert sched.admit(everyone_pending) == []  # no slot free yet
    sched.add_pending("p", "p/v", "v")
    finish(sched, "p/z")
    assert ids(sched.admit(everyone_pending)) == ["p/x"]  # before v, submitted later
    assert sched.tenant_holder("x") == "p/x"


def test_blocked_tasks_keep_their_order_among_themselves() -> None:
    """Several blocked tasks are admitted in submission order as their tenants free."""
    sched = Scheduler()
    for tenant in ("a", "b", "c"):
        assert sched.hold_tenant(tenant, f"other/{tenant}")
    plan_with(["a", "b", "c", "d"], max_concurrency=1, sched=sched)
    assert ids(sched.admit(everyone_pending)) == ["p/d"]
    for tenant in ("c", "a", "b"):
        sched.release_tenant(tenant, f"other/{tenant}")
    finish(sched, "p/d")
    order = []
    for _ in range(3):
        (admission,) = sched.admit(everyone_pending)
        order.append(admission.task_id)
        finish(sched, admission.task_id)
    assert order == ["p/a", "p/b", "p/c"]


def test_one_tenant_is_held_by_at_most_one_task_across_plans() -> None:
    """Two plans with the same tenant: only one of its tasks is admitted until it finishes."""
    sched = plan_with(["t", "u"], plan_id="a")
    plan_with(["t", "v"], plan_id="b", sched=sched)
    assert ids(sched.admit(everyone_pending)) == ["a/t", "a/u", "b/v"]
    assert sched.tenant_holder("t") == "a/t"
    assert sched.admit(everyone_pending) == []
    finish(sched, "a/t")
    assert ids(sched.admit(everyone_pending)) == ["b/t"]
    assert sched.tenant_holder("t") == "b/t"


@pytest.mark.parametrize(
    ("holder", "claimant", "taken"),
    [(None, "p/a", True), ("p/a", "p/a", True), ("q/a", "p/a", False)],
)
def test_hold_tenant_refuses_only_another_holder(
    holder: str | None, claimant: str, taken: bool
) -> None:
    """hold_tenant is idempotent for its holder and refuses a second task."""
    sched = Scheduler()
    if holder is not None:
        assert sched.hold_tenant("a", holder)
    assert sched.hold_tenant("a", claimant) is taken
    assert sched.tenant_holder("a") == (claimant if taken else holder)


def test_release_tenant_ignores_a_task_that_does_not_hold_it() -> None:
    """Only the holder gives a tenant back."""
    sched = Scheduler()
    assert sched.hold_tenant("a", "p/a")
    sched.release_tenant("a", "q/a")
    assert sched.tenant_holder("a") == "p/a"
    sched.release_tenant("a", "p/a")
    assert sched.tenant_holder("a") is None


# ----------------------------------------------------------------- queued commands


@pytest.mark.parametrize("make_op", COMMANDS, ids=COMMAND_IDS)
def test_a_queued_command_goes_before_new_tasks(make_op: Callable[[str], QueuedCommand]) -> None:
    """An accepted resume/retry/rollback takes the next free slot ahead of PENDING tasks."""
    sched = plan_with(["a", "b"], max_concurrency=1)
    assert ids(sched.admit(everyone_pending)) == ["p/a"]
    op = make_op("p/c")
    queue_command(sched, "p/c", op)
    finish(sched, "p/a")
    (admission,) = sched.admit(everyone_pending)
    assert admission == Admission("p", "p/c", op)
    assert admission.queued_op
    finish(sched, "p/c")
    assert ids(sched.admit(everyone_pending)) == ["p/b"]


@pytest.mark.parametrize("make_op", COMMANDS, ids=COMMAND_IDS)
def test_a_queued_command_is_admitted_while_the_plan_accepts_no_new_tasks(
    make_op: Callable[[str], QueuedCommand],
) -> None:
    """A paused or settled plan still runs accepted commands; its PENDING tasks wait."""
    sched = plan_with(["a", "b"], max_concurrency=3, accepting=False)
    op = make_op("p/c")
    queue_command(sched, "p/c", op)
    assert sched.admit(everyone_pending) == [Admission("p", "p/c", op)]
    assert sched.admit(everyone_pending) == []
    assert sched.slots_used("p") == 1


def test_queued_commands_are_admitted_in_acceptance_order_within_the_slots() -> None:
    """Commands wait FIFO for slots too; max_concurrency holds for them."""
    sched = plan_with([], max_concurrency=2)
    for tenant in ("c", "a", "b"):
        queue_command(sched, f"p/{tenant}", resume(f"p/{tenant}"))
    assert ids(sched.admit(everyone_pending)) == ["p/c", "p/a"]
    finish(sched, "p/a")
    assert ids(sched.admit(everyone_pending)) == ["p/b"]


def test_queued_op_and_has_ops_report_waiting_commands() -> None:
    """A command is visible from acceptance until its run begins (take_op)."""
    sched = plan_with([])
    assert not sched.has_ops()
    assert sched.queued_op("p/a") is None
    op = resume("p/a")
    queue_command(sched, "p/a", op)
    assert sched.has_ops()
    assert sched.queued_op("p/a") is op

    (admission,) = sched.admit(everyone_pending)
    assert sched.queued_op("p/a") is op  # admitted, not started yet
    assert sched.has_ops()
    assert sched.take_op(admission.task_id) is op
    assert sched.queued_op("p/a") is None
    assert not sched.has_ops()


@pytest.mark.parametrize("admitted", [False, True], ids=["waiting", "admitted"])
def test_withdraw_op_removes_the_command_and_returns_it(admitted: bool) -> None:
    """Withdrawn before or after admission, the command is gone and never admitted (again)."""
    sched = plan_with([], max_concurrency=1)
    op = Retry(target=Target.task("p/a"))
    queue_command(sched, "p/a", op)
    if admitted:
        assert ids(sched.admit(everyone_pending)) == ["p/a"]
    assert sched.withdraw_op("p", "p/a") is op
    assert sched.queued_op("p/a") is None
    assert not sched.has_ops()
    assert sched.withdraw_op("p", "p/a") is None
    sched.release_slot("p", "p/a")
    assert sched.admit(everyone_pending) == []
    assert sched.tenant_holder("a") == "p/a"  # the tenant is the operation's to give back


def test_withdraw_op_of_a_task_without_a_command_is_none() -> None:
    """Nothing queued: nothing withdrawn, nothing else disturbed."""
    sched = plan_with([])
    queue_command(sched, "p/b", resume("p/b"))
    assert sched.withdraw_op("p", "p/a") is None
    assert ids(sched.admit(everyone_pending)) == ["p/b"]


# ----------------------------------------------------------------- give_back


def test_give_back_with_requeue_puts_a_forward_task_first_in_line() -> None:
    """An admitted task that did not start frees its slot and tenant, and goes first again."""
    sched = plan_with(["a", "b"], max_concurrency=1)
    (admission,) = sched.admit(everyone_pending)
    sched.give_back(admission, "a", requeue=True)
    assert sched.slots_used("p") == 0
    assert sched.tenant_holder("a") is None
    assert ids(sched.admit(everyone_pending)) == ["p/a"]
    assert sched.tenant_holder("a") == "p/a"


def test_a_requeued_forward_task_waits_for_its_tenant_without_losing_its_place() -> None:
    """Given back and then blocked by its tenant, it still goes before later tasks."""
    sched = plan_with(["a", "b", "c"], max_concurrency=1)
    (admission,) = sched.admit(everyone_pending)
    sched.give_back(admission, "a", requeue=True)
    assert sched.hold_tenant("a", "other/a")
    assert ids(sched.admit(everyone_pending)) == ["p/b"]
    sched.release_tenant("a", "other/a")
    finish(sched, "p/b")
    assert ids(sched.admit(everyone_pending)) == ["p/a"]


def test_give_back_without_requeue_just_frees_the_slot() -> None:
    """A forward task given back for good releases slot and tenant and is not admitted again."""
    sched = plan_with(["a", "b"], max_concurrency=1)
    (admission,) = sched.admit(everyone_pending)
    sched.give_back(admission, "a", requeue=False)
    assert sched.slots_used("p") == 0
    assert sched.tenant_holder("a") is None
    assert ids(sched.admit(everyone_pending)) == ["p/b"]
    finish(sched, "p/b")
    assert sched.admit(everyone_pending) == []


def test_give_back_with_requeue_puts_a_queued_command_back_at_the_head() -> None:
    """A command that did not start goes before commands accepted after it; it keeps its tenant."""
    sched = plan_with(["z"], max_concurrency=1)
    first, second = resume("p/a"), resume("p/b")
    queue_command(sched, "p/a", first)
    queue_command(sched, "p/b", second)
    (admission,) = sched.admit(everyone_pending)
    assert admission.op is first
    sched.give_back(admission, "a", requeue=True)
    assert sched.tenant_holder("a") == "p/a"
    assert sched.admit(everyone_pending) == [Admission("p", "p/a", first)]


def test_give_back_with_requeue_drops_a_command_withdrawn_meanwhile() -> None:
    """A command withdrawn after admission is not put back; the slot frees, the tenant stays."""
    sched = plan_with(["z"], max_concurrency=1)
    op = resume("p/a")
    queue_command(sched, "p/a", op)
    (admission,) = sched.admit(everyone_pending)
    assert sched.withdraw_op("p", "p/a") is op
    sched.give_back(admission, "a", requeue=True)
    assert sched.slots_used("p") == 0
    assert sched.tenant_holder("a") == "p/a"
    assert not sched.has_ops()
    assert ids(sched.admit(everyone_pending)) == ["p/z"]


def test_give_back_of_a_command_without_requeue_frees_only_the_slot() -> None:
    """Without requeue an admitted command's slot frees; its tenant stays held."""
    sched = plan_with(["z"], max_concurrency=1)
    op = resume("p/a")
    queue_command(sched, "p/a", op)
    (admission,) = sched.admit(everyone_pending)
    sched.give_back(admission, "a", requeue=False)
    assert sched.slots_used("p") == 0
    assert sched.tenant_holder("a") == "p/a"
    assert ids(sched.admit(everyone_pending)) == ["p/z"]


def test_a_task_holding_a_slot_is_not_admitted_twice() -> None:
    """Re-queuing a command for a task whose previous admission is still out waits for it."""
    sched = plan_with([], max_concurrency=2)
    first = resume("p/a")
    queue_command(sched, "p/a", first)
    (stale,) = sched.admit(everyone_pending)
    assert sched.withdraw_op("p", "p/a") is first  # pause of the paused task
    second = resume("p/a")
    sched.queue_op("p", "p/a", second)  # resume again, tenant still held
    assert sched.admit(everyone_pending) == []  # the stale admission still holds the slot
    sched.give_back(stale, "a", requeue=False)  # it notices and backs off
    assert sched.slots_used("p") == 0
    assert sched.admit(everyone_pending) == [Admission("p", "p/a", second)]
    assert sched.slots_used("p") == 1


# ----------------------------------------------------------------- plan-level controls


def test_drop_pending_forgets_queued_and_blocked_tasks_but_not_commands() -> None:
    """Plan cancel: PENDING tasks (blocked ones too) are never admitted; commands still are."""
    sched = Scheduler()
    assert sched.hold_tenant("b", "other/b")
    plan_with(["a", "b", "c", "d"], max_concurrency=1, sched=sched)
    assert ids(sched.admit(everyone_pending)) == ["p/a"]
    finish(sched, "p/a")
    op = resume("p/e")
    queue_command(sched, "p/e", op)
    sched.drop_pending("p")
    sched.release_tenant("b", "other/b")
    assert sched.admit(everyone_pending) == [Admission("p", "p/e", op)]
    finish(sched, "p/e")
    assert sched.admit(everyone_pending) == []


def test_set_accepting_stops_and_restarts_admission() -> None:
    """A plan that stops accepting admits nothing new; running tasks keep their slots."""
    sched = plan_with(["a", "b", "c"], max_concurrency=2)
    assert ids(sched.admit(everyone_pending)) == ["p/a", "p/b"]
    sched.set_accepting("p", False)
    finish(sched, "p/a")
    assert sched.admit(everyone_pending) == []
    assert sched.slots_used("p") == 1
    sched.set_accepting("p", True)
    assert ids(sched.admit(everyone_pending)) == ["p/c"]


def test_add_plan_again_updates_accepting_and_keeps_the_queue() -> None:
    """add_plan is idempotent: a second call only changes whether the plan accepts."""
    sched = plan_with(["a", "b"], max_concurrency=1, accepting=False)
    assert sched.has_plan("p")
    assert not sched.has_plan("q")
    sched.add_plan("p", 5, accepting=True)
    assert ids(sched.admit(everyone_pending)) == ["p/a"]  # still max_concurrency 1


def test_release_slot_is_idempotent() -> None:
    """Releasing a slot twice, or one never held, frees nothing more."""
    sched = plan_with(["a", "b", "c"], max_concurrency=2)
    assert ids(sched.admit(everyone_pending)) == ["p/a", "p/b"]
    sched.release_slot("p", "p/a")
    sched.release_slot("p", "p/a")
    sched.release_slot("p", "p/never")
    assert sched.slots_used("p") == 1
    sched.release_tenant("a", "p/a")
    assert ids(sched.admit(everyone_pending)) == ["p/c"]
    assert sched.slots_used("p") == 2


def test_hold_slot_counts_a_recovered_task() -> None:
    """A task found executing at recovery occupies a slot until it is released."""
    sched = plan_with(["a", "b", "c"], max_concurrency=2)
    sched.hold_slot("p", "p/r")
    sched.hold_slot("p", "p/r")
    assert sched.slots_used("p") == 1
    assert ids(sched.admit(everyone_pending)) == ["p/a"]
    sched.release_slot("p", "p/r")
    assert ids(sched.admit(everyone_pending)) == ["p/b"]


def test_is_pending_skips_tasks_no_longer_pending() -> None:
    """Cancelled tasks, queued or blocked, are skipped and never admitted later."""
    sched = Scheduler()
    assert sched.hold_tenant("b", "other/b")
    plan_with(["a", "b", "c", "d"], max_concurrency=1, sched=sched)
    cancelled = {"p/a"}

    def pending(task_id: str) -> bool:
        return task_id not in cancelled

    assert ids(sched.admit(pending)) == ["p/c"]  # a cancelled, b blocked
    cancelled.add("p/b")
    sched.release_tenant("b", "other/b")
    finish(sched, "p/c")
    assert ids(sched.admit(pending)) == ["p/d"]
    finish(sched, "p/d")
    assert sched.admit(pending) == []
    assert sched.tenant_holder("b") is None


# ----------------------------------------------------------------- invariants (Hypothesis)


class State(Enum):
    """Where a task is, as far as the scheduler is concerned."""

    PENDING = auto()  # in line (queued or blocked)
    ADMITTED = auto()  # forward admission, not started: slot and tenant
    ADMITTED_OP = auto()  # command admitted, not started: slot and tenant, command waiting
    WITHDRAWN = auto()  # command withdrawn after admission: slot and tenant, no command
    RUNNING = auto()  # slot and tenant
    PAUSED = auto()  # tenant only
    OP_QUEUED = auto()  # tenant, command waiting for a slot
    SETTLED = auto()  # nothing (completed, failed)
    CANCELLED = auto()  # nothing, no longer PENDING


IN_SLOT = frozenset({State.ADMITTED, State.ADMITTED_OP, State.WITHDRAWN, State.RUNNING})
HOLDS_TENANT = IN_SLOT | {State.PAUSED, State.OP_QUEUED}
WAITING_OP = frozenset({State.ADMITTED_OP, State.OP_QUEUED})

PLANS = {"a": 1, "b": 2, "c": 3}
TENANTS = ["t1", "t2", "t3", "t4"]


class SchedulerMachine(RuleBasedStateMachine):
    """Random use of the scheduler, as the engine makes it, against a model of every task."""

    def __init__(self) -> None:
        super().__init__()
        self.sched = Scheduler()
        self.tasks: dict[str, tuple[str, str]] = {}
        self.state: dict[str, State] = {}
        self.ops: dict[str, QueuedCommand] = {}
        self.admissions: dict[str, Admission] = {}
        self.accepting = dict.fromkeys(PLANS, True)
        self.counter = 0

    @initialize()
    def plans(self) -> None:
        for plan_id, limit in PLANS.items():
            self.sched.add_plan(plan_id, limit, accepting=True)

    def _in(self, *states: State) -> list[str]:
        return sorted(t for t, s in self.state.items() if s in states)

    def _pick(self, data: st.DataObject, *states: State) -> str:
        return data.draw(st.sampled_from(self._in(*states)))

    # -- rules

    @rule(plan_id=st.sampled_from(sorted(PLANS)), tenant=st.sampled_from(TENANTS))
    def add_pending(self, plan_id: str, tenant: str) -> None:
        self.counter += 1
        task_id = f"{plan_id}/{tenant}#{self.counter}"
        self.tasks[task_id] = (plan_id, tenant)
        self.state[task_id] = State.PENDING
        self.sched.add_pending(plan_id, task_id, tenant)

    @rule()
    def admit(self) -> None:
        admitted = self.sched.admit(lambda t: self.state[t] is State.PENDING)
        for admission in admitted:
            task_id = admission.task_id
            assert self.tasks[task_id][0] == admission.plan_id
            if admission.op is None:
                assert self.state[task_id] is State.PENDING, f"{task_id} admitted twice"
                self.state[task_id] = State.ADMITTED
            else:
                assert self.state[task_id] is State.OP_QUEUED, f"{task_id} admitted twice"
                assert admission.op is self.ops[task_id]
                self.state[task_id] = State.ADMITTED_OP
            self.admissions[task_id] = admission
        # Work-conserving: a plan with a free slot left nothing admissible behind.
        for plan_id, limit in PLANS.items():
            if self.sched.slots_used(plan_id) >= limit:
                continue
            mine = [t for t in self.tasks if self.tasks[t][0] == plan_id]
            assert not [t for t in mine if self.state[t] is State.OP_QUEUED]
            if self.accepting[plan_id]:
                held = {self.tasks[t][1] for t in self._in(*HOLDS_TENANT)}
                for task_id in mine:
                    if self.state[task_id] is State.PENDING:
                        assert self.tasks[task_id][1] in held, f"{task_id} left waiting"

    @rule(data=st.data())
    @precondition(lambda self: self._in(State.ADMITTED, State.ADMITTED_OP))
    def start(self, data: st.DataObject) -> None:
        task_id = self._pick(data, State.ADMITTED, State.ADMITTED_OP)
        if self.state[task_id] is State.ADMITTED_OP:
            assert self.sched.take_op(task_id) is self.ops.pop(task_id)
        self.state[task_id] = State.RUNNING

    @rule(data=st.data(), requeue=st.booleans())
    @precondition(lambda self: self._in(State.ADMITTED, State.ADMITTED_OP, State.WITHDRAWN))
    def give_back(self, data: st.DataObject, requeue: bool) -> None:
        task_id = self._pick(data, State.ADMITTED, State.ADMITTED_OP, State.WITHDRAWN)
        _, tenant = self.tasks[task_id]
        self.sched.give_back(self.admissions[task_id], tenant, requeue=requeue)
        match self.state[task_id]:
            case State.ADMITTED:
                self.state[task_id] = State.PENDING if requeue else State.CANCELLED
            case State.ADMITTED_OP if requeue:
                self.state[task_id] = State.OP_QUEUED
            case State.ADMITTED_OP:
                # Freed for good while still waiting: the engine withdraws it first.
                assert self.sched.withdraw_op(self.tasks[task_id][0], task_id) is not None
                self.ops.pop(task_id)
                self.state[task_id] = State.PAUSED
            case _:
                self.state[task_id] = State.PAUSED

    @rule(data=st.data())
    @precondition(lambda self: self._in(State.RUNNING))
    def pause(self, data: st.DataObject) -> None:
        task_id = self._pick(data, State.RUNNING)
        self.sched.release_slot(self.tasks[task_id][0], task_id)
        self.state[task_id] = State.PAUSED

    @rule(data=st.data())
    @precondition(lambda self: self._in(State.RUNNING))
    def finish(self, data: st.DataObject) -> None:
        task_id = self._pick(data, State.RUNNING)
        plan_id, tenant = self.tasks[task_id]
        self.sched.release_slot(plan_id, task_id)
        self.sched.release_slot(plan_id, task_id)
        self.sched.release_tenant(tenant, task_id)
        self.state[task_id] = State.SETTLED

    @rule(data=st.data())
    @precondition(lambda self: self._in(State.PENDING))
    def cancel_pending(self, data: st.DataObject) -> None:
        self.state[self._pick(data, State.PENDING)] = State.CANCELLED

    @rule(data=st.data(), kind=st.sampled_from(["resume", "retry", "rollback"]))
    @precondition(lambda self: self._in(State.PAUSED, State.SETTLED))
    def queue_op(self, data: st.DataObject, kind: str) -> None:
        task_id = self._pick(data, State.PAUSED, State.SETTLED)
        plan_id, tenant = self.tasks[task_id]
        op: QueuedCommand = (
            Resume(target=Target.task(task_id))
            if self.state[task_id] is State.PAUSED
            else Retry(target=Target.task(task_id))
            if kind != "rollback"
            else Rollback(target=Target.task(task_id))
        )
        holder = self.sched.tenant_holder(tenant)
        if not self.sched.hold_tenant(tenant, task_id):
            assert holder is not None
            assert holder != task_id
            assert self.state[holder] in HOLDS_TENANT
            return  # refused TENANT_BUSY
        self.sched.queue_op(plan_id, task_id, op)
        self.ops[task_id] = op
        self.state[task_id] = State.OP_QUEUED

    @rule(data=st.data())
    @precondition(lambda self: self._in(State.OP_QUEUED, State.ADMITTED_OP))
    def withdraw_op(self, data: st.DataObject) -> None:
        task_id = self._pick(data, State.OP_QUEUED, State.ADMITTED_OP)
        assert self.sched.withdraw_op(self.tasks[task_id][0], task_id) is self.ops.pop(task_id)
        was = self.state[task_id]
        self.state[task_id] = State.PAUSED if was is State.OP_QUEUED else State.WITHDRAWN

    @rule(plan_id=st.sampled_from(sorted(PLANS)), accepting=st.booleans())
    def set_accepting(self, plan_id: str, accepting: bool) -> None:
        self.sched.set_accepting(plan_id, accepting)
        self.accepting[plan_id] = accepting

    # -- invariants

    @invariant()
    def slots_never_exceed_max_concurrency(self) -> None:
        for plan_id, limit in PLANS.items():
            in_slot = [t for t in self._in(*IN_SLOT) if self.tasks[t][0] == plan_id]
            assert self.sched.slots_used(plan_id) == len(in_slot)
            assert len(in_slot) <= limit

    @invariant()
    def a_tenant_has_at_most_one_task(self) -> None:
        for tenant in TENANTS:
            holders = [t for t in self._in(*HOLDS_TENANT) if self.tasks[t][1] == tenant]
            assert len(holders) <= 1, f"{tenant} held by {holders}"
            assert self.sched.tenant_holder(tenant) == (holders[0] if holders else None)

    @invariant()
    def waiting_commands_are_known(self) -> None:
        assert self.sched.has_ops() == bool(self.ops)
        for task_id in self.tasks:
            assert self.sched.queued_op(task_id) is self.ops.get(task_id)
        assert set(self.ops) == set(self._in(*WAITING_OP))


SchedulerMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSchedulerInvariants = SchedulerMachine.TestCase
