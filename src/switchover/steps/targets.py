"""What a target holds now for a tenant: the version its Redis record says is current.

Operations read it to refuse a rollback onto a tenant that something else has moved since
(drift); plans read it for their preflight and dry-run diff.
"""

from __future__ import annotations

from typing import Protocol


class TargetState(Protocol):
    """Reads of the tenants' current state in the targets."""

    async def current_version(self, tenant_id: str) -> int | None:
        """The version the tenant's record holds (``metadata.version``); None: no record.

        Raises:
            TransientError, StepFailedError: the target cannot be read.
        """
        ...


class UnknownTargetState:
    """For engines whose steps write to no shared target (tests): nothing is known."""

    async def current_version(self, tenant_id: str) -> int | None:
        """Always None."""
        return None
