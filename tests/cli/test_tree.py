"""The plan tree of ``status PLAN`` and ``watch``: groups in the order that needs attention,
each task's stages with their durations, the cause of a failure with its failing instances,
and the collapsed view of a 10,000-task plan on a real SQLite store in a bounded number of
store calls."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace
from rich.console import Console
from typer.testing import CliRunner

from switchover.cli.app import app
from switchover.cli.render import plan_tree_view, task_detail, when
from switchover.domain.config import TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Checkpoint, Plan, Task
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ErrorType
from switchover.service import (
    PlanDetail,
    PlanTree,
    Queries,
    StageSpan,
    StageState,
    TaskBranch,
    TaskGroup,
    plan_tree,
    stage_timeline,
)
from switchover.stores.protocol import Change
from switchover.stores.sqlite import SqliteStore

T0 = 1_767_225_600.0
"""2026-01-01 00:00 UTC: when the plans of these tests start."""

PLAN = "big-move"
STAGES = ("asbc-gateway", "portal", "blue-green-gateway", "ob-service")

VERIFY_FAILURE = FailureInfo(
    error_type=ErrorType.HEALTH_CHECK_FAILED,
    message="2 of 3 instance(s) of blueGreenGatewayService never reported version 20",
    stage="blue-green-gateway",
    step="verify",
    retryable=True,
    details={
        "expected_version": 20,
        "instances": [
            {"instance": "127.0.0.1:4001", "last_reported": "19", "matched": False},
            {"instance": "127.0.0.1:4002", "last_reported": "20", "matched": True},
            {"instance": "127.0.0.1:4003", "last_reported": "NETWORK_ERROR", "matched": False},
        ],
    },
)


def make_task(tenant: str, position: int, status: TaskStatus = TaskStatus.PENDING) -> Task:
    config = TenantConfig(tenant_id=tenant, plan_id=PLAN, plan_version=20, deploy_unit_name="green")
    previous = TenantConfig(
        tenant_id=tenant, plan_id="older", plan_version=19, deploy_unit_name="blue"
    )
    return Task(
        task_id=f"{PLAN}/{tenant}",
        plan_id=PLAN,
        tenant_id=tenant,
        position=position,
        config=config,
        previous=previous,
        status=status,
        created_at=T0,
        updated_at=T0,
        stages=STAGES,
    )


def checkpoint(*done: str, mode: ExecutionMode = ExecutionMode.NORMAL) -> Checkpoint:
    return Checkpoint(mode=mode, last_stage=len(done) - 1, completed=done, at=T0)


def failed_task(tenant: str = "t-0042", position: int = 42) -> Task:
    return replace(
        make_task(tenant, position, TaskStatus.FAILED),
        checkpoint=checkpoint("asbc-gateway", "portal"),
        failure=VERIFY_FAILURE,
        retry_count=1,
    )


def running_task(tenant: str, position: int) -> Task:
    return replace(
        make_task(tenant, position, TaskStatus.RUNNING),
        checkpoint=checkpoint("asbc-gateway"),
        current_stage="portal",
    )


def stage_events(task: Task, *steps: tuple[EventType, str | None, float]) -> list[Event]:
    """The task's events of each ``(type, stage, seconds after T0)``."""
    return [
        Event(
            plan_id=task.plan_id,
            type=kind,
            at=T0 + offset,
            task_id=task.task_id,
            tenant_id=task.tenant_id,
            status=task.status.value,
            stage=stage,
            failure=VERIFY_FAILURE if kind is EventType.STAGE_FAILED else None,
        )
        for kind, stage, offset in steps
    ]


S, C, F = EventType.STAGE_STARTED, EventType.STAGE_COMPLETED, EventType.STAGE_FAILED


def failed_history(task: Task) -> list[Event]:
    return stage_events(
        task,
        (EventType.TASK_STARTED, None, 0.0),
        (S, "asbc-gateway", 0.0),
        (C, "asbc-gateway", 0.4),
        (S, "portal", 0.4),
        (C, "portal", 0.6),
        (S, "blue-green-gateway", 0.6),
        (EventType.TASK_PROGRESS, None, 5.0),
        (F, "blue-green-gateway", 12.6),
        (EventType.TASK_FAILED, None, 12.6),
    )


def running_history(task: Task) -> list[Event]:
    return stage_events(
        task, (S, "asbc-gateway", 0.0), (C, "asbc-gateway", 1.5), (S, "portal", 1.5)
    )


def text_of(renderable: Any, width: int = 200) -> str:
    """What a renderable prints on a console that is no terminal (plain text)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, soft_wrap=False)
    console.print(renderable)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return str(output)


def plan(status: PlanStatus = PlanStatus.RUNNING, task_count: int = 10_000) -> Plan:
    return Plan(
        plan_id=PLAN,
        version=20,
        max_concurrency=10,
        status=status,
        task_count=task_count,
        created_at=T0,
        updated_at=T0 + 3725,
        created_by="ops@bastion",
        reason="CHG-1234",
    )


# ----------------------------------------------------------------------------- timelines


def test_a_stage_timeline_has_each_stage_with_its_result_and_duration() -> None:
    task = failed_task()
    spans = stage_timeline(task, failed_history(task))
    assert [(s.name, s.state) for s in spans] == [
        ("asbc-gateway", StageState.DONE),
        ("portal", StageState.DONE),
        ("blue-green-gateway", StageState.FAILED),
        ("ob-service", StageState.NOT_RUN),
    ]
    took = [
        None if s.ended_at is None or s.started_at is None else round(s.ended_at - s.started_at, 3)
        for s in spans
    ]
    assert took == [0.4, 0.2, 12.0, None]


def test_a_running_stage_has_a_start_and_no_end() -> None:
    task = running_task("t-0100", 100)
    spans = stage_timeline(task, running_history(task))
    assert spans[1] == StageSpan("portal", StageState.RUNNING, T0 + 1.5, None)
    assert spans[2].state is StageState.NOT_RUN


def test_a_rollback_timeline_counts_only_the_rollbacks_own_stage_runs() -> None:
    """A rollback runs stages of the same names as the forward run: those runs are not its."""
    forward = failed_task()
    rolling = replace(
        forward,
        status=TaskStatus.ROLLING_BACK,
        mode=ExecutionMode.ROLLBACK,
        checkpoint=checkpoint("asbc-gateway", mode=ExecutionMode.ROLLBACK),
        current_stage="portal",
        failure=None,
    )
    history = [
        *failed_history(forward),
        *stage_events(
            rolling,
            (EventType.TASK_ROLLING_BACK, None, 100.0),
            (S, "asbc-gateway", 100.0),
            (C, "asbc-gateway", 100.3),
            (S, "portal", 100.3),
        ),
    ]
    spans = stage_timeline(rolling, history)
    assert spans[0] == StageSpan("asbc-gateway", StageState.DONE, T0 + 100.0, T0 + 100.3)
    assert spans[1] == StageSpan("portal", StageState.RUNNING, T0 + 100.3, None)
    assert spans[2] == StageSpan("blue-green-gateway", StageState.NOT_RUN)


# ----------------------------------------------------------------------------- rendering


def sample_tree() -> PlanTree:
    """A 10,000-task plan: a failed task, two running, pending ones listed in part, and the
    completed ones only counted."""
    failed = failed_task()
    running = [running_task("t-0100", 100), running_task("t-0101", 101)]
    pending = [make_task("t-1000", 1000), make_task("t-1001", 1001)]
    counts = {
        TaskStatus.FAILED: 1,
        TaskStatus.RUNNING: 2,
        TaskStatus.PENDING: 9_000,
        TaskStatus.COMPLETED: 997,
    }
    detail = PlanDetail(
        plan(),
        counts,
        [],
        10_000,
        None,
        last_seq=40_000,
        failures=[("HEALTH_CHECK_FAILED", "blue-green-gateway", 1)],
    )
    groups = (
        TaskGroup(
            TaskStatus.FAILED,
            1,
            (TaskBranch(failed, stage_timeline(failed, failed_history(failed))),),
        ),
        TaskGroup(
            TaskStatus.RUNNING,
            2,
            tuple(TaskBranch(t, stage_timeline(t, running_history(t))) for t in running),
        ),
        TaskGroup(TaskStatus.PENDING, 9_000, tuple(TaskBranch(t) for t in pending)),
        TaskGroup(TaskStatus.COMPLETED, 997),
    )
    return PlanTree(detail, groups)


def test_the_tree_shows_the_plan_then_tasks_by_status_what_needs_attention_first() -> None:
    text = text_of(plan_tree_view(sample_tree(), now=T0 + 4.7))
    lines = text.splitlines()
    assert lines[0] == "plan big-move  RUNNING  version 20  max concurrency 10"
    assert lines[1] == "10,000 tasks: 9,000 PENDING · 2 RUNNING · 997 COMPLETED · 1 FAILED"
    assert lines[2] == f"started {when(T0)}, running for 4.7s, by ops@bastion: CHG-1234"
    assert lines[3] == "failures: 1 HEALTH_CHECK_FAILED at blue-green-gateway"
    heads = [
        next(i for i, line in enumerate(lines) if line.endswith(head))
        for head in ("FAILED 1", "RUNNING 2", "PENDING 9,000", "COMPLETED 997")
    ]
    assert heads == sorted(heads)


def test_a_failed_task_shows_its_stages_durations_cause_and_failing_instances() -> None:
    text = text_of(plan_tree_view(sample_tree(), now=T0 + 4.7))
    assert "t-0042  FAILED  2/4 stages  retries 1" in text
    assert "✓ asbc-gateway  0.4s" in text
    assert "✓ portal  0.2s" in text
    assert "✗ blue-green-gateway  12s  failed" in text
    assert "· ob-service  not run" in text
    assert (
        "✗ HEALTH_CHECK_FAILED at blue-green-gateway/verify: 2 of 3 instance(s) of "
        "blueGreenGatewayService never reported version 20" in text
    )
    assert "127.0.0.1:4001: last reported 19" in text
    assert "127.0.0.1:4003: last reported NETWORK_ERROR" in text
    assert "127.0.0.1:4002" not in text  # it matched


def test_a_running_stage_shows_how_long_it_has_run() -> None:
    text = text_of(plan_tree_view(sample_tree(), now=T0 + 4.7))
    assert "t-0100  RUNNING  1/4 stages" in text
    assert "✓ asbc-gateway  1.5s" in text
    assert "▸ portal  3.2s  running" in text


def test_groups_list_some_tasks_and_count_the_rest_settled_ones_only_counted() -> None:
    text = text_of(plan_tree_view(sample_tree(), now=T0 + 4.7))
    lines = text.splitlines()
    assert "t-1000  PENDING" in text
    assert "… and 8,998 more PENDING" in text
    completed = next(i for i, line in enumerate(lines) if line.endswith("COMPLETED 997"))
    assert completed == len(lines) - 1  # the last line: a count, nothing under it


def test_a_settled_plan_says_how_long_it_took_and_its_budget() -> None:
    from switchover.domain.rollout import Budget, Policy, Rollout

    detail = sample_tree().detail
    settled = replace(
        plan(PlanStatus.FAILED),
        policy=Policy(budget=Budget(max_failed=5)),
        rollout=Rollout(failures=1),
    )
    text = text_of(plan_tree_view(PlanTree(replace(detail, plan=settled), ()), now=T0 + 9e9))
    assert f"started {when(T0)}, took 1h 02m, by ops@bastion: CHG-1234" in text
    assert "failure budget: 1 failed, halts at more than 5" in text


def test_status_of_one_task_shows_how_long_each_stage_took() -> None:
    task = failed_task()
    text = text_of(task_detail(task, stage_timeline(task, failed_history(task))))
    row = next(line for line in text.splitlines() if "blue-green-gateway" in line)
    assert "failed" in row
    assert "12s" in row


# ----------------------------------------------------------------------------- 10,000 tasks


class CountingStore:
    """A real store whose calls are counted (name, and the limit of each task page)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs.get("limit", "-")))
            return found(*args, **kwargs)

        return counted


async def seed(store: SqliteStore, completed: int) -> None:
    """A plan of 1 FAILED, 2 RUNNING, 7 PENDING and ``completed`` COMPLETED tasks, with the
    stage events of the failed and running ones."""
    total = 10 + completed
    tasks = [make_task(f"t-{i:04d}", i) for i in range(total)]
    await store.create_plan(plan(task_count=total), tasks, [])
    failed = failed_task("t-0000", 0)
    running = [running_task("t-0001", 1), running_task("t-0002", 2)]
    done = [
        replace(t, status=TaskStatus.COMPLETED, checkpoint=checkpoint(*STAGES)) for t in tasks[10:]
    ]
    events = [*failed_history(failed), *(e for t in running for e in running_history(t))]
    await store.commit(Change(PLAN, [failed, *running, *done], events=events))


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the 10,000-task plan (made once for this module's tests)."""
    path = tmp_path_factory.mktemp("big") / "switchover.db"

    async def make() -> None:
        store = SqliteStore(path)
        await store.open()
        try:
            await seed(store, completed=9_990)
        finally:
            await store.close()

    asyncio.run(make())
    return path


@pytest.fixture
async def opened(big_store: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(big_store)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_a_10000_task_plan_is_collapsed_to_what_needs_attention(
    opened: SqliteStore,
) -> None:
    tree = await plan_tree(Queries(opened), PLAN)
    groups = [(g.status, g.count, len(g.tasks)) for g in tree.groups]
    assert groups == [
        (TaskStatus.FAILED, 1, 1),
        (TaskStatus.RUNNING, 2, 2),
        (TaskStatus.PENDING, 7, 5),
        (TaskStatus.COMPLETED, 9_990, 0),
    ]
    text = text_of(plan_tree_view(tree, now=T0 + 4.7))
    assert "10,000 tasks: 7 PENDING · 2 RUNNING · 9,990 COMPLETED · 1 FAILED" in text
    assert "… and 2 more PENDING" in text
    assert text.splitlines()[-1].endswith("COMPLETED 9,990")
    assert "✗ blue-green-gateway  12s  failed" in text  # the timeline came from the store
    assert "▸ portal  3.2s  running" in text
    assert len(text.splitlines()) < 40


def test_listing_settled_tasks_too_says_how_many_more() -> None:
    """``--limit 5``: settled groups list 5 tasks too, and count the rest."""
    shown = tuple(TaskBranch(make_task(f"c{i}", i, TaskStatus.COMPLETED)) for i in range(5))
    group = TaskGroup(TaskStatus.COMPLETED, 10_000, shown)
    text = text_of(plan_tree_view(PlanTree(sample_tree().detail, (group,)), now=T0))
    assert "… and 9,995 more COMPLETED" in text


async def test_the_tree_of_a_10000_task_plan_takes_as_many_store_calls_as_a_small_one(
    opened: SqliteStore, tmp_path: Path
) -> None:
    """No store call per task: the view of 10,000 tasks costs what the view of 20 costs, and
    every page of tasks is bounded."""
    small = SqliteStore(tmp_path / "small.db")
    await small.open()
    try:
        await seed(small, completed=10)
        costs: list[list[tuple[str, Any]]] = []
        for store in (small, opened):
            counting = CountingStore(store)
            await plan_tree(Queries(counting), PLAN, limit=5, settled=True)  # type: ignore[arg-type]
            costs.append(counting.calls)
    finally:
        await small.close()
    assert costs[0] == costs[1]
    names = [name for name, _ in costs[1]]
    assert "read_events" not in names  # never the plan's whole history
    pages = [limit for name, limit in costs[1] if name == "list_tasks"]
    assert pages
    assert all(isinstance(limit, int) and limit <= 5 for limit in pages)
    assert names.count("task_events") == 1 + 2 + 5  # the failed, the running, 5 completed


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_status_of_a_10000_task_plan_prints_a_short_plain_tree(big_store: Path) -> None:
    code, out, err = invoke("--store", str(big_store), "status", PLAN)
    assert code == 0, err
    assert "\x1b[" not in out  # not a terminal: plain text
    lines = out.splitlines()
    assert lines[0].startswith("plan big-move  RUNNING")
    assert "├── FAILED 1" in lines
    assert "└── COMPLETED 9,990" in lines
    assert "… and 2 more PENDING" in out
    assert len(lines) < 40
    code, out, _ = invoke("--store", str(big_store), "status", PLAN, "--limit", "5")
    assert code == 0
    assert "… and 9,985 more COMPLETED" in out
    code, out, _ = invoke("--store", str(big_store), "status", PLAN, "--status", "PENDING")
    assert code == 0
    assert next(line for line in out.splitlines() if "──" in line).endswith("PENDING 7")
    assert "FAILED 1" not in out


def test_all_and_limit_together_are_refused(big_store: Path) -> None:
    code, _, err = invoke("--store", str(big_store), "status", PLAN, "--all", "--limit", "3")
    assert code == 2
    assert "name at most one of --all or --limit" in err
