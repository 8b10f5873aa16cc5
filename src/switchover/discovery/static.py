"""Static discovery: the instances listed per service key in ``settings.discovery``."""

from __future__ import annotations

from switchover.discovery.protocol import DiscoveryQuery
from switchover.errors import ErrorType, StepFailedError
from switchover.settings import Settings


class StaticDiscovery:
    """Instances from ``settings.discovery.fallback_instances``; the namespace is ignored."""

    def __init__(self, settings: Settings) -> None:
        """Keep the configured lists.

        Args:
            settings: ``discovery.fallback_instances`` maps a service key to ``host:port`` items.
        """
        self._instances = {
            key: tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
            for key, items in settings.discovery.fallback_instances.items()
        }

    def configured(self, service_key: str) -> list[str]:
        """The configured instances of ``service_key``, possibly none (never raises)."""
        return list(self._instances.get(service_key, ()))

    async def instances(self, query: DiscoveryQuery) -> list[str]:
        """The configured instances of ``query.service_key``.

        Raises:
            StepFailedError: none are configured (SERVICE_UNAVAILABLE).
        """
        found = self.configured(query.service_key)
        if not found:
            raise StepFailedError(
                ErrorType.SERVICE_UNAVAILABLE,
                f"no instances of {query.service_key}: none are configured in "
                f"discovery.fallback_instances.{query.service_key}",
                details={"service_key": query.service_key, "namespace": query.namespace},
            )
        return found
