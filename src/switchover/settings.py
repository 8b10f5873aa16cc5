"""The one settings model: defaults, a YAML file, and ``SWITCHOVER_*`` variables.

The sections are frozen ``msgspec`` structs: converting the merged sources into them checks
types and ranges in C, and each section's ``__post_init__`` adds the rules types cannot say
(usable text, sendable secrets, distinct token names). Every command starts by loading these,
so they are cheap to import and build.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args, get_origin
from urllib.parse import unquote, unquote_plus

import msgspec
from msgspec import Meta, Struct, field

from switchover.domain.text import text_problem
from switchover.errors import SettingsError
from switchover.secrets import HIDDEN, MASK, Scrubber, Secret

SERVICE_KEYS = ("blueGreenGatewayService", "portalService", "asbcService", "obService")
"""Discovery keys of the four kinds of service a task talks to (SPEC §4)."""

ENV_PREFIX = "SWITCHOVER_"
"""Every environment variable of the settings starts with this; ``__`` separates nesting."""
MAX_SETTINGS_SIZE = 16 * 2**20
"""The largest settings file accepted, in bytes."""

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
            value, kind = getattr(self, name), _FIELDS[name]
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
        merged = _merge(values or {}, more)
        loaded, problems = _build(merged)
        if loaded is None:
            message = _describe(problems, None, {}, {}, merged)
            raise SettingsError(Scrubber(_raw_secrets(merged)).scrub(message))
        return loaded

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

    def dump(self) -> dict[str, Any]:
        """The settings as JSON-safe data, each secret shown as ``**********``."""
        data: dict[str, Any] = msgspec.to_builtins(self, enc_hook=_dump_value)
        return data

    def masked(self) -> dict[str, Any]:
        """The effective settings as JSON-safe data with every secret replaced by ``'***'``."""
        data = self.dump()
        data["redis"]["url"] = _mask_url(self.redis.url.get_secret_value())
        # A secret may also be written into another value (a URL among the instances, say).
        scrubbed: dict[str, Any] = _scrub_values(data, Scrubber(self.secret_values()))
        return scrubbed


def _dump_value(value: object) -> object:
    if isinstance(value, Secret):
        return HIDDEN
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot dump a {type(value).__name__}")


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
    loaded, problems = _build(merged)
    if loaded is None:
        message = _describe(problems, name, file_values, env_values, overrides)
        raise SettingsError(Scrubber(_raw_secrets(merged)).scrub(message))
    if name is not None:
        loaded.__dict__[Settings._SOURCE] = Path(name).absolute()
    return loaded


_FIELDS: dict[str, Any] = {info.name: info.type for info in msgspec.structs.fields(Settings)}
"""Each top-level setting and its type (a section's struct, or ``Path`` for ``store``)."""

Location = tuple[str | int, ...]
"""Where in the settings a problem is: ``("engine", "max_concurrency")``, ``("serve", "tokens",
0, "name")``; ``"..."`` stands for a key of a mapping."""


def _build(merged: Mapping[str, Any]) -> tuple[Settings | None, list[tuple[Location, str]]]:
    """The settings made of ``merged``, or None and every problem found (at most one per
    section, besides every unknown name)."""
    problems: list[tuple[Location, str]] = []
    values: dict[str, Any] = {}
    for key, value in merged.items():
        kind = _FIELDS.get(key)
        if kind is None:
            problems.append(((key,), "unknown setting"))
            continue
        if isinstance(value, Mapping) and isinstance(kind, type) and issubclass(kind, Struct):
            unknown = [name for name in value if name not in kind.__struct_fields__]
            if unknown:
                problems.extend(((key, name), "unknown setting") for name in unknown)
                known = {name: item for name, item in value.items() if name not in unknown}
                problems.extend(_field_problems(key, kind, known))
                continue
        try:
            values[key] = msgspec.convert(value, kind, strict=False, dec_hook=_decode)
        except msgspec.ValidationError as exc:
            # msgspec stops at the first problem; each field alone shows every one.
            fields = [] if not isinstance(value, Mapping) else _field_problems(key, kind, value)
            problems.extend(fields or [_problem((key,), str(exc))])
    if problems:
        return None, problems
    try:
        return Settings(**values), []
    except ValueError as exc:  # Settings' own rules (the store path)
        return None, [_problem((), str(exc))]


def _field_problems(
    key: str, kind: type[Struct], value: Mapping[str, Any]
) -> list[tuple[Location, str]]:
    """The problem of each field of section ``key`` on its own (the type checks only)."""
    types = {info.name: info.type for info in msgspec.structs.fields(kind)}
    problems: list[tuple[Location, str]] = []
    for name, item in value.items():
        try:
            msgspec.convert(item, types[name], strict=False, dec_hook=_decode)
        except msgspec.ValidationError as exc:
            problems.append(_problem((key, name), str(exc)))
    return problems


def _decode(kind: type, value: object) -> object:
    """What msgspec cannot convert by itself: secrets and paths."""
    if kind is Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return Secret(value)
    elif kind is Path:
        if isinstance(value, str | os.PathLike):
            return Path(value)
    else:
        raise TypeError(f"no conversion to {kind.__name__}")
    raise ValueError(f"expected a string, got {_kind(value)}")


_AT = re.compile(r"(?s)(.*) - at `\$(.*)`")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_OWN = re.compile(r"(?s)([a-z_]+): (.*)")
_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}
_SHAPES = {
    "listen": "must be host:port (127.0.0.1:8080, say)",
    "url": "must be an http:// or https:// URL without spaces",
    "name": "must be letters, digits and . _ @ - only",
}
"""What a setting with a pattern must look like, by the setting's name."""
_COMPARISONS = {">=": "at least", ">": "greater than", "<=": "at most", "<": "less than"}


def _problem(base: Location, text: str) -> tuple[Location, str]:
    """Where and what, from a msgspec ``ValidationError`` (or a section's ``ValueError``)
    raised while converting the value at ``base``."""
    loc = list(base)
    found = _AT.fullmatch(text)
    if found is not None:
        text = found.group(1)
        for step in _STEP.finditer(found.group(2)):
            name, index = step.groups()
            loc.append(name if name is not None else index if index == "..." else int(index))
    if (match := re.fullmatch(r"Expected `([\w |]+)`, got `(\w+)`", text)) is not None:
        expected = " or ".join(_WORDS.get(word, word) for word in match.group(1).split(" | "))
        return tuple(loc), f"expected {expected}, got {_WORDS.get(match[2], match[2])}"
    if (match := re.fullmatch(r"Expected `\w+` (>=|>|<=|<) (\S+)", text)) is not None:
        bound = match[2].removesuffix(".0")
        return tuple(loc), f"must be {_COMPARISONS[match[1]]} {bound}"
    if re.fullmatch(r"Expected `str` matching regex '(.*)'", text) is not None:
        return tuple(loc), _SHAPES.get(str(loc[-1]) if loc else "", "has the wrong form")
    if (match := re.fullmatch(r"Expected `str` of length (>=|<=) (\d+)", text)) is not None:
        unit = "character" if match[2] == "1" else "characters"
        return tuple(loc), f"must be {_COMPARISONS[match[1]]} {match[2]} {unit} long"
    if (match := re.fullmatch(r"Invalid enum value (.*)", text)) is not None:
        choices = ", ".join(map(repr, _choices(tuple(loc))))
        return tuple(loc), f"must be one of {choices} (got {match[1]})"
    if match := re.fullmatch(r"Object (contains unknown|missing required) field `(.*)`", text):
        return (*loc, match[2]), "unknown setting" if match[1].startswith(
            "contains"
        ) else "required"
    if (match := _OWN.fullmatch(text)) is not None:  # a section's rule: "field: problem"
        return (*loc, match[1]), match[2]
    return tuple(loc), text


def _choices(loc: Location) -> tuple[object, ...]:
    """The values a ``Literal`` setting at ``loc`` may take."""
    kind: Any = Settings
    for part in loc:
        kind = _bare(kind)
        if isinstance(kind, type) and issubclass(kind, Struct) and isinstance(part, str):
            kind = {info.name: info.type for info in msgspec.structs.fields(kind)}.get(part)
        elif get_origin(kind) in (list, dict):
            kind = get_args(kind)[-1]
        else:
            return ()
    return get_args(_bare(kind))


def _bare(kind: Any) -> Any:
    """``kind`` without ``Annotated`` and without ``| None``."""
    while get_origin(kind) is Annotated:
        kind = get_args(kind)[0]
    args = [arg for arg in get_args(kind) if arg is not type(None)]
    if type(None) in get_args(kind) and len(args) == 1:
        return _bare(args[0])
    return kind


def _complex(kind: Any) -> bool:
    """Whether a variable for a setting of this type holds JSON (a section, list or mapping)."""
    kind = _bare(kind)
    return (isinstance(kind, type) and issubclass(kind, Struct)) or get_origin(kind) in (
        list,
        dict,
    )


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
    import yaml

    from switchover.domain.documents import decode_utf8, load_yaml, yaml_error_message

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
    """The ``SWITCHOVER_*`` variables of settings as nested data.

    ``SWITCHOVER_ENGINE__MAX_CONCURRENCY=4`` gives ``{"engine": {"max_concurrency": "4"}}``
    (names case-insensitive, ``__`` nesting); a variable for a section, list or mapping holds
    JSON. Variables naming no setting (``SWITCHOVER_CONFIG``, ``SWITCHOVER_TOKEN``) are not
    settings and are left out.
    """
    found: dict[str, Any] = {}
    variables = [
        (name, name[len(ENV_PREFIX) :].lower().split("__"))
        for name in os.environ
        if name.upper().startswith(ENV_PREFIX)
    ]
    for name, path in sorted(variables, key=lambda item: (len(item[1]), item[0])):
        if path[0] not in _FIELDS:
            continue
        text = os.environ[name]
        value: Any = _json_variable(name, text) if _complex(_type_at(path)) else text
        node = found
        for part in path[:-1]:
            below = node.get(part)
            if not isinstance(below, dict):
                below = node[part] = {}
            node = below
        below = node.get(path[-1])
        node[path[-1]] = (
            _merge(value, below) if isinstance(value, dict) and isinstance(below, dict) else value
        )
    return found


def _type_at(path: Sequence[str]) -> Any:
    """The type of the setting a variable's path names (Any below a mapping's keys)."""
    kind: Any = Settings
    for part in path:
        kind = _bare(kind)
        if isinstance(kind, type) and issubclass(kind, Struct):
            kind = {info.name: info.type for info in msgspec.structs.fields(kind)}.get(part, Any)
        elif get_origin(kind) is dict:
            kind = get_args(kind)[1]
        else:
            return Any
    return kind


def _json_variable(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"environment variable {name}: not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        ) from None


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``, mappings merged key by key."""
    merged = dict(base)
    for key, value in update.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(below, value)
        else:
            merged[key] = value
    return merged


def _gave(values: object, loc: Location) -> bool:
    """Whether source ``values`` gave the value at ``loc`` (or one that contains it)."""
    node = values
    for depth, part in enumerate(loc):
        if part == "...":  # some key of this mapping: the source gave the mapping
            return depth > 0
        if isinstance(node, Mapping):
            if part not in node:
                return False
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return depth > 0  # the error is inside a value the source gave
    return True


def _env_name(loc: Location) -> str:
    """The variable that gave the value at ``loc``: the most specific one that is set."""
    names = [str(part) for part in loc]
    present = {key.upper(): key for key in os.environ}
    for count in range(len(names), 0, -1):
        candidate = (ENV_PREFIX + "__".join(names[:count])).upper()
        if candidate in present:
            return present[candidate]
    return (ENV_PREFIX + names[0]).upper()


def _describe(
    problems: Sequence[tuple[Location, str]],
    file_name: str | None,
    file_values: Mapping[str, Any],
    env_values: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> str:
    described: list[str] = []
    for loc, message in problems:
        path = ".".join(_loc_name(part) for part in loc).replace(".[", "[")
        if _gave(overrides, loc):
            origin = ""
        elif _gave(env_values, loc):
            origin = f"environment variable {_env_name(loc)}: "
        elif file_name is not None and _gave(file_values, loc):
            origin = f"settings file {file_name!r}: "
        else:
            origin = ""
        described.append(f"{origin}{path}: {message}")
    return "invalid settings: " + "; ".join(described)


def _loc_name(part: str | int) -> str:
    if isinstance(part, int) or part == "...":
        return f"[{part}]"
    return part if part.isprintable() and len(part) <= 64 else repr(part)[:40] + "..."


def _raw_secrets(values: Mapping[str, Any]) -> list[str]:
    """The secrets among not-yet-validated settings data, for scrubbing a message about it."""
    found: list[str] = []

    def text(section: str, key: str) -> str | None:
        part = values.get(section)
        value = part.get(key) if isinstance(part, Mapping) else getattr(part, key, None)
        if isinstance(value, Secret):
            value = value.get_secret_value()
        return value if isinstance(value, str) else None

    url = text("redis", "url")
    if url is not None:
        found.extend(_url_secrets(url))
    found.extend(filter(None, (text("asbc", "token"), text("nacos", "password"))))
    return [value for value in found if value]
