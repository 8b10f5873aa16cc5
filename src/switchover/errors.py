"""The exception tree and error taxonomy of switchover (a leaf module: imports nothing of ours)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import msgspec


class ErrorType(StrEnum):
    """What kind of failure happened; persisted in FailureInfo, never renamed."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    CONFLICT = "CONFLICT"
    TENANT_BUSY = "TENANT_BUSY"
    INVALID_STATE = "INVALID_STATE"
    NOT_FOUND = "NOT_FOUND"
    NETWORK_ERROR = "NETWORK_ERROR"
    TIMEOUT_ERROR = "TIMEOUT_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    BUSINESS_ERROR = "BUSINESS_ERROR"
    HEALTH_CHECK_FAILED = "HEALTH_CHECK_FAILED"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    ROLLBACK_PRECONDITION_FAILED = "ROLLBACK_PRECONDITION_FAILED"
    ROLLBACK_HEALTH_CHECK_FAILED = "ROLLBACK_HEALTH_CHECK_FAILED"
    ROLLBACK_PARTIAL_FAILED = "ROLLBACK_PARTIAL_FAILED"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"


class SwitchoverError(Exception):
    """Root of every error switchover raises on purpose."""

    error_type: ErrorType = ErrorType.SYSTEM_ERROR


class ValidationIssue(msgspec.Struct, frozen=True):
    """One problem in a plan file: which tenant (None: the plan), which field, what is wrong."""

    tenant: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"tenant {self.tenant}" if self.tenant is not None else "plan"
        return f"{where}: {self.field}: {self.message}"


class PlanValidationError(SwitchoverError, ValueError):
    """A plan file has one or more problems; ``issues`` lists every one of them."""

    error_type = ErrorType.VALIDATION_ERROR

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        self.issues = tuple(issues)
        count = len(self.issues)
        head = f"plan is invalid ({count} problem{'s' if count != 1 else ''})"
        super().__init__("\n".join([head, *(f"  {issue}" for issue in self.issues)]))


class SettingsError(SwitchoverError, ValueError):
    """The settings file or environment is invalid."""

    error_type = ErrorType.VALIDATION_ERROR


class NotFoundError(SwitchoverError, LookupError):
    """A plan, task or tenant the caller named does not exist.

    ``suggestions`` are existing ids close to ``key`` (at most a few, best first), named in
    the message: ``tenant 't-0O42' not found; did you mean t-0042?``.
    """

    error_type = ErrorType.NOT_FOUND

    def __init__(self, kind: str, key: str, suggestions: Sequence[str] = ()) -> None:
        self.kind = kind
        self.key = key
        self.suggestions = tuple(suggestions)
        message = f"{kind} {key!r} not found"
        if self.suggestions:
            *rest, last = self.suggestions
            either = f"{', '.join(rest)} or {last}" if rest else last
            message += f"; did you mean {either}?"
        super().__init__(message)


class ConflictError(SwitchoverError):
    """The request collides with existing state (e.g. a plan id already submitted)."""

    error_type = ErrorType.CONFLICT


class InvalidTransitionError(SwitchoverError):
    """A status change that the transition table does not allow."""

    error_type = ErrorType.INVALID_STATE

    def __init__(self, entity: str, key: str, current: str, requested: str) -> None:
        self.entity = entity
        self.key = key
        self.current = current
        self.requested = requested
        super().__init__(f"{entity} {key} is {current}; it cannot become {requested}")


class OperationRefusedError(SwitchoverError):
    """An operator request refused before anything changed; ``error_type`` says why."""

    def __init__(
        self,
        error_type: ErrorType,
        message: str,
        *,
        task_id: str | None = None,
        tenant_id: str | None = None,
        status: str | None = None,
    ) -> None:
        self.error_type = error_type
        self.task_id = task_id
        self.tenant_id = tenant_id
        self.status = status
        super().__init__(message)


class StepFailedError(SwitchoverError):
    """Raised by a step when it fails; the runner turns it into a FailureInfo."""

    def __init__(
        self,
        error_type: ErrorType,
        message: str,
        *,
        retryable: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.error_type = error_type
        self.retryable = retryable
        self.details: Mapping[str, Any] = dict(details or {})
        super().__init__(message)


class TransientError(StepFailedError):
    """A failure worth retrying with backoff: connection refused, timeout, service unavailable."""

    def __init__(
        self,
        error_type: ErrorType,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(error_type, message, retryable=True, details=details)


class StoreError(SwitchoverError):
    """The state store failed (I/O, corruption, schema mismatch)."""


class EngineBusyError(SwitchoverError):
    """Another live engine process owns this store's work."""

    error_type = ErrorType.CONFLICT

    def __init__(self, owner: str, host: str, pid: int) -> None:
        self.owner = owner
        self.host = host
        self.pid = pid
        super().__init__(f"another engine (pid {pid} on {host}) is running on this store")


class LeaseLostError(SwitchoverError):
    """This engine no longer holds the store's lease: another engine took it over.

    Raised by the store for a commit whose lease epoch is no longer current, and by the engine
    when it finds its lease gone; the deposed engine stops at once and writes nothing more.
    """

    error_type = ErrorType.CONFLICT


class EngineStoppedError(SwitchoverError):
    """The engine stopped (or was never started) while work was requested of it."""

    error_type = ErrorType.SERVICE_UNAVAILABLE


class EngineUnavailableError(SwitchoverError):
    """No engine could be reached or started for the request (e.g. a control request timed out)."""

    error_type = ErrorType.SERVICE_UNAVAILABLE
