"""The one settings model: defaults, a YAML file, and ``SWITCHOVER_*`` variables."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, unquote_plus

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as SourceError

from switchover.domain.documents import decode_utf8, load_yaml, yaml_error_message
from switchover.domain.text import text_problem
from switchover.errors import SettingsError
from switchover.secrets import MASK, Scrubber

SERVICE_KEYS = ("blueGreenGatewayService", "portalService", "asbcService", "obService")
"""Discovery keys of the four kinds of service a task talks to (SPEC §4)."""

ENV_PREFIX = "SWITCHOVER_"
"""Every environment variable of the settings starts with this; ``__`` separates nesting."""
MAX_SETTINGS_SIZE = 16 * 2**20
"""The largest settings file accepted, in bytes."""

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A duration, timeout, interval, deadline or TTL: a positive, finite number of seconds."""


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
    return None  # numbers, flags, and secrets (checked by their own rules)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _usable_text(cls, value: Any) -> Any:
        # Every name, path and key ends up in Redis, a URL or the store: control characters
        # and lone surrogates there fail far from here, so they are refused here.
        problem = _text_in(value)
        if problem is not None:
            raise PydanticCustomError("text", "{problem}", {"problem": problem})
        return value


def _check_secret(secret: SecretStr | None, *, token: bool) -> None:
    """Refuse a secret that cannot be sent; the message never quotes the secret."""
    if secret is None:
        return
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
                raise PydanticCustomError(
                    "token", "must be visible ASCII characters only (found {what})", {"what": what}
                )
        return
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("secret_text", "{problem}", {"problem": problem})


class RedisSettings(_Section):
    """Where tenant configs are written and announced."""

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "icc_ai_ops_srv:tenant_config:"
    topic: str = "icc_ai_ops_srv:tenant_config:topic"
    socket_timeout: Seconds = 5.0
    lock_prefix: str = "switchover:tenant_lock:"
    """A running task's claim on its tenant: ``{lock_prefix}{tenantId}`` (see ``steps.locks``)."""
    fence_key: str = "switchover:fence"
    """The counter that hands out fencing tokens (INCR)."""
    lock_ttl: Seconds = 30.0
    """Seconds a tenant claim lives unrenewed; a running engine renews it every third of this."""

    @field_validator("url")
    @classmethod
    def _usable_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        problem = text_problem(url)
        if problem is None and " " in url:
            problem = f"must not contain spaces (found one at offset {url.index(' ')})"
        if problem is not None:
            raise PydanticCustomError("url_text", "{problem}", {"problem": problem})
        return value


class VerifySettings(_Section):
    """Polling of every instance's verify endpoint after a Redis write."""

    path: str = "/actuator/bg-sdk/{tenant_id}"
    interval: Seconds = 3.0
    max_attempts: int = Field(10, ge=1)
    deadline: Seconds = 60.0
    rollback_interval: Seconds = 3.0
    rollback_max_attempts: int = Field(5, ge=1)


class HttpSettings(_Section):
    """Timeouts of every outgoing HTTP call."""

    connect_timeout: Seconds = 5.0
    read_timeout: Seconds = 10.0
    total_timeout: Seconds = 30.0
    """Deadline of one whole HTTP call (connect, send, every read), however the peer trickles."""


class RetrySettings(_Section):
    """Retry of transient I/O errors in a step: attempts after the first, exponential backoff."""

    attempts: int = Field(3, ge=0)
    base_delay: float = Field(0.5, ge=0, allow_inf_nan=False)
    multiplier: float = Field(2.0, ge=1, allow_inf_nan=False)
    max_delay: Seconds = 8.0
    jitter: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "Share of each pause drawn at random, so that tasks failing together do not retry "
            "together: the pause before retry n lies between (1 - jitter) and 1 times "
            "min(base_delay * multiplier ** n, max_delay); 0 gives fixed pauses, 1 full jitter."
        ),
    )


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

    @field_validator("token")
    @classmethod
    def _usable_token(cls, value: SecretStr | None) -> SecretStr | None:
        _check_secret(value, token=True)
        return value


class AgentSettings(_Section):
    """OB agent-readiness polling; ``check`` is ``module:function`` naming a judge_agent."""

    check: str | None = None
    interval: Seconds = 3.0
    max_attempts: int = Field(10, ge=1)


class NacosSettings(_Section):
    """Instance discovery through Nacos' HTTP open API.

    ``api`` picks its generation: ``v3`` (Nacos 3.x), ``v2`` (Nacos 2.2+), ``v1`` (Nacos 1.x,
    and 2.x/3.0/3.1 where still served), or ``auto`` (v3, then v2, then v1, per server).
    ``clusters`` limits the instances to those Nacos clusters (empty: every cluster).
    """

    enabled: bool = False
    server_addr: str = "127.0.0.1:8848"
    api: Literal["auto", "v3", "v2", "v1"] = "auto"
    username: str | None = None
    password: SecretStr | None = None
    group: str = "DEFAULT_GROUP"
    clusters: list[str] = Field(default_factory=list)
    cache_ttl: Seconds = 30.0
    service_names: dict[str, str] = Field(
        default_factory=lambda: {
            "blueGreenGatewayService": "icc-bg-gateway",
            "portalService": "icc-agent-portal",
            "asbcService": "asbc",
            "obService": "ob-campaign",
        }
    )

    @field_validator("password")
    @classmethod
    def _usable_password(cls, value: SecretStr | None) -> SecretStr | None:
        # Spaces and any script are fine in a password; line breaks and NULs are not.
        _check_secret(value, token=False)
        return value


class DiscoverySettings(_Section):
    """Static instances per service key (used alone, or when Nacos fails) and health filtering."""

    fallback_instances: dict[str, list[str]] = Field(default_factory=dict)
    health_check: bool = False
    health_path: str = "/actuator/health"


class EngineSettings(_Section):
    """Scheduling, retries, heartbeat and coordination of the engine."""

    max_concurrency: int = Field(10, ge=1)
    max_retries: int = Field(3, ge=0)
    heartbeat_interval: Seconds = 10.0
    control_poll_interval: Seconds = 0.5
    control_ttl: Seconds = 30.0
    lease_ttl: Seconds = 5.0
    stage_deadline: Seconds = 300.0
    task_deadline: Seconds = 3600.0
    """How long one run of a task (all its stages) may take before it fails TIMEOUT_ERROR."""
    preflight: bool = True
    """Check a plan's targets (Redis, discovery) before it is created or a paused plan resumes."""
    """Seconds one stage may run (all its steps and their retries) before it fails."""


class TokenSettings(_Section):
    """One API bearer token: who it is (recorded as the actor of what it does) and its role."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Literal["viewer", "operator"] = "viewer"
    """``viewer`` reads; ``operator`` also submits plans and performs operations."""
    token: SecretStr

    @field_validator("token")
    @classmethod
    def _usable_token(cls, value: SecretStr) -> SecretStr:
        _check_secret(value, token=True)
        if len(value.get_secret_value()) < 16:
            raise PydanticCustomError("token_length", "must be at least 16 characters long")
        return value


class ServerSettings(_Section):
    """``switchover serve``: where it listens and who may call it."""

    listen: str = Field("127.0.0.1:8080", pattern=r"^[^\s:]+:[0-9]{1,5}$")
    """``host:port``; loopback by default."""
    tokens: list[TokenSettings] = Field(default_factory=list)
    """API tokens. With none, ``serve`` creates an operator token in ``token_file``."""
    token_file: Path | None = None
    """Where the generated operator token is kept; default: beside the store (``.token``)."""
    shutdown_grace: Seconds = 30.0
    """On SIGTERM, seconds running stages get to reach their boundary before the exit."""

    @field_validator("tokens")
    @classmethod
    def _distinct(cls, value: list[TokenSettings]) -> list[TokenSettings]:
        names = [token.name for token in value]
        for name in names:
            if names.count(name) > 1:
                raise PydanticCustomError(
                    "token_name", "token name {name!r} is used twice", {"name": name}
                )
        return value


class RemoteSettings(_Section):
    """The server the command line talks to instead of its own store (``switchover serve``).

    ``--server URL`` or ``SWITCHOVER_SERVER`` win over ``url``; ``SWITCHOVER_TOKEN`` over
    ``token``. Without a token, the one ``serve`` created beside the store is used.
    """

    url: str | None = Field(None, pattern=r"^https?://[^\s]+$")
    token: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _usable_token(cls, value: SecretStr | None) -> SecretStr | None:
        _check_secret(value, token=True)
        return value


DEFAULT_ALERT_EVENTS = ("TaskFailed", "TaskRollbackFailed", "PlanFailed", "PlanCompleted")
"""The event types alerted on when ``alerts.events`` is not set."""


class AlertSettings(_Section):
    """Webhooks told about events, from a durable outbox (delivered at least once, retried)."""

    webhooks: list[SecretStr] = Field(default_factory=list)
    """URLs each alert is POSTed to (JSON); secret, since a URL often carries a token."""
    events: list[str] = Field(default_factory=lambda: list(DEFAULT_ALERT_EVENTS))
    """Event types that raise an alert."""
    timeout: Seconds = 5.0
    """Seconds one delivery attempt may take."""
    max_attempts: int = Field(20, ge=1)
    """Attempts per alert and webhook before it is given up (and logged)."""
    base_delay: Seconds = 1.0
    max_delay: Seconds = 300.0

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        from switchover.domain.events import EventType

        known = {member.value for member in EventType}
        for name in value:
            if name not in known:
                raise PydanticCustomError(
                    "event_type",
                    "unknown event type {name!r} (expected one of {known})",
                    {"name": name, "known": ", ".join(sorted(known))},
                )
        return value

    @field_validator("webhooks")
    @classmethod
    def _http_urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            url = secret.get_secret_value()
            if not url.startswith(("http://", "https://")) or " " in url:
                raise PydanticCustomError("webhook_url", "each webhook must be an http(s) URL")
        return value


class Settings(BaseSettings):
    """Everything switchover can be told. Nested fields: ``SWITCHOVER_REDIS__URL`` and so on."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
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
    serve: ServerSettings = ServerSettings()
    remote: RemoteSettings = RemoteSettings()
    alerts: AlertSettings = AlertSettings()

    _source_file: Path | None = PrivateAttr(None)

    def __eq__(self, other: object) -> bool:
        # Settings are their values: where they were read from does not make them differ.
        if not isinstance(other, Settings):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    @property
    def source_file(self) -> Path | None:
        """The settings file these settings were loaded from (absolute), if any."""
        return self._source_file

    def binding(self) -> dict[str, str]:
        """What a plan's work is bound to: where it writes and whom it asks (no secrets).

        The Redis URL without credentials, the key prefix, topic and claim prefix, and the
        discovery sources. A plan records these when it is created; an engine or a command
        whose own differ leaves the plan alone (see ``domain.records.binding_differences``).
        """
        fallback = self.discovery.fallback_instances
        digest = hashlib.sha256(json.dumps(fallback, sort_keys=True).encode("utf-8")).hexdigest()[
            :12
        ]
        instances = sum(len(found) for found in fallback.values())
        nacos = self.nacos
        return {
            "redis.url": _public_url(self.redis.url.get_secret_value()),
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

    @field_validator("store")
    @classmethod
    def _usable_store(cls, value: Path) -> Path:
        problem = _text_in(value)
        if problem is not None:
            raise PydanticCustomError("text", "{problem}", {"problem": problem})
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Constructed directly: arguments over the environment. load_settings adds the file.
        return init_settings, env_settings

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret, in each form it is written in; for scrubbing messages.

        The Redis password is given as written in ``redis.url`` and URL-decoded, from the
        userinfo (``redis://user:pw@host``) and from password-like query parameters
        (``?password=pw``); then ``asbc.token`` and ``nacos.password``.

        Returns:
            The non-empty values, each once.
        """
        found = list(_url_secrets(self.redis.url.get_secret_value()))
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

    def masked(self) -> dict[str, Any]:
        """The effective settings as JSON-safe data with every secret replaced by ``'***'``."""
        data: dict[str, Any] = self.model_dump(mode="json")  # SecretStr dumps as "**********"
        data["redis"]["url"] = _mask_url(self.redis.url.get_secret_value())
        # A secret may also be written into another value (a URL among the instances, say).
        scrubbed: dict[str, Any] = _scrub_values(data, Scrubber(self.secret_values()))
        return scrubbed


# ---------------------------------------------------------------------------------------------
# Secrets inside the Redis URL.

# Query parameters redis-py (or a proxy in front of it) takes a password from.
_SECRET_PARAMS = frozenset(("password", "pass", "passwd", "pwd", "auth", "token"))


def _split_url(url: str) -> tuple[str, str | None, str, str]:
    """``(scheme://, userinfo or None, host and path, ?query)`` of a URL, read leniently.

    Everything up to the query counts as the authority and path, so a password holding an
    unencoded ``/``, ``#`` or ``@`` is found whole; so is one holding a ``?``, when what precedes
    the last ``@`` is no query parameter.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    head, mark, query = rest.partition("?")
    userinfo, at, host = head.rpartition("@")
    if not at:
        before, at, after = rest.rpartition("@")
        if at and "=" not in before:
            userinfo = before
            host, mark, query = after.partition("?")
        else:
            at = ""
    return scheme + sep, (userinfo if at else None), host, mark + query


def _odd_port(host: str) -> str | None:
    """What follows the host's colon when it is no port number: a password missing its ``@``.

    ``redis://:secret`` (the host forgotten) parses as an empty host with port "secret".
    """
    authority = host.partition("/")[0]
    if authority.startswith("["):  # an IPv6 literal, [::1]:6379
        authority = authority.partition("]")[2]
    _, colon, port = authority.partition(":")
    return port if colon and port and not port.isdigit() else None


def _params(query: str) -> Iterator[tuple[str, str]]:
    for pair in re.split("[&;]", query[1:]) if query else ():
        key, _, value = pair.partition("=")
        yield key, value


def _is_secret_param(key: str) -> bool:
    return unquote_plus(key).strip().lower() in _SECRET_PARAMS


def _url_secrets(url: str) -> Iterator[str]:
    _, userinfo, host, query = _split_url(url)
    if userinfo is not None:
        # Without a colon redis-py reads a username, but people write a bare password there.
        user, colon, password = userinfo.partition(":")
        raw = password if colon else user
        yield from (raw, unquote(raw))
    port = _odd_port(host)
    if port is not None:
        yield from (port, unquote(port))
    for key, value in _params(query):
        if _is_secret_param(key):
            # A parser stops at "#" (a fragment); whoever wrote the URL may have meant it whole.
            for form in dict.fromkeys((value, value.partition("#")[0])):
                yield from (form, unquote(form), unquote_plus(form))


def _mask_url(url: str) -> str:
    """``url`` with the password of its userinfo and of password-like parameters masked."""
    text, userinfo, host, query = _split_url(url)
    if userinfo is not None:
        user, colon, _ = userinfo.partition(":")
        text += f"{user}:{MASK}@" if colon else f"{MASK}@"
    port = _odd_port(host)
    if port is not None:
        name, slash, path = host.partition("/")
        host = name[: len(name) - len(port)] + MASK + slash + path
    text += host
    if query:
        text += "?" + "".join(map(_mask_param, re.split("([&;])", query[1:])))
    # Whatever the structure missed (the password repeated elsewhere in the URL) goes too.
    return Scrubber(_url_secrets(url)).scrub(text)


def _public_url(url: str) -> str:
    """``url`` without its userinfo and password-like parameters (for records, not secrets)."""
    text, _, host, query = _split_url(url)
    kept = [pair for pair in re.split("[&;]", query[1:]) if pair] if query else []
    kept = [pair for pair in kept if not _is_secret_param(pair.partition("=")[0])]
    public = text + host + ("?" + "&".join(kept) if kept else "")
    return Scrubber(_url_secrets(url)).scrub(public)


def _mask_param(pair: str) -> str:
    key, eq, _ = pair.partition("=")
    return f"{key}={MASK}" if eq and _is_secret_param(key) else pair


def _scrub_values(data: Any, scrubber: Scrubber) -> Any:
    # Values only: the keys are the settings' own names, which callers index by.
    if isinstance(data, str):
        return scrubber.scrub(data)
    if isinstance(data, dict):
        return {key: _scrub_values(value, scrubber) for key, value in data.items()}
    if isinstance(data, list):
        return [_scrub_values(item, scrubber) for item in data]
    return data


# ---------------------------------------------------------------------------------------------
# Loading.


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Load settings: ``overrides`` > environment > YAML file > defaults.

    Args:
        config_file: a YAML file holding a mapping of settings (what ``config show`` prints),
            as a path or a string (``load_settings("fleet.yaml")``); None for none.
        overrides: values that win over every other source (``store=...``).

    Returns:
        The validated settings.

    Raises:
        SettingsError: the file is missing, unreadable or not a YAML mapping, an environment
            variable cannot be parsed, or a value is invalid. The one-line message names the
            file or the variable and the field, and never includes a secret value.
    """
    name: str | None = None
    file_values: dict[str, Any] = {}
    if config_file is not None:
        name = os.fspath(config_file)
        file_values = _read_settings_file(name)
    env_values = _environment_values()
    merged = _merge(_merge(file_values, env_values), overrides)
    if name is not None and isinstance(file_values.get("store"), str | Path):
        # A store named in a settings file is where that file says, wherever the command runs.
        stored = Path(file_values["store"]).expanduser()
        if not stored.is_absolute() and "store" not in env_values and "store" not in overrides:
            merged["store"] = Path(name).absolute().parent / stored
    try:
        # Settings' own sources read the environment again, below these values: no change.
        loaded = Settings.model_validate(merged)
    except ValidationError as exc:
        message = _describe(exc, name, file_values, env_values, overrides)
        raise SettingsError(Scrubber(_raw_secrets(merged)).scrub(message)) from None
    if name is not None:
        loaded._source_file = Path(name).absolute()
    return loaded


CONFIG_NAME = "switchover.yaml"
"""The settings file looked for in the working directory and the user's config directory."""


def locate_settings_file(explicit: Path | str | None = None) -> Path | None:
    """The settings file a command uses: ``--config``, else ``SWITCHOVER_CONFIG``, else
    ``./switchover.yaml``, else ``switchover.yaml`` in the user's config directory
    (``platformdirs``; ``~/.config/switchover`` on Linux); None when there is none.

    An explicit file or ``SWITCHOVER_CONFIG`` is returned whether or not it exists (loading
    it then says what is wrong); the other two only when they exist.
    """
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if from_env:
        return Path(from_env)
    here = Path(CONFIG_NAME)
    if here.is_file():
        return here
    import platformdirs

    user = platformdirs.user_config_path("switchover") / CONFIG_NAME
    return user if user.is_file() else None


def _read_settings_file(name: str) -> dict[str, Any]:
    where = f"settings file {name!r}"
    path = Path(name)
    if not path.is_file():
        raise SettingsError(f"{where} is not a file" if path.exists() else f"{where} not found")
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_SETTINGS_SIZE + 1)
    except OSError as exc:
        raise SettingsError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_SETTINGS_SIZE:
        raise SettingsError(f"{where}: too large (more than {MAX_SETTINGS_SIZE // 2**20} MiB)")
    try:
        values = load_yaml(decode_utf8(data))
    except ValueError as exc:  # not UTF-8
        raise SettingsError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{where}: {_unquoted(yaml_error_message(exc))}") from None
    if values is None:
        raise SettingsError(f"{where}: empty (expected a mapping of settings; write {{}} for none)")
    if not isinstance(values, dict):
        raise SettingsError(f"{where}: not a mapping of settings (got {_kind(values)})")
    odd = [key for key in values if not isinstance(key, str)]
    if odd:
        raise SettingsError(f"{where}: keys must be names of settings (found {_kind(odd[0])})")
    return values


def _unquoted(message: str) -> str:
    # A YAML message may quote a stretch of the file (an unknown tag, say), and that stretch
    # may be a secret: elide quoted words, keep quoted punctuation (",' or ']'").
    return re.sub(r"'[^'\s]{2,}'", "'...'", message)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    kinds = {
        str: "a string",
        int: "a number",
        float: "a number",
        list: "a list",
        set: "a set",
        type(None): "null",
    }
    return kinds.get(type(value), type(value).__name__)


def _environment_values() -> dict[str, Any]:
    """The ``SWITCHOVER_*`` variables as nested settings data, parsed as pydantic-settings does."""
    try:
        return dict(EnvSettingsSource(Settings)())
    except (SourceError, ValueError) as exc:
        raise SettingsError(_environment_problem(exc)) from None


def _environment_problem(exc: Exception) -> str:
    found = re.search(r'field "([^"]+)"', str(exc))
    field_name = found.group(1) if found else ""
    stem = f"{ENV_PREFIX}{field_name}".upper()
    names = sorted(
        key for key in os.environ if key.upper() == stem or key.upper().startswith(stem + "__")
    )
    # The culprits are the ones holding JSON that does not parse.
    culprits = [key for key in names if _bad_json(os.environ[key])] or names
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        what = f"not valid JSON: {cause.msg} (line {cause.lineno}, column {cause.colno})"
    else:
        what = "cannot be parsed"
    if not culprits:
        return f"environment: {field_name or 'a variable'} {what}"
    label = "variable" if len(culprits) == 1 else "variables"
    return f"environment {label} {', '.join(culprits)}: {what}"


def _bad_json(text: str) -> bool:
    if not text.lstrip().startswith(("{", "[", '"')):
        return False
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``, mappings merged key by key (as pydantic-settings does)."""
    merged = dict(base)
    for key, value in update.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(below, value)
        else:
            merged[key] = value
    return merged


def _gave(values: object, loc: Sequence[str | int]) -> bool:
    """Whether source ``values`` gave the value at ``loc`` (or one that contains it)."""
    node = values
    for depth, part in enumerate(loc):
        if isinstance(node, Mapping):
            if part not in node:
                return False
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return depth > 0  # the error is inside a value the source gave
    return True


def _env_name(loc: Sequence[str | int]) -> str:
    """The variable that gave the value at ``loc``: the most specific one that is set."""
    names = [str(part) for part in loc]
    present = {key.upper(): key for key in os.environ}
    for count in range(len(names), 0, -1):
        candidate = (ENV_PREFIX + "__".join(names[:count])).upper()
        if candidate in present:
            return present[candidate]
    return (ENV_PREFIX + names[0]).upper()


def _describe(
    exc: ValidationError,
    file_name: str | None,
    file_values: Mapping[str, Any],
    env_values: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> str:
    problems: list[str] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = error["loc"]
        path = ".".join(_loc_name(part) for part in loc)
        message = error["msg"].removeprefix("Value error, ")
        if _gave(overrides, loc):
            origin = ""
        elif _gave(env_values, loc):
            origin = f"environment variable {_env_name(loc)}: "
        elif file_name is not None and _gave(file_values, loc):
            origin = f"settings file {file_name!r}: "
        else:
            origin = ""
        problems.append(f"{origin}{path}: {message}")
    return "invalid settings: " + "; ".join(problems)


def _loc_name(part: str | int) -> str:
    text = str(part)
    return text if text.isprintable() and len(text) <= 64 else repr(text)[:40] + "..."


def _raw_secrets(values: Mapping[str, Any]) -> list[str]:
    """The secrets among not-yet-validated settings data, for scrubbing a message about it."""
    found: list[str] = []

    def text(section: str, key: str) -> str | None:
        part = values.get(section)
        value = part.get(key) if isinstance(part, Mapping) else getattr(part, key, None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return value if isinstance(value, str) else None

    url = text("redis", "url")
    if url is not None:
        found.extend(_url_secrets(url))
    found.extend(filter(None, (text("asbc", "token"), text("nacos", "password"))))
    return [value for value in found if value]
