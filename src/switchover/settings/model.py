"""The settings' model: each section a frozen ``msgspec`` struct, and ``Settings`` of them all.

Converting data into these (``settings.loading``) checks types and ranges in C; each section's
``__post_init__`` adds the rules types cannot say (usable text, sendable secrets, distinct token
names), and so holds for sections built in code as well.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct, field

from switchover.domain.text import text_problem
from switchover.secrets import HIDDEN, Scrubber, Secret
from switchover.settings.urls import mask_url, public_url, scrub_values, url_secrets

SERVICE_KEYS = ("blueGreenGatewayService", "portalService", "asbcService", "obService")
"""Discovery keys of the four kinds of service a task talks to (SPEC §4)."""

Seconds = Annotated[float, Meta(gt=0)]
"""A duration, timeout, interval, deadline or TTL: a positive, finite number of seconds."""

_S = TypeVar("_S", bound="_Section")


def _text_in(value: object) -> str | None:
    """The first problem of any text in ``value`` (lists and mappings searched), or None."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, Path):
        return text_problem(str(value))
    if isinstance(value, Mapping):
        return next(filter(None, map(_text_in, [*value.keys(), *value.values()])), None)
    if isinstance(value, list | tuple):
        return next(filter(None, map(_text_in, value)), None)
    return None  # numbers, flags, sections, and secrets (checked by their own rules)


class _Section(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A group of settings. Built by ``load_settings`` (which checks types and ranges) or
    directly (which runs the rules below, not the type checks)."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            # Every name, path and key ends up in Redis, a URL or the store: control characters
            # and lone surrogates there fail far from here, so they are refused here.
            problem = _text_in(value)
            if problem is None and isinstance(value, float) and not math.isfinite(value):
                problem = "must be a finite number"
            if problem is not None:
                raise ValueError(f"{name}: {problem}")
        self._check()

    def _check(self) -> None:
        """A section's own rules; raises ``ValueError("field: problem")``."""

    def replace(self: _S, **changes: Any) -> _S:
        """A copy with ``changes`` (the rules are run again)."""
        return msgspec.structs.replace(self, **changes)


def _secret_problem(secret: Secret | None, *, token: bool) -> str | None:
    """Why a secret cannot be sent, or None; the answer never quotes the secret."""
    if secret is None:
        return None
    value = secret.get_secret_value()
    if token:
        # Sent as "Authorization: Bearer <token>", where only visible ASCII belongs; a
        # trailing newline (a token read from a file) is the usual culprit.
        for offset, char in enumerate(value):
            if not "!" <= char <= "~":
                at = "at the end" if offset == len(value) - 1 else f"at offset {offset}"
                what = (
                    f"whitespace or a control character (U+{ord(char):04X}) {at}"
                    if char.isspace() or not char.isprintable()
                    else f"a non-ASCII character {at}"
                )
                return f"must be visible ASCII characters only (found {what})"
        return None
    return text_problem(value)


def _check_secret(name: str, secret: Secret | None, *, token: bool) -> None:
    problem = _secret_problem(secret, token=token)
    if problem is not None:
        raise ValueError(f"{name}: {problem}")


class RedisSettings(_Section, frozen=True, kw_only=True):
    """Where tenant configs are written and announced."""

    url: Secret = Secret("redis://127.0.0.1:6379/0")
    key_prefix: str = "icc_ai_ops_srv:tenant_config:"
    topic: str = "icc_ai_ops_srv:tenant_config:topic"
    socket_timeout: Seconds = 5.0
    lock_prefix: str = "switchover:tenant_lock:"
    """A running task's claim on its tenant: ``{lock_prefix}{tenantId}`` (see ``steps.locks``)."""
    fence_key: str = "switchover:fence"
    """The counter that hands out fencing tokens (INCR)."""
    lock_ttl: Seconds = 30.0
    """Seconds a tenant claim lives unrenewed; a running engine renews it every third of this."""

    def _check(self) -> None:
        url = self.url.get_secret_value()
        problem = text_problem(url)
        if problem is None and " " in url:
            problem = f"must not contain spaces (found one at offset {url.index(' ')})"
        if problem is not None:
            raise ValueError(f"url: {problem}")


class VerifySettings(_Section, frozen=True, kw_only=True):
    """Polling of every instance's verify endpoint after a Redis write."""

    path: str = "/actuator/bg-sdk/{tenant_id}"
    interval: Seconds = 3.0
    max_attempts: Annotated[int, Meta(ge=1)] = 10
    deadline: Seconds = 60.0
    rollback_interval: Seconds = 3.0
    rollback_max_attempts: Annotated[int, Meta(ge=1)] = 5


class HttpSettings(_Section, frozen=True, kw_only=True):
    """Timeouts of every outgoing HTTP call."""

    connect_timeout: Seconds = 5.0
    read_timeout: Seconds = 10.0
    total_timeout: Seconds = 30.0
    """Deadline of one whole HTTP call (connect, send, every read), however the peer trickles."""


class RetrySettings(_Section, frozen=True, kw_only=True):
    """Retry of transient I/O errors in a step: attempts after the first, exponential backoff."""

    attempts: Annotated[int, Meta(ge=0)] = 3
    base_delay: Annotated[float, Meta(ge=0)] = 0.5
    multiplier: Annotated[float, Meta(ge=1)] = 2.0
    max_delay: Seconds = 8.0
    jitter: Annotated[float, Meta(ge=0, le=1)] = 0.5
    """Share of each pause drawn at random, so that tasks failing together do not retry
    together: the pause before retry n lies between (1 - jitter) and 1 times
    min(base_delay * multiplier ** n, max_delay); 0 gives fixed pauses, 1 full jitter."""


class PortalSettings(_Section, frozen=True, kw_only=True):
    """Agent portal notify call."""

    path: str = "/icc-agent-portal/inner/v1/notify/bgSwitch"
    scheme: str = "http"


class AsbcSettings(_Section, frozen=True, kw_only=True):
    """ASBC traffic-switch call."""

    path: str = "/api/sbc/traffic-switch"
    scheme: str = "https"
    token: Secret | None = None
    verify_tls: bool = True

    def _check(self) -> None:
        _check_secret("token", self.token, token=True)


class AgentSettings(_Section, frozen=True, kw_only=True):
    """OB agent-readiness polling; ``check`` is ``module:function`` naming a judge_agent."""

    check: str | None = None
    interval: Seconds = 3.0
    max_attempts: Annotated[int, Meta(ge=1)] = 10


def _service_names() -> dict[str, str]:
    return {
        "blueGreenGatewayService": "icc-bg-gateway",
        "portalService": "icc-agent-portal",
        "asbcService": "asbc",
        "obService": "ob-campaign",
    }


class NacosSettings(_Section, frozen=True, kw_only=True):
    """Instance discovery through Nacos' HTTP open API.

    ``api`` picks its generation: ``v3`` (Nacos 3.x), ``v2`` (Nacos 2.2+), ``v1`` (Nacos 1.x,
    and 2.x/3.0/3.1 where still served), or ``auto`` (v3, then v2, then v1, per server).
    ``clusters`` limits the instances to those Nacos clusters (empty: every cluster).
    """

    enabled: bool = False
    server_addr: str = "127.0.0.1:8848"
    api: Literal["auto", "v3", "v2", "v1"] = "auto"
    username: str | None = None
    password: Secret | None = None
    group: str = "DEFAULT_GROUP"
    clusters: list[str] = field(default_factory=list)
    cache_ttl: Seconds = 30.0
    service_names: dict[str, str] = field(default_factory=_service_names)

    def _check(self) -> None:
        # Spaces and any script are fine in a password; line breaks and NULs are not.
        _check_secret("password", self.password, token=False)


class DiscoverySettings(_Section, frozen=True, kw_only=True):
    """Static instances per service key (used alone, or when Nacos fails) and health filtering."""

    fallback_instances: dict[str, list[str]] = field(default_factory=dict)
    health_check: bool = False
    health_path: str = "/actuator/health"


class EngineSettings(_Section, frozen=True, kw_only=True):
    """Scheduling, retries, heartbeat and coordination of the engine."""

    max_concurrency: Annotated[int, Meta(ge=1)] = 10
    max_retries: Annotated[int, Meta(ge=0)] = 3
    heartbeat_interval: Seconds = 10.0
    control_poll_interval: Seconds = 0.5
    control_ttl: Seconds = 30.0
    lease_ttl: Seconds = 5.0
    stage_deadline: Seconds = 300.0
    """Seconds one stage may run (all its steps and their retries) before it fails."""
    task_deadline: Seconds = 3600.0
    """How long one run of a task (all its stages) may take before it fails TIMEOUT_ERROR."""
    preflight: bool = True
    """Check a plan's targets (Redis, discovery) before it is created or a paused plan resumes."""


class TokenSettings(_Section, frozen=True, kw_only=True):
    """One API bearer token: who it is (recorded as the actor of what it does) and its role."""

    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
    role: Literal["viewer", "operator"] = "viewer"
    """``viewer`` reads; ``operator`` also submits plans and performs operations."""
    token: Secret

    def _check(self) -> None:
        _check_secret("token", self.token, token=True)
        if len(self.token.get_secret_value()) < 16:
            raise ValueError("token: must be at least 16 characters long")


class ServerSettings(_Section, frozen=True, kw_only=True):
    """``switchover serve``: where it listens and who may call it."""

    listen: Annotated[str, Meta(pattern=r"^[^\s:]+:[0-9]{1,5}$")] = "127.0.0.1:8080"
    """``host:port``; loopback by default."""
    tokens: list[TokenSettings] = field(default_factory=list)
    """API tokens. With none, ``serve`` creates an operator token in ``token_file``."""
    token_file: Path | None = None
    """Where the generated operator token is kept; default: beside the store (``.token``)."""
    shutdown_grace: Seconds = 30.0
    """On SIGTERM, seconds running stages get to reach their boundary before the exit."""

    def _check(self) -> None:
        names = [token.name for token in self.tokens]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"tokens: token name {name!r} is used twice")


class RemoteSettings(_Section, frozen=True, kw_only=True):
    """The server the command line talks to instead of its own store (``switchover serve``).

    ``--server URL`` or ``SWITCHOVER_SERVER`` win over ``url``; ``SWITCHOVER_TOKEN`` over
    ``token``. Without a token, the one ``serve`` created beside the store is used.
    """

    url: Annotated[str, Meta(pattern=r"^https?://[^\s]+$")] | None = None
    token: Secret | None = None

    def _check(self) -> None:
        _check_secret("token", self.token, token=True)


DEFAULT_ALERT_EVENTS = ("TaskFailed", "TaskRollbackFailed", "PlanFailed", "PlanCompleted")
"""The event types alerted on when ``alerts.events`` is not set."""


class AlertSettings(_Section, frozen=True, kw_only=True):
    """Webhooks told about events, from a durable outbox (delivered at least once, retried)."""

    webhooks: list[Secret] = field(default_factory=list)
    """URLs each alert is POSTed to (JSON); secret, since a URL often carries a token."""
    events: list[str] = field(default_factory=lambda: list(DEFAULT_ALERT_EVENTS))
    """Event types that raise an alert."""
    timeout: Seconds = 5.0
    """Seconds one delivery attempt may take."""
    max_attempts: Annotated[int, Meta(ge=1)] = 20
    """Attempts per alert and webhook before it is given up (and logged)."""
    base_delay: Seconds = 1.0
    max_delay: Seconds = 300.0

    def _check(self) -> None:
        if any(name not in DEFAULT_ALERT_EVENTS for name in self.events):
            from switchover.domain.events import EventType

            known = {member.value for member in EventType}
            for name in self.events:
                if name not in known:
                    raise ValueError(
                        f"events: unknown event type {name!r} "
                        f"(expected one of {', '.join(sorted(known))})"
                    )
        for secret in self.webhooks:
            url = secret.get_secret_value()
            if not url.startswith(("http://", "https://")) or " " in url:
                raise ValueError("webhooks: each webhook must be an http(s) URL")


class Settings(_Section, frozen=True, kw_only=True, dict=True):
    """Everything switchover can be told. Nested fields: ``SWITCHOVER_REDIS__URL`` and so on.

    ``Settings()`` is the defaults; ``load_settings`` adds the file and the environment.
    """

    store: Path = Path("switchover.db")
    redis: RedisSettings = field(default_factory=RedisSettings)
    verify: VerifySettings = field(default_factory=VerifySettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    portal: PortalSettings = field(default_factory=PortalSettings)
    asbc: AsbcSettings = field(default_factory=AsbcSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    nacos: NacosSettings = field(default_factory=NacosSettings)
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    serve: ServerSettings = field(default_factory=ServerSettings)
    remote: RemoteSettings = field(default_factory=RemoteSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    _SOURCE: ClassVar[str] = "_source_file"

    def _check(self) -> None:
        # Built in code, the sections must be sections: data goes through Settings.of.
        for name in self.__struct_fields__:
            value, kind = getattr(self, name), FIELDS[name]
            if not isinstance(value, kind):
                raise TypeError(
                    f"Settings({name}=...) takes a {kind.__name__}, not a "
                    f"{type(value).__name__}; Settings.of(...) converts data"
                )

    @classmethod
    def of(cls, values: Mapping[str, Any] | None = None, /, **more: Any) -> Settings:
        """Settings from data alone, checked as ``load_settings`` checks it (no file, no
        environment): ``Settings.of(store=path, redis={"url": url})``.

        Raises:
            SettingsError: a value is invalid; the message names the field.
        """
        from switchover.settings.loading import merge, validated

        merged = merge(values or {}, more)
        return validated(merged, None, {}, {}, merged)

    @property
    def source_file(self) -> Path | None:
        """The settings file these settings were loaded from (absolute), if any.

        Kept beside the values, not among them: where settings were read from does not make
        them differ (``==``), nor is it a setting (``config show``).
        """
        found: Path | None = self.__dict__.get(self._SOURCE)
        return found

    def binding(self) -> dict[str, str]:
        """What a plan's work is bound to: where it writes and whom it asks (no secrets).

        The Redis URL without credentials, the key prefix, topic and claim prefix, and the
        discovery sources. A plan records these when it is created; an engine or a command
        whose own differ leaves the plan alone (see ``domain.records.binding_differences``).
        """
        import hashlib

        fallback = self.discovery.fallback_instances
        digest = hashlib.sha256(json.dumps(fallback, sort_keys=True).encode("utf-8")).hexdigest()[
            :12
        ]
        instances = sum(len(found) for found in fallback.values())
        nacos = self.nacos
        return {
            "redis.url": public_url(self.redis.url.get_secret_value()),
            "redis.key_prefix": self.redis.key_prefix,
            "redis.topic": self.redis.topic,
            "redis.lock_prefix": self.redis.lock_prefix,
            "nacos": f"{nacos.server_addr} group {nacos.group}" if nacos.enabled else "off",
            "discovery.fallback_instances": (
                f"{len(fallback)} service(s), {instances} instance(s), #{digest}"
                if fallback
                else "none"
            ),
        }

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret, in each form it is written in; for scrubbing messages.

        The Redis password is given as written in ``redis.url`` and URL-decoded, from the
        userinfo (``redis://user:pw@host``) and from password-like query parameters
        (``?password=pw``); then ``asbc.token`` and ``nacos.password``.

        Returns:
            The non-empty values, each once.
        """
        found = list(url_secrets(self.redis.url.get_secret_value()))
        for secret in (
            self.asbc.token,
            self.nacos.password,
            *(token.token for token in self.serve.tokens),
            self.remote.token,
            *self.alerts.webhooks,
        ):
            if secret is not None:
                found.append(secret.get_secret_value())
        return tuple(dict.fromkeys(value for value in found if value))

    def dump(self) -> dict[str, Any]:
        """The settings as JSON-safe data, each secret shown as ``**********``."""
        data: dict[str, Any] = msgspec.to_builtins(self, enc_hook=_dump_value)
        return data

    def masked(self) -> dict[str, Any]:
        """The effective settings as JSON-safe data with every secret replaced by ``'***'``."""
        data = self.dump()
        data["redis"]["url"] = mask_url(self.redis.url.get_secret_value())
        # A secret may also be written into another value (a URL among the instances, say).
        scrubbed: dict[str, Any] = scrub_values(data, Scrubber(self.secret_values()))
        return scrubbed


def _dump_value(value: object) -> object:
    if isinstance(value, Secret):
        return HIDDEN
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot dump a {type(value).__name__}")


FIELDS: dict[str, Any] = {info.name: info.type for info in msgspec.structs.fields(Settings)}
"""Each top-level setting and its type (a section's struct, or ``Path`` for ``store``)."""
