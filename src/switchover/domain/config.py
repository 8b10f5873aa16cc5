"""A tenant's deploy config as the engine uses it: validated, immutable, snake_case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class NetworkEndpoint:
    """One route rule: a route id and the source/target sides, each an IPv4 address or a domain."""

    key: str
    source_ip: str | None = None
    source_domain: str | None = None
    target_ip: str | None = None
    target_domain: str | None = None

    @property
    def source_uri(self) -> str:
        """The longer of source ip/domain; a tie goes to the domain (SPEC §4)."""
        return _longer(self.source_ip, self.source_domain)

    @property
    def target_uri(self) -> str:
        """The longer of target ip/domain; a tie goes to the domain (SPEC §4)."""
        return _longer(self.target_ip, self.target_domain)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as stored."""
        return {
            "key": self.key,
            "source_ip": self.source_ip,
            "source_domain": self.source_domain,
            "target_ip": self.target_ip,
            "target_domain": self.target_domain,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkEndpoint:
        """Inverse of ``to_dict``."""
        return cls(
            key=str(data["key"]),
            source_ip=data.get("source_ip"),
            source_domain=data.get("source_domain"),
            target_ip=data.get("target_ip"),
            target_domain=data.get("target_domain"),
        )


def _longer(ip: str | None, domain: str | None) -> str:
    ip_text, domain_text = ip or "", domain or ""
    return ip_text if len(ip_text) > len(domain_text) else domain_text


@dataclass(frozen=True, slots=True)
class TenantConfig:
    """One tenant's config for one plan (or, as a task's ``previous``, the one before it)."""

    tenant_id: str
    plan_id: str
    plan_version: int
    deploy_unit_id: int | None = None
    deploy_unit_version: int | None = None
    deploy_unit_name: str | None = None
    network_endpoints: tuple[NetworkEndpoint, ...] = ()
    nacos_namespace: str | None = None
    called_number_rules: tuple[str, ...] = ()
    trunk_group: str | None = None
    default_flag: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as stored."""
        return {
            "tenant_id": self.tenant_id,
            "plan_id": self.plan_id,
            "plan_version": self.plan_version,
            "deploy_unit_id": self.deploy_unit_id,
            "deploy_unit_version": self.deploy_unit_version,
            "deploy_unit_name": self.deploy_unit_name,
            "network_endpoints": [e.to_dict() for e in self.network_endpoints],
            "nacos_namespace": self.nacos_namespace,
            "called_number_rules": list(self.called_number_rules),
            "trunk_group": self.trunk_group,
            "default_flag": self.default_flag,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TenantConfig:
        """Inverse of ``to_dict``."""
        return cls(
            tenant_id=str(data["tenant_id"]),
            plan_id=str(data["plan_id"]),
            plan_version=int(data["plan_version"]),
            deploy_unit_id=data.get("deploy_unit_id"),
            deploy_unit_version=data.get("deploy_unit_version"),
            deploy_unit_name=data.get("deploy_unit_name"),
            network_endpoints=tuple(
                NetworkEndpoint.from_dict(e) for e in data.get("network_endpoints") or ()
            ),
            nacos_namespace=data.get("nacos_namespace"),
            called_number_rules=tuple(data.get("called_number_rules") or ()),
            trunk_group=data.get("trunk_group"),
            default_flag=data.get("default_flag"),
        )
