"""Instance discovery: static lists, Nacos, caching."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchover._lazy import lazy_exports

if TYPE_CHECKING:
    from switchover.discovery.health import HealthCheckedDiscovery
    from switchover.discovery.nacos import NacosDiscovery
    from switchover.discovery.protocol import Discovery, DiscoveryQuery
    from switchover.discovery.static import StaticDiscovery

_EXPORTS = {
    "HealthCheckedDiscovery": "switchover.discovery.health",
    "NacosDiscovery": "switchover.discovery.nacos",
    "Discovery": "switchover.discovery.protocol",
    "DiscoveryQuery": "switchover.discovery.protocol",
    "StaticDiscovery": "switchover.discovery.static",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "Discovery",
    "DiscoveryQuery",
    "HealthCheckedDiscovery",
    "NacosDiscovery",
    "StaticDiscovery",
]
