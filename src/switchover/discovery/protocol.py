"""The Discovery protocol: which instances of a service a step talks to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DiscoveryQuery:
    """Instances of ``service_key`` (one of ``settings.SERVICE_KEYS``) in a tenant's namespace."""

    service_key: str
    namespace: str | None = None


class Discovery(Protocol):
    """Looks up instances as ``host:port`` strings."""

    async def instances(self, query: DiscoveryQuery) -> list[str]:
        """Every usable instance of the service.

        Raises:
            StepFailedError: no instance can be found (SERVICE_UNAVAILABLE, with the service
                key and where it looked).
        """
        ...
