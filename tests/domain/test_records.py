"""Domain records: JSON round-trips, the version a run writes, and immutability."""

from __future__ import annotations

import msgspec.structs
import pytest

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Checkpoint, Plan, PlanSpec, Task, TenantSpec
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ErrorType

FULL_CONFIG = TenantConfig(
    tenant_id="t1",
    plan_id="p1",
    plan_version=20,
    deploy_unit_id=2,
    deploy_unit_version=20,
    deploy_unit_name="green",
    network_endpoints=(
        NetworkEndpoint("r1", source_ip="192.0.2.1", target_domain="green.example.com"),
        NetworkEndpoint("r2", source_domain="a.example.com", target_ip="198.51.100.2"),
    ),
    nacos_namespace="ns",
    called_number_rules=("1001", "1002"),
    trunk_group="tg-green",
    default_flag=True,
)
PREVIOUS = TenantConfig("t1", "p0", 19, deploy_unit_name="blue")
FAILURE = FailureInfo(
    error_type=ErrorType.ROLLBACK_PARTIAL_FAILED,
    message="1 of 2 stages failed",
    stage="portal",
    step="notify",
    retryable=True,
    details={"stages": [{"name": "portal", "ok": False, "error": "HTTP 500"}]},
)


def make_task(**changes: object) -> Task:
    """A forward task for t1 with a previous config, changed by ``changes``."""
    task = Task(
        task_id="task-1",
        plan_id="p1",
        tenant_id="t1",
        position=0,
        config=FULL_CONFIG,
        previous=PREVIOUS,
        status=TaskStatus.RUNNING,
        created_at=1.0,
        updated_at=1.0,
    )
    return msgspec.structs.replace(task, **changes)  # type: ignore[arg-type]


def test_forward_run_writes_the_new_config_version() -> None:
    """A NORMAL run writes and verifies config.plan_version."""
    assert make_task().run_version == 20


def test_forward_run_ignores_a_version_override() -> None:
    """The override applies only to rollback runs."""
    assert make_task(version_override=99).run_version == 20


def test_rollback_run_writes_the_previous_version() -> None:
    """A ROLLBACK run writes and verifies previous.plan_version."""
    assert make_task(mode=ExecutionMode.ROLLBACK).run_version == 19


def test_rollback_run_honours_the_operators_version_override() -> None:
    """An explicit rollback version wins over the previous config's."""
    assert make_task(mode=ExecutionMode.ROLLBACK, version_override=21).run_version == 21


def test_task_next_stage_follows_its_checkpoint() -> None:
    """Without a checkpoint a run starts at 0; with one, after its last stage."""
    assert make_task().next_stage == 0
    checkpoint = Checkpoint(ExecutionMode.NORMAL, last_stage=2, completed=("a", "b", "c"), at=1)
    assert make_task(checkpoint=checkpoint).next_stage == 3


@pytest.mark.parametrize(
    ("record", "attribute"),
    [
        (FULL_CONFIG, "plan_version"),
        (FULL_CONFIG.network_endpoints[0], "source_ip"),
        (FAILURE, "message"),
        (Event(plan_id="p", type=EventType.TASK_STARTED, at=0.0), "seq"),
        (Checkpoint(ExecutionMode.NORMAL, 0, ("portal",), 1.0), "last_stage"),
        (make_task(), "status"),
        (Plan("p", 1, 2, PlanStatus.RUNNING, 3, 0.0, 0.0), "status"),
        (TenantSpec(FULL_CONFIG, PREVIOUS), "previous"),
        (PlanSpec("p", 1, 1, ()), "tenants"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else value,
)
def test_records_are_frozen_and_slotted(record: object, attribute: str) -> None:
    """Records cannot be changed in place, nor grow new attributes."""
    with pytest.raises(AttributeError, match="immutable"):
        setattr(record, attribute, None)
    assert not hasattr(record, "__dict__")


def test_previous_config_snapshot_survives_task_changes() -> None:
    """Changing a task by ``replace`` leaves the original and its snapshot untouched."""
    task = make_task()
    failed = msgspec.structs.replace(task, status=TaskStatus.FAILED, retry_count=1)
    assert task.status is TaskStatus.RUNNING
    assert task.retry_count == 0
    assert failed.previous is task.previous
    assert failed.previous == TenantConfig("t1", "p0", 19, deploy_unit_name="blue")
