"""JSON-safe encoding of the store's records, shared by every store backend: the one place
where records, events, commands and leases become JSON and come back.

``text`` writes and reads the JSON itself (msgspec); ``records`` the plans, tasks and events;
``controls`` the control mailbox's requests and the lease.
"""

from __future__ import annotations

from switchover.stores.codec.controls import (
    command_from_dict,
    command_to_dict,
    control_from_dict,
    control_to_dict,
    decode_control,
    decode_lease,
    encode_control,
    encode_lease,
    lease_from_dict,
    lease_to_dict,
    outcome_from_dict,
    outcome_to_dict,
)
from switchover.stores.codec.records import (
    checkpoint_from_dict,
    checkpoint_to_dict,
    config_from_dict,
    config_to_dict,
    decode_event,
    decode_plan,
    decode_task,
    encode_event,
    encode_plan,
    encode_task_configs,
    encode_task_run,
    endpoint_to_dict,
    event_from_dict,
    event_to_dict,
    failure_from_dict,
    failure_to_dict,
    plan_from_dict,
    plan_to_dict,
    task_configs_to_dict,
    task_from_dict,
    task_run_to_dict,
    task_to_dict,
)
from switchover.stores.codec.text import (
    dumps,
    loads,
)

__all__ = [
    "checkpoint_from_dict",
    "checkpoint_to_dict",
    "command_from_dict",
    "command_to_dict",
    "config_from_dict",
    "config_to_dict",
    "control_from_dict",
    "control_to_dict",
    "decode_control",
    "decode_event",
    "decode_lease",
    "decode_plan",
    "decode_task",
    "dumps",
    "encode_control",
    "encode_event",
    "encode_lease",
    "encode_plan",
    "encode_task_configs",
    "encode_task_run",
    "endpoint_to_dict",
    "event_from_dict",
    "event_to_dict",
    "failure_from_dict",
    "failure_to_dict",
    "lease_from_dict",
    "lease_to_dict",
    "loads",
    "outcome_from_dict",
    "outcome_to_dict",
    "plan_from_dict",
    "plan_to_dict",
    "task_configs_to_dict",
    "task_from_dict",
    "task_run_to_dict",
    "task_to_dict",
]
