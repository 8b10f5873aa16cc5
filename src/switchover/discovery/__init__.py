"""Instance discovery: static lists, Nacos, caching."""

from switchover.discovery.health import HealthCheckedDiscovery
from switchover.discovery.nacos import NacosDiscovery
from switchover.discovery.protocol import Discovery, DiscoveryQuery
from switchover.discovery.static import StaticDiscovery

__all__ = [
    "Discovery",
    "DiscoveryQuery",
    "HealthCheckedDiscovery",
    "NacosDiscovery",
    "StaticDiscovery",
]
