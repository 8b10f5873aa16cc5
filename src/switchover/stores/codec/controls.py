"""The control mailbox's records and the engine lease as JSON-safe data and back.

The command records are imported inside the functions: only the mailbox reads and writes
control requests, and every front end that reads plans and tasks would otherwise load them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from switchover.domain.records import Lease, Target, TargetKind
from switchover.errors import ErrorType
from switchover.stores.codec.text import decoding, dumps, loads

if TYPE_CHECKING:
    from switchover.domain.commands import Command, ControlRequest, Outcome


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
    return decoding("command", _build_command, data)


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
    return decoding("outcome", _build_outcome, data)


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
    return decoding("control request", _build_control, data)


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
    return decoding("lease", _build_lease, data)


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
