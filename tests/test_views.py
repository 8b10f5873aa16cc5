"""The JSON views: RFC 3339 times (UTC, milliseconds, ``Z``), the schema version on every
document, and views read back into the records they show."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Checkpoint, Plan, Task
from switchover.domain.rollout import Gate, GateKind, Policy, Rollout, Wave
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ErrorType, StoreError
from switchover.service import PlanDetail
from switchover.stores import codec
from switchover.stores.protocol import PlanSummary
from switchover.views import (
    SCHEMA,
    document,
    event_from_json,
    event_json,
    events_page_json,
    history_json,
    parse_timestamp,
    plan_detail_json,
    plan_from_json,
    plans_json,
    summary_json,
    task_from_json,
    task_json,
    timestamp,
)
from tests.support.shapes import RFC3339_MS, check_documents, time_fields

AT = 1_796_132_534.125
"""2026-12-01T13:42:14.125Z: a time a millisecond text holds exactly."""
LAST_YEAR_9999 = 253_402_300_799.0


def through_json(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a reader of the printed JSON gets it."""
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


def baking_plan(at: float = AT) -> Plan:
    """A plan between two waves, baking: a gate with a since and an until."""
    return Plan(
        plan_id="p1",
        version=20,
        max_concurrency=4,
        status=PlanStatus.RUNNING,
        task_count=2,
        created_at=at,
        updated_at=at + 60,
        policy=Policy(waves=(Wave(1), Wave(2)), bake=600.0, stage_deadline=30.0),
        rollout=Rollout(wave=1, gate=Gate(GateKind.BAKE, 1, at + 60, at + 660, 0)),
    )


def failed_task(at: float = AT) -> Task:
    """A failed task with a checkpoint, a failure and a previous config."""
    config = TenantConfig(
        "t1",
        "p1",
        20,
        deploy_unit_name="green",
        network_endpoints=(NetworkEndpoint("r1", "10.0.0.1", None, None, "g.example"),),
        called_number_rules=("400*",),
    )
    return Task(
        task_id="p1/t1",
        plan_id="p1",
        tenant_id="t1",
        position=0,
        config=config,
        previous=TenantConfig("t1", "p0", 19, deploy_unit_name="blue"),
        status=TaskStatus.FAILED,
        created_at=at,
        updated_at=at + 2.5,
        stages=("portal", "ob-service"),
        checkpoint=Checkpoint(ExecutionMode.NORMAL, 0, ("portal",), at + 1.25),
        failure=FailureInfo(ErrorType.HEALTH_CHECK_FAILED, "never matched", "ob-service"),
        current_stage=None,
    )


def events(at: float = AT) -> list[Event]:
    """A wave's bake (its data holds a time) and a task's failure."""
    return [
        Event(
            "p1",
            EventType.PLAN_WAVE_BAKING,
            at,
            data={"wave": 2, "bake": 600.0, "until": at + 660},
            seq=7,
        ),
        Event(
            "p1",
            EventType.TASK_FAILED,
            at + 2.5,
            task_id="p1/t1",
            tenant_id="t1",
            status="FAILED",
            failure=FailureInfo(ErrorType.HEALTH_CHECK_FAILED, "never matched", "ob-service"),
            seq=8,
        ),
    ]


# -- the timestamp helper --------------------------------------------------------------------


def test_a_timestamp_is_utc_with_milliseconds_and_z() -> None:
    """Epoch seconds print as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC."""
    assert timestamp(AT) == "2026-12-01T13:42:14.125Z"
    assert timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert timestamp(1_796_132_534) == "2026-12-01T13:42:14.000Z"  # always three digits


def test_a_timestamp_rounds_to_the_nearest_millisecond() -> None:
    """Sub-millisecond parts round, carrying into the second."""
    assert timestamp(1.0004) == "1970-01-01T00:00:01.000Z"
    assert timestamp(1.0006) == "1970-01-01T00:00:01.001Z"
    assert timestamp(59.9996) == "1970-01-01T00:01:00.000Z"


def test_a_timestamp_does_not_depend_on_the_local_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same instant prints the same text whatever ``TZ`` says."""
    expected = timestamp(AT + 0.5)
    try:
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        assert timestamp(AT + 0.5) == expected
        assert parse_timestamp(expected) == AT + 0.5
    finally:
        monkeypatch.undo()
        time.tzset()


def test_parse_timestamp_reads_rfc3339_with_any_offset_and_legacy_numbers() -> None:
    """``Z`` or an offset, any fraction digits; a number is epoch seconds (views before v1)."""
    assert parse_timestamp("2026-12-01T13:42:14.125Z") == AT
    assert parse_timestamp("2026-12-01T19:12:14.125+05:30") == AT
    assert parse_timestamp("2026-12-01T13:42:14Z") == AT - 0.125
    assert parse_timestamp(AT) == AT
    assert parse_timestamp(12) == 12.0


@pytest.mark.parametrize("bad", ["2026-12-01T13:42:14.125", "yesterday", "", None, True, [1]])
def test_parse_timestamp_refuses_what_is_not_a_time_with_an_offset(bad: object) -> None:
    """A time without an offset is ambiguous; anything else is not a time."""
    with pytest.raises(ValueError, match=r"time|isoformat"):
        parse_timestamp(bad)


def test_a_time_outside_rfc3339_years_is_refused() -> None:
    """Years past 9999 have no RFC 3339 text."""
    assert timestamp(LAST_YEAR_9999) == "9999-12-31T23:59:59.000Z"
    with pytest.raises(ValueError, match="outside RFC 3339's years"):
        timestamp(LAST_YEAR_9999 + 1)
    with pytest.raises((ValueError, OverflowError)):
        timestamp(float("inf"))


@given(st.floats(min_value=0, max_value=LAST_YEAR_9999 - 1, allow_nan=False))
def test_timestamps_read_back_to_the_millisecond_and_print_the_same(at: float) -> None:
    """text → time → text is stable, and the time is within half a millisecond."""
    text = timestamp(at)
    assert RFC3339_MS.match(text)
    back = parse_timestamp(text)
    assert abs(back - at) <= 0.0005 + 1e-6 * max(1.0, at / 1e9)
    assert timestamp(back) == text


@given(st.lists(st.floats(min_value=0, max_value=4e9, allow_nan=False), min_size=2))
def test_timestamps_sort_as_the_times_do(times: list[float]) -> None:
    """Sorting the texts sorts the times (fixed width, one zone)."""
    texts = [timestamp(at) for at in sorted(times)]
    assert texts == sorted(texts)


# -- documents -------------------------------------------------------------------------------


def test_a_document_starts_with_the_schema_version() -> None:
    """``schema`` comes first, then the fields as given; stamping twice changes nothing."""
    stamped = document({"plan_id": "p1", "since": 3})
    assert list(stamped) == ["schema", "plan_id", "since"]
    assert stamped["schema"] == SCHEMA == "switchover/v1"
    assert document(stamped) == stamped


def test_every_view_has_rfc3339_times_and_no_epoch_number() -> None:
    """Plans (gate since/until), tasks (checkpoint), events (a bake's until): every time is
    text, and no number in any view looks like epoch seconds."""
    plan, task, shown = baking_plan(), failed_task(), events()
    detail = PlanDetail(plan, {TaskStatus.FAILED: 1}, [task], 1, None, 8, [("X", None, 1)])
    documents = [
        document(plans_json([PlanSummary(plan, {TaskStatus.FAILED: 1})])),
        document(plan_detail_json(detail, offset=0, limit=50)),
        document(task_json(task)),
        document(history_json("t1", [task])),
        document(events_page_json("p1", 6, shown)),
        *(document(event_json(e)) for e in shown),
    ]
    seen = check_documents(through_json(d) for d in documents)
    assert {
        "created_at",
        "updated_at",
        "rollout.gate.since",
        "rollout.gate.until",
        "checkpoint.at",
        "tasks[].checkpoint.at",
        "plans[].rollout.gate.until",
        "events[].data.until",
        "at",
        "data.until",
    } <= set(seen)
    assert seen["rollout.gate.until"] == "2026-12-01T13:53:14.125Z"
    assert seen["data.until"] == "2026-12-01T13:53:14.125Z"


def test_an_epoch_number_in_a_view_fails_the_shape_check() -> None:
    """The check catches a float time and an epoch-sized number under any key."""
    with pytest.raises(AssertionError, match="created_at"):
        time_fields({"created_at": AT})
    with pytest.raises(AssertionError, match="epoch"):
        time_fields({"started": AT})
    with pytest.raises(AssertionError, match="schema"):
        check_documents([{"plan_id": "p1"}])


def test_durations_stay_seconds() -> None:
    """Bake, deadlines and an event's bake are numbers of seconds, not times."""
    view = document(plan_detail_json(PlanDetail(baking_plan(), {}, [], 0, None)))
    assert view["policy"]["bake"] == 600.0
    assert view["policy"]["stage_deadline"] == 30.0
    assert event_json(events()[0])["data"]["bake"] == 600.0


# -- back into records -----------------------------------------------------------------------


def test_views_read_back_into_the_records_they_show() -> None:
    """plan, task and event views (as printed, through JSON) give back equal records."""
    plan, task = baking_plan(), failed_task()
    summary = through_json(plans_json([PlanSummary(plan, {})]))["plans"][0]
    assert plan_from_json(summary) == plan
    detail = through_json(plan_detail_json(PlanDetail(plan, {}, [task], 1, None)))
    assert plan_from_json(detail) == plan
    assert [task_from_json(t) for t in detail["tasks"]] == [task]
    assert task_from_json(through_json(task_json(task))) == task
    for event in events():
        assert event_from_json(through_json(document(event_json(event)))) == event


def test_views_read_back_to_the_millisecond() -> None:
    """Sub-millisecond parts of a time are not in a view: a read-back record shows the same."""
    task = failed_task(AT + 0.000_4)
    back = task_from_json(through_json(task_json(task)))
    assert back != task
    assert task_json(back) == task_json(task)
    assert back.created_at == pytest.approx(AT, abs=1e-6)
    shown = through_json(plans_json([PlanSummary(baking_plan(AT + 0.000_6), {})]))["plans"][0]
    assert shown["created_at"] == "2026-12-01T13:42:14.126Z"
    assert plan_from_json(shown).created_at == pytest.approx(AT + 0.001, abs=1e-6)
    assert summary_json(PlanSummary(plan_from_json(shown), {})) == summary_json(
        PlanSummary(baking_plan(AT + 0.000_6), {})
    )


def test_views_with_epoch_numbers_still_read() -> None:
    """A view from before ``switchover/v1`` (the codec's forms: epoch seconds) reads the same."""
    plan, task, event = baking_plan(), failed_task(), events()[0]
    assert plan_from_json(codec.plan_to_dict(plan)) == plan
    assert task_from_json(codec.task_to_dict(task)) == task
    assert event_from_json(codec.event_to_dict(event)) == event


@pytest.mark.parametrize(
    ("read", "view", "field"),
    [
        (task_from_json, lambda: task_json(failed_task()), "created_at"),
        (plan_from_json, lambda: plans_json([PlanSummary(baking_plan(), {})])["plans"][0], "until"),
        (event_from_json, lambda: event_json(events()[1]), "at"),
    ],
    ids=["task", "plan-gate", "event"],
)
def test_a_view_with_a_malformed_time_is_refused_naming_the_field(
    read: Any, view: Any, field: str
) -> None:
    """A time that is not RFC 3339 is a StoreError naming the field, not a wrong record."""
    data = view()
    target = data["rollout"]["gate"] if field == "until" else data
    target[field] = "yesterday"
    with pytest.raises(StoreError, match=f"{field}: "):
        read(data)


def test_a_task_without_checkpoint_and_a_plan_without_gate_have_no_time_there() -> None:
    """Absent parts stay null; nothing else changes."""
    task = replace(failed_task(), checkpoint=None)
    plan = replace(baking_plan(), rollout=Rollout())
    assert task_json(task)["checkpoint"] is None
    assert plans_json([PlanSummary(plan, {})])["plans"][0]["rollout"]["gate"] is None
    assert task_from_json(through_json(task_json(task))) == task
