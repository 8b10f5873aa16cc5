"""Local fleet: loopback HTTP look-alikes of the platform's services, and redis-server."""

from switchover.fleet.fleet import Fleet, FleetReport
from switchover.fleet.instances import AsbcInstance, ConfigInstance, Faults, PortalInstance
from switchover.fleet.redis_server import RedisServer

__all__ = [
    "AsbcInstance",
    "ConfigInstance",
    "Faults",
    "Fleet",
    "FleetReport",
    "PortalInstance",
    "RedisServer",
]
