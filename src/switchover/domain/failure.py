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
