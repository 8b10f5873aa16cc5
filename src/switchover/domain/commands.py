"""Operator commands and their outcomes: what every front end asks of the engine, typed.

A command names its target and who asked (``actor``, with an optional ``reason``) for the
audit trail. ``Engine.perform`` is the one place that dispatches on them; the control mailbox
stores them (and their outcomes) through the codec, so a command sent by another process is
the same object when the engine performs it.
"""

from __future__ import annotations

import msgspec

from switchover.domain.records import Target
from switchover.errors import (
    EngineUnavailableError,
    ErrorType,
    NotFoundError,
    OperationRefusedError,
    SwitchoverError,
)

DEFAULT_ACTOR = "cli"
"""Who a command is attributed to when the front end does not say."""


class _Command(msgspec.Struct, frozen=True, kw_only=True):
    target: Target
    actor: str = DEFAULT_ACTOR
    reason: str | None = None


class SubmitPlan(_Command, frozen=True, kw_only=True):
    """Run a plan another process created in the store (its target is the plan)."""


class Pause(_Command, frozen=True, kw_only=True):
    """Pause a task at its next stage boundary, or a plan (stop admitting, pause running)."""


class Resume(_Command, frozen=True, kw_only=True):
    """Resume a paused task or plan; continue a task an engine left executing."""


class Cancel(_Command, frozen=True, kw_only=True):
    """Cancel a task (at its next stage boundary when running) or a plan."""


class Promote(_Command, frozen=True, kw_only=True):
    """Let a plan waiting between waves go on: approve the next wave (and skip a bake)."""


class Retry(_Command, frozen=True, kw_only=True):
    """Run a FAILED task again, from its checkpoint or from the first stage.

    ``force``: even when a newer task has switched the tenant since."""

    from_checkpoint: bool = False
    force: bool = False


class Rollback(_Command, frozen=True, kw_only=True):
    """Re-run a task's stages with its previous config (``version``: write this one instead).

    ``force``: even when a newer task has switched the tenant since, or the tenant's record
    holds a version that is neither this task's nor its previous config's (drift)."""

    version: int | None = None
    from_checkpoint: bool = False
    force: bool = False


Command = SubmitPlan | Pause | Resume | Cancel | Retry | Rollback | Promote
"""Every command the engine performs."""

QueuedCommand = Resume | Retry | Rollback
"""The commands that start a run, and so wait for a plan slot once accepted."""

COMMAND_NAMES: dict[type[Command], str] = {
    SubmitPlan: "submit",
    Pause: "pause",
    Resume: "resume",
    Cancel: "cancel",
    Retry: "retry",
    Rollback: "rollback",
    Promote: "promote",
}
"""The verb of each command, as front ends and the codec spell it."""
COMMAND_TYPES: dict[str, type[Command]] = {name: kind for kind, name in COMMAND_NAMES.items()}
"""The command of each verb."""


def command_name(command: Command) -> str:
    """The command's verb, e.g. ``rollback``."""
    return COMMAND_NAMES[type(command)]


class Accepted(msgspec.Struct, frozen=True):
    """A command the engine accepted: the plan and tasks it concerns, and what it did."""

    plan_id: str
    task_ids: tuple[str, ...]
    message: str


class Refused(msgspec.Struct, frozen=True):
    """A command the engine refused; nothing changed. Carries what the refusal named."""

    error_type: ErrorType
    message: str
    task_id: str | None = None
    tenant_id: str | None = None
    status: str | None = None
    kind: str | None = None
    """For NOT_FOUND: what was not found (plan, task, tenant) and its ``key``."""
    key: str | None = None


Outcome = Accepted | Refused
"""What became of a command."""

REFUSALS = frozenset(
    {
        ErrorType.NOT_FOUND,
        ErrorType.INVALID_STATE,
        ErrorType.TENANT_BUSY,
        ErrorType.CONFLICT,
        ErrorType.ROLLBACK_PRECONDITION_FAILED,
        ErrorType.VALIDATION_ERROR,
    }
)
"""Error types that mean "refused, nothing changed" (anything else: the engine failed)."""


def refusal(exc: SwitchoverError) -> Refused:
    """The outcome of a command that failed with ``exc``."""
    if isinstance(exc, NotFoundError):
        return Refused(ErrorType.NOT_FOUND, str(exc), kind=exc.kind, key=exc.key)
    if isinstance(exc, OperationRefusedError):
        return Refused(
            exc.error_type,
            str(exc),
            task_id=exc.task_id,
            tenant_id=exc.tenant_id,
            status=exc.status,
        )
    return Refused(exc.error_type, str(exc))


def refusal_error(refused: Refused) -> SwitchoverError:
    """The exception a caller of the Python API gets for ``refused``."""
    if refused.error_type is ErrorType.NOT_FOUND and refused.kind and refused.key is not None:
        return NotFoundError(refused.kind, refused.key)
    if refused.error_type in REFUSALS:
        return OperationRefusedError(
            refused.error_type,
            refused.message,
            task_id=refused.task_id,
            tenant_id=refused.tenant_id,
            status=refused.status,
        )
    return EngineUnavailableError(refused.message)


def accepted_or_raise(outcome: Outcome) -> Accepted:
    """``outcome`` when accepted.

    Raises:
        NotFoundError, OperationRefusedError: refused; nothing changed.
        EngineUnavailableError: the engine could not perform it.
    """
    if isinstance(outcome, Refused):
        raise refusal_error(outcome)
    return outcome


class ControlRequest(msgspec.Struct, frozen=True):
    """A command written to the store for the live engine to perform (the control mailbox).

    ``outcome`` is None while pending, and what became of the command once performed.
    """

    control_id: str
    command: Command
    created_at: float
    outcome: Outcome | None = None
