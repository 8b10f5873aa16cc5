"""A tenant's deploy config as the engine uses it: validated, immutable, snake_case."""

from __future__ import annotations

import msgspec


class NetworkEndpoint(msgspec.Struct, frozen=True):
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


def _longer(ip: str | None, domain: str | None) -> str:
    ip_text, domain_text = ip or "", domain or ""
    return ip_text if len(ip_text) > len(domain_text) else domain_text


class TenantConfig(msgspec.Struct, frozen=True):
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
