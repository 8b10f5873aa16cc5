"""The one settings model: defaults, a YAML file, and ``SWITCHOVER_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from switchover.errors import SettingsError

SERVICE_KEYS = ("blueGreenGatewayService", "portalService", "asbcService", "obService")
"""Discovery keys of the four kinds of service a task talks to (SPEC §4)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RedisSettings(_Section):
    """Where tenant configs are written and announced."""

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "icc_ai_ops_srv:tenant_config:"
    topic: str = "icc_ai_ops_srv:tenant_config:topic"
    socket_timeout: float = 5.0
    lock_prefix: str = "switchover:tenant_lock:"
    """A running task's claim on its tenant: ``{lock_prefix}{tenantId}`` (see ``steps.locks``)."""
    fence_key: str = "switchover:fence"
    """The counter that hands out fencing tokens (INCR)."""
    lock_ttl: float = 30.0
    """Seconds a tenant claim lives unrenewed; a running engine renews it every third of this."""


class VerifySettings(_Section):
    """Polling of every instance's verify endpoint after a Redis write."""

    path: str = "/actuator/bg-sdk/{tenant_id}"
    interval: float = 3.0
    max_attempts: int = Field(10, ge=1)
    deadline: float = 60.0
    rollback_interval: float = 3.0
    rollback_max_attempts: int = Field(5, ge=1)


class HttpSettings(_Section):
    """Timeouts of every outgoing HTTP call."""

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    """Deadline of one whole HTTP call (connect, send, every read), however the peer trickles."""


class RetrySettings(_Section):
    """Retry of transient I/O errors in a step: attempts after the first, exponential backoff."""

    attempts: int = Field(3, ge=0)
    base_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 8.0


class PortalSettings(_Section):
    """Agent portal notify call."""

    path: str = "/icc-agent-portal/inner/v1/notify/bgSwitch"
    scheme: str = "http"


class AsbcSettings(_Section):
    """ASBC traffic-switch call."""

    path: str = "/api/sbc/traffic-switch"
    scheme: str = "https"
    token: SecretStr | None = None
    verify_tls: bool = True


class AgentSettings(_Section):
    """OB agent-readiness polling; ``check`` is ``module:function`` naming a judge_agent."""

    check: str | None = None
    interval: float = 3.0
    max_attempts: int = Field(10, ge=1)


class NacosSettings(_Section):
    """Instance discovery through Nacos' open API."""

    enabled: bool = False
    server_addr: str = "127.0.0.1:8848"
    username: str | None = None
    password: SecretStr | None = None
    group: str = "DEFAULT_GROUP"
    cache_ttl: float = 30.0
    service_names: dict[str, str] = Field(
        default_factory=lambda: {
            "blueGreenGatewayService": "icc-bg-gateway",
            "portalService": "icc-agent-portal",
            "asbcService": "asbc",
            "obService": "ob-campaign",
        }
    )


class DiscoverySettings(_Section):
    """Static instances per service key (used alone, or when Nacos fails) and health filtering."""

    fallback_instances: dict[str, list[str]] = Field(default_factory=dict)
    health_check: bool = False
    health_path: str = "/actuator/health"


class EngineSettings(_Section):
    """Scheduling, retries, heartbeat and coordination of the engine."""

    max_concurrency: int = Field(10, ge=1)
    max_retries: int = Field(3, ge=0)
    heartbeat_interval: float = 10.0
    control_poll_interval: float = 0.5
    control_ttl: float = 30.0
    lease_ttl: float = 5.0
    stage_deadline: float = 300.0
    """Seconds one stage may run (all its steps and their retries) before it fails."""


class Settings(BaseSettings):
    """Everything switchover can be told. Nested fields: ``SWITCHOVER_REDIS__URL`` and so on."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHOVER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    store: Path = Path("switchover.db")
    redis: RedisSettings = RedisSettings()
    verify: VerifySettings = VerifySettings()
    http: HttpSettings = HttpSettings()
    retry: RetrySettings = RetrySettings()
    portal: PortalSettings = PortalSettings()
    asbc: AsbcSettings = AsbcSettings()
    agent: AgentSettings = AgentSettings()
    nacos: NacosSettings = NacosSettings()
    discovery: DiscoverySettings = DiscoverySettings()
    engine: EngineSettings = EngineSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = _YAML_FILE.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    def masked(self) -> dict[str, Any]:
        """The effective settings as JSON-safe data with every secret replaced by ``'***'``."""
        data: dict[str, Any] = self.model_dump(mode="json")
        data["redis"]["url"] = _mask_url(self.redis.url.get_secret_value())
        return data


# pydantic-settings has no per-call source argument; this holds the YAML path for one load.
_YAML_FILE: dict[str, Path | None] = {"path": None}


def _mask_url(url: str) -> str:
    """Hide the password of a URL such as ``redis://user:pass@host/0``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://***@{host}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings: ``overrides`` > environment > YAML file > defaults.

    Raises:
        SettingsError: the file is missing or unreadable, or a value is invalid; the message
            names each bad field and never includes a secret value.
    """
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"settings file {str(config_file)!r} not found")
    _YAML_FILE["path"] = config_file
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read settings file {str(config_file)!r}: {exc}") from None
    finally:
        _YAML_FILE["path"] = None
