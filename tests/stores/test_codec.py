"""The store codec's record forms: each record survives a JSON round trip whole."""

from __future__ import annotations

import json

import pytest

from switchover.domain.config import TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import Checkpoint
from switchover.domain.status import ExecutionMode
from switchover.errors import ErrorType, StoreError
from switchover.stores import codec
from tests.domain.test_records import FAILURE, FULL_CONFIG, PREVIOUS


def through_json(data: dict[str, object]) -> dict[str, object]:
    """``data`` after a JSON dump/load, as a store would see it."""
    loaded: dict[str, object] = json.loads(json.dumps(data))
    return loaded


@pytest.mark.parametrize("config", [FULL_CONFIG, PREVIOUS], ids=["full", "minimal"])
def test_tenant_config_round_trips_through_json(config: TenantConfig) -> None:
    """config_from_dict(config_to_dict()) restores an equal config, tuples included."""
    restored = codec.config_from_dict(through_json(codec.config_to_dict(config)))
    assert restored == config
    assert isinstance(restored.network_endpoints, tuple)
    assert isinstance(restored.called_number_rules, tuple)


def test_network_endpoint_round_trips() -> None:
    """An endpoint inside a config restores an equal endpoint."""
    endpoint = FULL_CONFIG.network_endpoints[0]
    assert codec.endpoint_to_dict(endpoint)["source_ip"] == "192.0.2.1"
    one = TenantConfig("t1", "p1", 20, network_endpoints=(endpoint,))
    assert codec.config_from_dict(through_json(codec.config_to_dict(one))).network_endpoints == (
        endpoint,
    )


@pytest.mark.parametrize(
    "failure",
    [FAILURE, FailureInfo(ErrorType.TIMEOUT_ERROR, "verify timed out")],
    ids=["full", "minimal"],
)
def test_failure_info_round_trips_through_json(failure: FailureInfo) -> None:
    """failure_from_dict(failure_to_dict()) restores type, place, retryable and details."""
    assert codec.failure_from_dict(through_json(codec.failure_to_dict(failure))) == failure


@pytest.mark.parametrize(
    "event",
    [
        Event(
            plan_id="p1",
            type=EventType.STAGE_FAILED,
            at=1_700_000_000.25,
            task_id="task-1",
            tenant_id="t1",
            status="FAILED",
            stage="portal",
            failure=FAILURE,
            data={"attempt": 3, "instances": ["10.0.0.1:8080"]},
            seq=42,
        ),
        Event(plan_id="p1", type=EventType.PLAN_CREATED, at=1.0),
    ],
    ids=["full", "minimal"],
)
def test_event_round_trips_through_json(event: Event) -> None:
    """event_from_dict(event_to_dict()) restores an equal event, failure included."""
    data = codec.event_to_dict(event)
    assert data["type"] == event.type.value
    assert codec.event_from_dict(through_json(data)) == event


@pytest.mark.parametrize("mode", list(ExecutionMode))
def test_checkpoint_round_trips_through_json(mode: ExecutionMode) -> None:
    """checkpoint_from_dict(checkpoint_to_dict()) restores mode, index, names and time."""
    checkpoint = Checkpoint(mode=mode, last_stage=1, completed=("asbc-gateway", "portal"), at=5.5)
    restored = codec.checkpoint_from_dict(through_json(codec.checkpoint_to_dict(checkpoint)))
    assert restored == checkpoint
    assert restored.next_stage == 2


def test_a_malformed_record_is_a_store_error_naming_its_kind() -> None:
    with pytest.raises(StoreError, match="stored config record is malformed"):
        codec.config_from_dict({"tenant_id": "t1"})
    with pytest.raises(StoreError, match="stored failure record is malformed"):
        codec.failure_from_dict({"error_type": "NO_SUCH_TYPE", "message": "x"})


def test_records_json_cannot_decode_fast_are_still_read() -> None:
    """Integers over 64 bits and non-ASCII text: the fast decoder hands over to json."""
    data = {"big": 2**70, "negative": -(2**65), "text": "é✓", "nested": {"n": [1.5, None]}}
    text = codec.dumps(data)
    assert json.loads(text) == data
    assert codec.loads(text) == data
    assert codec.loads(text.encode()) == data


def test_stored_text_that_is_not_a_json_object_is_a_store_error() -> None:
    for text in ("[1, 2]", "{not json", '{"a": 1} trailing'):
        with pytest.raises(StoreError):
            codec.loads(text)
