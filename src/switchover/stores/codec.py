"""JSON-safe encoding of the store's records, shared by every store backend."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import (
    BoundaryRequest,
    Checkpoint,
    Lease,
    Plan,
    Target,
    TargetKind,
    Task,
)
from switchover.domain.rollout import Budget, Gate, GateKind, Policy, Rollout, Wave
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ErrorType, StoreError

if TYPE_CHECKING:
    # Control requests are read and written only by the mailbox: the commands are imported
    # there, not by every front end that reads plans and tasks.
    from switchover.domain.commands import Command, ControlRequest, Outcome

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
    "with_seq",
]

_R = TypeVar("_R")

# msgspec's encoder writes the same compact JSON as ``json.dumps(separators=(",", ":"),
# ensure_ascii=False)`` five to seven times faster, and every stage boundary encodes a task row
# and its events (section 11 of bench/RESULTS.md).
_ENCODE = msgspec.json.Encoder().encode
_FAST_DECODE = msgspec.json.decode  # about twice json's speed: status and events read many rows
_DECODE = json.JSONDecoder().decode


def dumps(data: Mapping[str, Any]) -> str:
    """Serialise a JSON-safe mapping compactly.

    Args:
        data: the mapping, as produced by one of the ``*_to_dict`` functions.

    Returns:
        Compact JSON text (UTF-8 characters kept as they are).

    Raises:
        StoreError: ``data`` holds something JSON cannot represent.
    """
    try:
        return _ENCODE(data).decode()
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise StoreError(f"cannot encode record as JSON: {exc}") from exc


def loads(text: str | bytes) -> dict[str, Any]:
    """Parse JSON text that must hold an object.

    Raises:
        StoreError: the text is not valid JSON or not a JSON object.
    """
    try:
        data = _FAST_DECODE(text)
    except msgspec.DecodeError:  # what json reads and msgspec does not (e.g. ints over 64 bits)
        try:
            data = _DECODE(text if isinstance(text, str) else text.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise StoreError(f"stored record is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreError(f"stored record is not a JSON object: {type(data).__name__}")
    return data


def _decoding(kind: str, build: Callable[[Mapping[str, Any]], _R], data: Mapping[str, Any]) -> _R:
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(f"stored {kind} record is malformed: {exc!r}") from exc


# -- configs, failures, checkpoints -------------------------------------------------------


def endpoint_to_dict(endpoint: NetworkEndpoint) -> dict[str, Any]:
    """JSON-safe form of a network endpoint."""
    return {
        "key": endpoint.key,
        "source_ip": endpoint.source_ip,
        "source_domain": endpoint.source_domain,
        "target_ip": endpoint.target_ip,
        "target_domain": endpoint.target_domain,
    }


def _build_endpoint(data: Mapping[str, Any]) -> NetworkEndpoint:
    return NetworkEndpoint(
        key=str(data["key"]),
        source_ip=data.get("source_ip"),
        source_domain=data.get("source_domain"),
        target_ip=data.get("target_ip"),
        target_domain=data.get("target_domain"),
    )


def config_to_dict(config: TenantConfig) -> dict[str, Any]:
    """JSON-safe form of a tenant config, as stored and shown."""
    return {
        "tenant_id": config.tenant_id,
        "plan_id": config.plan_id,
        "plan_version": config.plan_version,
        "deploy_unit_id": config.deploy_unit_id,
        "deploy_unit_version": config.deploy_unit_version,
        "deploy_unit_name": config.deploy_unit_name,
        "network_endpoints": [endpoint_to_dict(e) for e in config.network_endpoints],
        "nacos_namespace": config.nacos_namespace,
        "called_number_rules": list(config.called_number_rules),
        "trunk_group": config.trunk_group,
        "default_flag": config.default_flag,
    }


def _build_config(data: Mapping[str, Any]) -> TenantConfig:
    return TenantConfig(
        tenant_id=str(data["tenant_id"]),
        plan_id=str(data["plan_id"]),
        plan_version=int(data["plan_version"]),
        deploy_unit_id=data.get("deploy_unit_id"),
        deploy_unit_version=data.get("deploy_unit_version"),
        deploy_unit_name=data.get("deploy_unit_name"),
        network_endpoints=tuple(_build_endpoint(e) for e in data.get("network_endpoints") or ()),
        nacos_namespace=data.get("nacos_namespace"),
        called_number_rules=tuple(data.get("called_number_rules") or ()),
        trunk_group=data.get("trunk_group"),
        default_flag=data.get("default_flag"),
    )


def config_from_dict(data: Mapping[str, Any]) -> TenantConfig:
    """Inverse of ``config_to_dict``.

    Raises:
        StoreError: ``data`` is not a valid config record.
    """
    return _decoding("config", _build_config, data)


def failure_to_dict(failure: FailureInfo) -> dict[str, Any]:
    """JSON-safe form of a failure, as stored and shown."""
    return {
        "error_type": failure.error_type.value,
        "message": failure.message,
        "stage": failure.stage,
        "step": failure.step,
        "retryable": failure.retryable,
        "details": dict(failure.details),
    }


def _build_failure(data: Mapping[str, Any]) -> FailureInfo:
    return FailureInfo(
        error_type=ErrorType(data["error_type"]),
        message=str(data["message"]),
        stage=data.get("stage"),
        step=data.get("step"),
        retryable=bool(data.get("retryable", False)),
        details=dict(data.get("details") or {}),
    )


def failure_from_dict(data: Mapping[str, Any]) -> FailureInfo:
    """Inverse of ``failure_to_dict``.

    Raises:
        StoreError: ``data`` is not a valid failure record.
    """
    return _decoding("failure", _build_failure, data)


def checkpoint_to_dict(checkpoint: Checkpoint) -> dict[str, Any]:
    """JSON-safe form of a checkpoint."""
    return {
        "mode": checkpoint.mode.value,
        "last_stage": checkpoint.last_stage,
        "completed": list(checkpoint.completed),
        "at": checkpoint.at,
    }


def _build_checkpoint(data: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint(
        mode=ExecutionMode(data["mode"]),
        last_stage=int(data["last_stage"]),
        completed=tuple(data["completed"]),
        at=float(data["at"]),
    )


def checkpoint_from_dict(data: Mapping[str, Any]) -> Checkpoint:
    """Inverse of ``checkpoint_to_dict``.

    Raises:
        StoreError: ``data`` is not a valid checkpoint record.
    """
    return _decoding("checkpoint", _build_checkpoint, data)


# -- plans -----------------------------------------------------------------------------------


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """JSON-safe form of a plan."""
    return {
        "plan_id": plan.plan_id,
        "version": plan.version,
        "max_concurrency": plan.max_concurrency,
        "status": plan.status.value,
        "task_count": plan.task_count,
        "created_at": plan.created_at,
        "updated_at": plan.updated_at,
        "operator_paused": plan.operator_paused,
        "binding": dict(plan.binding),
        "settings_file": plan.settings_file,
        "created_by": plan.created_by,
        "reason": plan.reason,
        "policy": policy_to_dict(plan.policy) if plan.policy is not None else None,
        "rollout": rollout_to_dict(plan.rollout),
    }


def _build_plan(data: Mapping[str, Any]) -> Plan:
    return Plan(
        plan_id=str(data["plan_id"]),
        version=int(data["version"]),
        max_concurrency=int(data["max_concurrency"]),
        status=PlanStatus(data["status"]),
        task_count=int(data["task_count"]),
        created_at=float(data["created_at"]),
        updated_at=float(data["updated_at"]),
        operator_paused=bool(data.get("operator_paused", False)),
        binding={str(k): str(v) for k, v in (data.get("binding") or {}).items()},
        settings_file=str(file) if (file := data.get("settings_file")) is not None else None,
        created_by=str(by) if (by := data.get("created_by")) is not None else None,
        reason=str(why) if (why := data.get("reason")) is not None else None,
        policy=_build_policy(policy) if (policy := data.get("policy")) else None,
        rollout=_build_rollout(data.get("rollout") or {}),
    )


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """JSON-safe form of a rollout policy (waves as cumulative ends)."""
    budget = policy.budget
    return {
        "waves": [
            {"end": w.end, "approval": w.approval, "budget": _budget_dict(w.budget)}
            for w in policy.waves
        ],
        "bake": policy.bake,
        "budget": _budget_dict(budget),
        "auto_rollback": policy.auto_rollback,
        "stage_deadline": policy.stage_deadline,
        "task_deadline": policy.task_deadline,
    }


def _budget_dict(budget: Budget | None) -> dict[str, Any] | None:
    if budget is None:
        return None
    return {"max_failed": budget.max_failed, "max_failed_ratio": budget.max_failed_ratio}


def _build_budget(data: Mapping[str, Any] | None) -> Budget | None:
    if not data:
        return None
    return Budget(
        int(m) if (m := data.get("max_failed")) is not None else None,
        float(r) if (r := data.get("max_failed_ratio")) is not None else None,
    )


def _build_policy(data: Mapping[str, Any]) -> Policy:
    return Policy(
        waves=tuple(
            Wave(int(w["end"]), bool(w.get("approval", False)), _build_budget(w.get("budget")))
            for w in data.get("waves") or ()
        ),
        bake=float(data.get("bake") or 0.0),
        budget=_build_budget(data.get("budget")),
        auto_rollback=bool(data.get("auto_rollback", False)),
        stage_deadline=float(d) if (d := data.get("stage_deadline")) is not None else None,
        task_deadline=float(t) if (t := data.get("task_deadline")) is not None else None,
    )


def rollout_to_dict(rollout: Rollout) -> dict[str, Any]:
    """JSON-safe form of where a plan's rollout stands."""
    gate = rollout.gate
    return {
        "wave": rollout.wave,
        "gate": (
            {
                "kind": gate.kind.value,
                "wave": gate.wave,
                "since": gate.since,
                "until": gate.until,
                "failures_at": gate.failures_at,
            }
            if gate is not None
            else None
        ),
        "failures": rollout.failures,
        "halted": rollout.halted,
        "overridden": rollout.overridden,
        "failed_by": dict(rollout.failed_by),
        "wave_failures": {str(k): v for k, v in rollout.wave_failures.items()},
    }


def _build_rollout(data: Mapping[str, Any]) -> Rollout:
    gate = data.get("gate")
    return Rollout(
        wave=int(data.get("wave", 0)),
        gate=(
            Gate(
                GateKind(gate["kind"]),
                int(gate["wave"]),
                float(gate["since"]),
                float(until) if (until := gate.get("until")) is not None else None,
                int(gate.get("failures_at", 0)),
            )
            if gate
            else None
        ),
        failures=int(data.get("failures", 0)),
        halted=str(halted) if (halted := data.get("halted")) is not None else None,
        overridden=bool(data.get("overridden", False)),
        failed_by={str(k): int(v) for k, v in (data.get("failed_by") or {}).items()},
        wave_failures={int(k): int(v) for k, v in (data.get("wave_failures") or {}).items()},
    )


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """Inverse of ``plan_to_dict``.

    Raises:
        StoreError: ``data`` is not a valid plan record.
    """
    return _decoding("plan", _build_plan, data)


# -- tasks -----------------------------------------------------------------------------------


def task_run_to_dict(task: Task) -> dict[str, Any]:
    """JSON-safe form of a task's run: every field except the two configs.

    This is what a store writes at every stage boundary; the configs are written once, at
    creation (``task_configs_to_dict``).
    """
    checkpoint = task.checkpoint
    failure = task.failure
    requested = task.requested
    return {
        "task_id": task.task_id,
        "plan_id": task.plan_id,
        "tenant_id": task.tenant_id,
        "position": task.position,
        "status": task.status.value,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "mode": task.mode.value,
        "stages": list(task.stages),
        "checkpoint": checkpoint_to_dict(checkpoint) if checkpoint is not None else None,
        "retry_count": task.retry_count,
        "version_override": task.version_override,
        "failure": failure_to_dict(failure) if failure is not None else None,
        "requested": requested.value if requested is not None else None,
        "current_stage": task.current_stage,
        "waiting_for": task.waiting_for,
    }


def task_configs_to_dict(task: Task) -> dict[str, Any]:
    """JSON-safe form of a task's two configs, fixed when the task is created."""
    previous = task.previous
    return {
        "config": config_to_dict(task.config),
        "previous": config_to_dict(previous) if previous is not None else None,
    }


def task_to_dict(task: Task) -> dict[str, Any]:
    """JSON-safe form of a whole task: configs, run, checkpoint, failure, request."""
    data = task_run_to_dict(task)
    data.update(task_configs_to_dict(task))
    return data


def _build_task(data: Mapping[str, Any]) -> Task:
    previous = data.get("previous")
    checkpoint = data.get("checkpoint")
    failure = data.get("failure")
    requested = data.get("requested")
    version_override = data.get("version_override")
    current_stage = data.get("current_stage")
    return Task(
        task_id=str(data["task_id"]),
        plan_id=str(data["plan_id"]),
        tenant_id=str(data["tenant_id"]),
        position=int(data["position"]),
        config=_build_config(data["config"]),
        previous=_build_config(previous) if previous is not None else None,
        status=TaskStatus(data["status"]),
        created_at=float(data["created_at"]),
        updated_at=float(data["updated_at"]),
        mode=ExecutionMode(data.get("mode", ExecutionMode.NORMAL.value)),
        stages=tuple(str(name) for name in data.get("stages") or ()),
        checkpoint=_build_checkpoint(checkpoint) if checkpoint is not None else None,
        retry_count=int(data.get("retry_count", 0)),
        version_override=int(version_override) if version_override is not None else None,
        failure=_build_failure(failure) if failure is not None else None,
        requested=BoundaryRequest(requested) if requested is not None else None,
        current_stage=str(current_stage) if current_stage is not None else None,
        waiting_for=str(waiting) if (waiting := data.get("waiting_for")) is not None else None,
    )


def task_from_dict(data: Mapping[str, Any]) -> Task:
    """Inverse of ``task_to_dict`` (and of ``task_run_to_dict`` merged with
    ``task_configs_to_dict``).

    Raises:
        StoreError: ``data`` is not a valid task record.
    """
    return _decoding("task", _build_task, data)


# -- events ----------------------------------------------------------------------------------


def event_to_dict(event: Event) -> dict[str, Any]:
    """JSON-safe form of an event, as stored (``views.event_json`` is what users see)."""
    failure = event.failure
    return {
        "seq": event.seq,
        "plan_id": event.plan_id,
        "type": event.type.value,
        "at": event.at,
        "task_id": event.task_id,
        "tenant_id": event.tenant_id,
        "status": event.status,
        "stage": event.stage,
        "failure": failure_to_dict(failure) if failure is not None else None,
        "data": dict(event.data),
    }


def _build_event(data: Mapping[str, Any]) -> Event:
    failure = data.get("failure")
    return Event(
        seq=int(data.get("seq", 0)),
        plan_id=str(data["plan_id"]),
        type=EventType(data["type"]),
        at=float(data["at"]),
        task_id=data.get("task_id"),
        tenant_id=data.get("tenant_id"),
        status=data.get("status"),
        stage=data.get("stage"),
        failure=_build_failure(failure) if failure else None,
        data=dict(data.get("data") or {}),
    )


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """Inverse of ``event_to_dict``.

    Raises:
        StoreError: ``data`` is not a valid event record.
    """
    return _decoding("event", _build_event, data)


_EVENT_VALUES = attrgetter(*(field.name for field in fields(Event)))
_SEQ_INDEX = [field.name for field in fields(Event)].index("seq")


def with_seq(event: Event, seq: int) -> Event:
    """A copy of ``event`` numbered ``seq``.

    Same result as ``dataclasses.replace(event, seq=seq)`` at half the cost, which matters
    because a store numbers every event it writes.
    """
    values = list(_EVENT_VALUES(event))
    values[_SEQ_INDEX] = seq
    return Event(*values)


# -- control requests ------------------------------------------------------------------------


def command_to_dict(command: Command) -> dict[str, Any]:
    """JSON-safe form of a command: its verb, target, actor, reason and options."""
    from switchover.domain.commands import (
        Cancel,
        Pause,
        Promote,
        Resume,
        Retry,
        Rollback,
        SubmitPlan,
        command_name,
    )

    data: dict[str, Any] = {
        "command": command_name(command),
        "target": {"kind": command.target.kind.value, "key": command.target.key},
        "actor": command.actor,
        "reason": command.reason,
    }
    match command:
        case Retry(from_checkpoint=from_checkpoint, force=force):
            data["from_checkpoint"] = from_checkpoint
            data["force"] = force
        case Rollback(version=version, from_checkpoint=from_checkpoint, force=force):
            data["version"] = version
            data["from_checkpoint"] = from_checkpoint
            data["force"] = force
        case SubmitPlan() | Pause() | Resume() | Cancel() | Promote():
            pass
    return data


def _build_command(data: Mapping[str, Any]) -> Command:
    from switchover.domain.commands import COMMAND_TYPES, Retry, Rollback

    kind = COMMAND_TYPES[str(data["command"])]
    target = data["target"]
    common: dict[str, Any] = {
        "target": Target(TargetKind(target["kind"]), str(target["key"])),
        "actor": str(data["actor"]),
        "reason": str(data["reason"]) if data.get("reason") is not None else None,
    }
    if kind is Retry:
        return Retry(
            **common,
            from_checkpoint=bool(data.get("from_checkpoint")),
            force=bool(data.get("force")),
        )
    if kind is Rollback:
        version = data.get("version")
        return Rollback(
            **common,
            version=int(version) if version is not None else None,
            from_checkpoint=bool(data.get("from_checkpoint")),
            force=bool(data.get("force")),
        )
    return kind(**common)


def command_from_dict(data: Mapping[str, Any]) -> Command:
    """Inverse of ``command_to_dict``.

    Raises:
        StoreError: ``data`` is not a valid command.
    """
    return _decoding("command", _build_command, data)


def outcome_to_dict(outcome: Outcome) -> dict[str, Any]:
    """JSON-safe form of what became of a command."""
    from switchover.domain.commands import Accepted

    if isinstance(outcome, Accepted):
        return {
            "ok": True,
            "plan_id": outcome.plan_id,
            "task_ids": list(outcome.task_ids),
            "message": outcome.message,
        }
    return {
        "ok": False,
        "error_type": outcome.error_type.value,
        "message": outcome.message,
        "task_id": outcome.task_id,
        "tenant_id": outcome.tenant_id,
        "status": outcome.status,
        "kind": outcome.kind,
        "key": outcome.key,
    }


def _build_outcome(data: Mapping[str, Any]) -> Outcome:
    from switchover.domain.commands import Accepted, Refused

    if data["ok"]:
        return Accepted(
            plan_id=str(data["plan_id"]),
            task_ids=tuple(str(t) for t in data["task_ids"]),
            message=str(data["message"]),
        )

    def text(key: str) -> str | None:
        value = data.get(key)
        return str(value) if value is not None else None

    return Refused(
        error_type=ErrorType(data["error_type"]),
        message=str(data["message"]),
        task_id=text("task_id"),
        tenant_id=text("tenant_id"),
        status=text("status"),
        kind=text("kind"),
        key=text("key"),
    )


def outcome_from_dict(data: Mapping[str, Any]) -> Outcome:
    """Inverse of ``outcome_to_dict``.

    Raises:
        StoreError: ``data`` is not a valid outcome.
    """
    return _decoding("outcome", _build_outcome, data)


def control_to_dict(request: ControlRequest) -> dict[str, Any]:
    """JSON-safe form of a control request (``outcome`` None while pending)."""
    outcome = request.outcome
    return {
        "control_id": request.control_id,
        "command": command_to_dict(request.command),
        "created_at": request.created_at,
        "outcome": outcome_to_dict(outcome) if outcome is not None else None,
    }


def _build_control(data: Mapping[str, Any]) -> ControlRequest:
    from switchover.domain.commands import ControlRequest

    outcome = data.get("outcome")
    return ControlRequest(
        control_id=str(data["control_id"]),
        command=_build_command(data["command"]),
        created_at=float(data["created_at"]),
        outcome=_build_outcome(outcome) if outcome is not None else None,
    )


def control_from_dict(data: Mapping[str, Any]) -> ControlRequest:
    """Inverse of ``control_to_dict``.

    Raises:
        StoreError: ``data`` is not a valid control request record.
    """
    return _decoding("control request", _build_control, data)


# -- lease -----------------------------------------------------------------------------------


def lease_to_dict(lease: Lease) -> dict[str, Any]:
    """JSON-safe form of the engine lease."""
    return {
        "owner": lease.owner,
        "host": lease.host,
        "pid": lease.pid,
        "expires_at": lease.expires_at,
        "extra": dict(lease.extra),
        "epoch": lease.epoch,
    }


def _build_lease(data: Mapping[str, Any]) -> Lease:
    return Lease(
        owner=str(data["owner"]),
        host=str(data["host"]),
        pid=int(data["pid"]),
        expires_at=float(data["expires_at"]),
        extra=dict(data.get("extra") or {}),
        epoch=int(data.get("epoch", 0)),
    )


def lease_from_dict(data: Mapping[str, Any]) -> Lease:
    """Inverse of ``lease_to_dict``.

    Raises:
        StoreError: ``data`` is not a valid lease record.
    """
    return _decoding("lease", _build_lease, data)


# -- text shortcuts --------------------------------------------------------------------------


def encode_plan(plan: Plan) -> str:
    """Plan as JSON text."""
    return dumps(plan_to_dict(plan))


def decode_plan(text: str | bytes) -> Plan:
    """Plan from JSON text (raises StoreError when malformed)."""
    return plan_from_dict(loads(text))


def encode_task_run(task: Task) -> str:
    """A task's run (``task_run_to_dict``) as JSON text: what each stage boundary writes."""
    return dumps(task_run_to_dict(task))


def encode_task_configs(task: Task) -> str:
    """A task's configs (``task_configs_to_dict``) as JSON text, written once at creation."""
    return dumps(task_configs_to_dict(task))


def decode_task(run: str | bytes, configs: str | bytes) -> Task:
    """One task from its run text and its configs text (raises StoreError when malformed)."""
    data = loads(configs)
    data.update(loads(run))
    return task_from_dict(data)


def encode_event(event: Event) -> str:
    """Event as JSON text, its ``seq`` included."""
    return dumps(event_to_dict(event))


def decode_event(text: str | bytes) -> Event:
    """Event from JSON text (raises StoreError when malformed)."""
    return event_from_dict(loads(text))


def encode_control(request: ControlRequest) -> str:
    """Control request as JSON text."""
    return dumps(control_to_dict(request))


def decode_control(text: str | bytes) -> ControlRequest:
    """Control request from JSON text (raises StoreError when malformed)."""
    return control_from_dict(loads(text))


def encode_lease(lease: Lease) -> str:
    """Lease as JSON text."""
    return dumps(lease_to_dict(lease))


def decode_lease(text: str | bytes) -> Lease:
    """Lease from JSON text (raises StoreError when malformed)."""
    return lease_from_dict(loads(text))
