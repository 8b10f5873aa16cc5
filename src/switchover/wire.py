"""Wire formats shared with the platform (SPEC §4): Redis key names, hash fields, payloads.

Kept byte-compatible with the upstream Java services: compact JSON (no spaces), keys in the
documented order, non-ASCII left as is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from switchover.domain.config import TenantConfig

BG_GATEWAY_FIELD = "icc-bg-gateway"
"""Hash field (and notification appName) of the blue-green gateway config."""

OB_FIELD = "ob-campaign"
"""Hash field (and notification appName) of the OB service config."""

METADATA_FIELD = "metadata"
"""Hash field holding ``{"version": N}``."""


def dumps(value: Any) -> str:
    """Compact JSON, as the platform's services write it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def tenant_config_key(prefix: str, tenant_id: str) -> str:
    """``{prefix}{tenantId}``, e.g. ``icc_ai_ops_srv:tenant_config:t-1``."""
    return f"{prefix}{tenant_id}"


def tenant_lock_key(lock_prefix: str, tenant_id: str) -> str:
    """``{lock_prefix}{tenantId}``, a task's claim on its tenant: ``switchover:tenant_lock:t-1``."""
    return f"{lock_prefix}{tenant_id}"


def lock_value(token: int, holder: str) -> str:
    """The value of a tenant lock key: ``{token}|{holder}``, e.g. ``42|engine-a``.

    ``token`` is the fencing token of the claim (from the INCR counter ``redis.fence_key``),
    ``holder`` who claimed it. A fenced write carries this exact string and is applied only
    while the lock key still holds it. The token never contains ``|``, so the holder is
    everything after the first one (a holder may contain ``|`` itself).
    """
    return f"{token}|{holder}"


def lock_holder(value: str) -> str:
    """The holder part of a tenant lock value (the whole value when it has no ``|``)."""
    _, bar, holder = value.partition("|")
    return holder if bar else value


def source_unit(config: TenantConfig, source: TenantConfig | None) -> str | None:
    """The unit being left: the source config's unit name, else the current one."""
    if source is not None and source.deploy_unit_name:
        return source.deploy_unit_name
    return config.deploy_unit_name


def bg_gateway_value(config: TenantConfig, source: TenantConfig | None) -> str:
    """The ``icc-bg-gateway`` field value."""
    return dumps(
        {
            "tenantId": config.tenant_id,
            "sourceUnit": source_unit(config, source),
            "targetUnit": config.deploy_unit_name,
            "routes": [
                {"id": e.key, "sourceUri": e.source_uri, "targetUri": e.target_uri}
                for e in config.network_endpoints
            ],
        }
    )


def ob_value(config: TenantConfig, source: TenantConfig | None, timestamp_ms: int) -> str:
    """The ``ob-campaign`` field value."""
    return dumps(
        {
            "tenantId": config.tenant_id,
            "sourceUnitName": source_unit(config, source),
            "targetUnitName": config.deploy_unit_name,
            "timestamp": timestamp_ms,
        }
    )


def metadata_value(version: int) -> str:
    """The ``metadata`` field value: ``{"version":N}`` with N a JSON number."""
    return dumps({"version": version})


def notification(tenant_id: str, app_name: str, version: int, timestamp_ms: int) -> str:
    """The pub/sub message announcing a tenant's new config."""
    return dumps(
        {"tenantId": tenant_id, "appName": app_name, "version": version, "timestamp": timestamp_ms}
    )


def parse_json_object(raw: str | bytes | None) -> Mapping[str, Any] | None:
    """A JSON object from Redis or HTTP, or None when absent or not an object."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def version_matches(reported: Any, expected: int) -> bool:
    """Whether a verify response's ``$.version``, as text, equals ``str(expected)``."""
    if reported is None or isinstance(reported, bool):
        return False
    return str(reported) == str(expected)
