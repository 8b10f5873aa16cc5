"""FailureInfo: the structured account of why a task, stage or step failed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from switchover.errors import ErrorType


class FailureInfo(msgspec.Struct, frozen=True):
    """Why something failed: type, message, where (stage/step), retryable, and details.

    ``details`` holds JSON-safe data such as per-instance verify results or, for a partial
    rollback failure, the per-stage list of what succeeded and what failed.
    """

    error_type: ErrorType
    message: str
    stage: str | None = None
    step: str | None = None
    retryable: bool = False
    details: Mapping[str, Any] = msgspec.field(default_factory=dict)
