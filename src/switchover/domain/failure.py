"""FailureInfo: the structured account of why a task, stage or step failed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from switchover.errors import ErrorType


@dataclass(frozen=True, slots=True)
class FailureInfo:
    """Why something failed: type, message, where (stage/step), retryable, and details.

    ``details`` holds JSON-safe data such as per-instance verify results or, for a partial
    rollback failure, the per-stage list of what succeeded and what failed.
    """

    error_type: ErrorType
    message: str
    stage: str | None = None
    step: str | None = None
    retryable: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as stored and shown."""
        return {
            "error_type": self.error_type.value,
            "message": self.message,
            "stage": self.stage,
            "step": self.step,
            "retryable": self.retryable,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailureInfo:
        """Inverse of ``to_dict``."""
        return cls(
            error_type=ErrorType(data["error_type"]),
            message=str(data["message"]),
            stage=data.get("stage"),
            step=data.get("step"),
            retryable=bool(data.get("retryable", False)),
            details=dict(data.get("details") or {}),
        )
