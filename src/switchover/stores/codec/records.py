"""Records as JSON-safe data and back: configs, failures, checkpoints, plans, tasks, events.

A task is written as two texts: its configs once at creation (``task_configs_to_dict``) and
its run at every stage boundary (``task_run_to_dict``), which is what the boundary costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.events import Event, EventType
from switchover.domain.failure import FailureInfo
from switchover.domain.records import BoundaryRequest, Checkpoint, Plan, Task
from switchover.domain.rollout import Budget, Gate, GateKind, Policy, Rollout, Wave
from switchover.domain.status import ExecutionMode, PlanStatus, TaskStatus
from switchover.errors import ErrorType
from switchover.stores.codec.text import decoding, dumps, loads


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
    return decoding("config", _build_config, data)


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
    return decoding("failure", _build_failure, data)


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
    return decoding("checkpoint", _build_checkpoint, data)


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
    return decoding("plan", _build_plan, data)


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
    return decoding("task", _build_task, data)


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
    return decoding("event", _build_event, data)


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
