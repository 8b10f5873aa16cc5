"""Local fleet: loopback HTTP look-alikes of the platform's services, and redis-server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchover._lazy import lazy_exports

if TYPE_CHECKING:
    from switchover.fleet.fleet import Fleet, FleetReport
    from switchover.fleet.instances import AsbcInstance, ConfigInstance, Faults, PortalInstance
    from switchover.fleet.redis_server import RedisServer

_EXPORTS = {
    "Fleet": "switchover.fleet.fleet",
    "FleetReport": "switchover.fleet.fleet",
    "AsbcInstance": "switchover.fleet.instances",
    "ConfigInstance": "switchover.fleet.instances",
    "Faults": "switchover.fleet.instances",
    "PortalInstance": "switchover.fleet.instances",
    "RedisServer": "switchover.fleet.redis_server",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "AsbcInstance",
    "ConfigInstance",
    "Faults",
    "Fleet",
    "FleetReport",
    "PortalInstance",
    "RedisServer",
]
