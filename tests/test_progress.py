"""A followed plan's running tallies agree with its tasks, whatever the events."""

from __future__ import annotations

import io
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from switchover.cli.follow import RUNNING_SHOWN, render
from switchover.domain.events import Event, EventType
from switchover.domain.status import EXECUTING_TASK_STATUSES, TaskStatus
from switchover.service.progress import Progress, TaskProgress, plan_done

TASKS = [f"p/t{i}" for i in range(5)]

task_events = st.lists(
    st.tuples(
        st.sampled_from(TASKS),
        st.sampled_from([EventType.TASK_STARTED, EventType.STAGE_STARTED, EventType.TASK_PAUSED]),
        st.sampled_from([None, *[s.value for s in TaskStatus]]),
    ),
    max_size=60,
)


def recount(progress: Progress) -> Counter[TaskStatus]:
    return Counter(view.status for view in progress.tasks.values())


@given(
    known=st.dictionaries(st.sampled_from(TASKS), st.sampled_from(list(TaskStatus))),
    events=task_events,
)
def test_counts_and_executing_follow_every_status_change(
    known: dict[str, TaskStatus], events: list[tuple[str, EventType, str | None]]
) -> None:
    progress = Progress("p")
    for task_id, status in known.items():
        progress.track(task_id, TaskProgress(task_id[2:], status))
    for seq, (task_id, kind, status) in enumerate(events, start=1):
        progress.apply(
            Event("p", kind, 0.0, task_id=task_id, tenant_id=task_id[2:], status=status, seq=seq)
        )
        assert progress.counts() == recount(progress)
        executing = {t for t, v in progress.tasks.items() if v.status in EXECUTING_TASK_STATUSES}
        assert progress.executing() == bool(executing)
        assert {v.tenant_id for v in progress.running()} == {t[2:] for t in executing}


def test_tracking_a_known_task_again_replaces_it_in_the_counts() -> None:
    progress = Progress("p")
    progress.track("p/a", TaskProgress("a", TaskStatus.RUNNING))
    progress.track("p/a", TaskProgress("a", TaskStatus.COMPLETED))
    assert progress.counts() == Counter({TaskStatus.COMPLETED: 1})
    assert not progress.executing()
    assert TaskStatus.RUNNING not in progress.counts()  # no zero entries


def test_a_plan_is_done_only_once_nothing_executes() -> None:
    progress = Progress("p")
    progress.track("p/a", TaskProgress("a", TaskStatus.RUNNING))
    progress.apply(Event("p", EventType.PLAN_CANCELLED, 0.0, status="CANCELLED", seq=1))
    assert not plan_done(progress)
    progress.apply(
        Event("p", EventType.TASK_CANCELLED, 0.0, task_id="p/a", status="CANCELLED", seq=2)
    )
    assert plan_done(progress)


def test_the_live_display_names_the_longest_running_tasks_and_counts_the_rest() -> None:
    progress = Progress("big")
    for i in range(20):
        status = TaskStatus.RUNNING if i < 12 else TaskStatus.COMPLETED
        progress.track(f"big/t{i}", TaskProgress(f"t{i:02d}", status, "redis_write", since=i))
    console = Console(file=io.StringIO(), width=120)
    console.print(render(progress, "plan"))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "8/20 settled" in text
    assert "12 RUNNING · 8 COMPLETED" in text
    named = [line.split()[0] for line in text.splitlines() if line.startswith("t")]
    assert named == [f"t{i:02d}" for i in range(RUNNING_SHOWN)]  # oldest first
    assert f"… {12 - RUNNING_SHOWN} more" in text
