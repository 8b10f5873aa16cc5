"""The one settings model: defaults, a YAML file, and ``SWITCHOVER_*`` variables.

``model`` holds the sections (frozen msgspec structs) and ``Settings``; ``loading`` reads the
sources, merges them and words every problem with where its value came from; ``urls`` finds
the password in a Redis URL, to mask it. Every command starts by loading these, so they are
cheap to import and to build (no pydantic).
"""

from __future__ import annotations

from switchover.settings.loading import (
    CONFIG_NAME,
    ENV_PREFIX,
    MAX_SETTINGS_SIZE,
    load_settings,
    locate_settings_file,
)
from switchover.settings.model import (
    DEFAULT_ALERT_EVENTS,
    SERVICE_KEYS,
    AgentSettings,
    AlertSettings,
    AsbcSettings,
    DiscoverySettings,
    EngineSettings,
    HttpSettings,
    NacosSettings,
    PortalSettings,
    RedisSettings,
    RemoteSettings,
    RetrySettings,
    Seconds,
    ServerSettings,
    Settings,
    TokenSettings,
    VerifySettings,
)

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_ALERT_EVENTS",
    "ENV_PREFIX",
    "MAX_SETTINGS_SIZE",
    "SERVICE_KEYS",
    "AgentSettings",
    "AlertSettings",
    "AsbcSettings",
    "DiscoverySettings",
    "EngineSettings",
    "HttpSettings",
    "NacosSettings",
    "PortalSettings",
    "RedisSettings",
    "RemoteSettings",
    "RetrySettings",
    "Seconds",
    "ServerSettings",
    "Settings",
    "TokenSettings",
    "VerifySettings",
    "load_settings",
    "locate_settings_file",
]
