"""Loading the settings: defaults < a YAML file < ``SWITCHOVER_*`` variables < overrides.

Each source is read as data and merged; msgspec converts the result into the model's structs.
A problem is worded for people (``must be at least 1``, ``unknown setting``) and blamed on the
source that gave the value: the variable, the file, or the caller.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import msgspec
from msgspec import Struct

from switchover.errors import SettingsError
from switchover.secrets import Scrubber, Secret
from switchover.settings.model import FIELDS, Settings
from switchover.settings.urls import url_secrets

ENV_PREFIX = "SWITCHOVER_"
"""Every environment variable of the settings starts with this; ``__`` separates nesting."""
MAX_SETTINGS_SIZE = 16 * 2**20
"""The largest settings file accepted, in bytes."""


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
    merged = merge(merge(file_values, env_values), overrides)
    if name is not None and isinstance(file_values.get("store"), str | Path):
        # A store named in a settings file is where that file says, wherever the command runs.
        stored = Path(file_values["store"]).expanduser()
        if not stored.is_absolute() and "store" not in env_values and "store" not in overrides:
            merged["store"] = Path(name).absolute().parent / stored
    loaded = validated(merged, name, file_values, env_values, overrides)
    if name is not None:
        loaded.__dict__[Settings._SOURCE] = Path(name).absolute()
    return loaded


def validated(
    merged: Mapping[str, Any],
    file_name: str | None,
    file_values: Mapping[str, Any],
    env_values: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> Settings:
    """``Settings`` of the merged sources, each problem blamed on the source that gave it.

    Raises:
        SettingsError: one line naming every problem, scrubbed of the secrets given.
    """
    loaded, problems = _build(merged)
    if loaded is None:
        message = _describe(problems, file_name, file_values, env_values, overrides)
        raise SettingsError(Scrubber(_raw_secrets(merged)).scrub(message))
    return loaded


Location = tuple[str | int, ...]
"""Where in the settings a problem is: ``("engine", "max_concurrency")``, ``("serve", "tokens",
0, "name")``; ``"..."`` stands for a key of a mapping."""


def _build(merged: Mapping[str, Any]) -> tuple[Settings | None, list[tuple[Location, str]]]:
    """The settings made of ``merged``, or None and every problem found (at most one per
    section, besides every unknown name)."""
    problems: list[tuple[Location, str]] = []
    values: dict[str, Any] = {}
    for key, value in merged.items():
        kind = FIELDS.get(key)
        if kind is None:
            problems.append(((key,), _unknown(key, FIELDS)))
            continue
        if isinstance(value, Mapping) and _is_section(kind):
            unknown = [name for name in value if name not in kind.__struct_fields__]
            if unknown:
                names = kind.__struct_fields__
                problems.extend(((key, name), _unknown(name, names)) for name in unknown)
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
    types = _field_types(kind)
    problems: list[tuple[Location, str]] = []
    for name, item in value.items():
        problems.extend(_value_problems((key, name), types[name], item))
    return problems


def _value_problems(loc: Location, kind: Any, value: object) -> list[tuple[Location, str]]:
    """Why ``value`` is no ``kind``: one problem, or one per entry of a mapping (so that the
    entry is named), or none."""
    if isinstance(value, float) and math.isnan(value):
        return [(loc, "must be a finite number")]
    if get_origin(_bare(kind)) is dict and isinstance(value, Mapping):
        item_kind = get_args(_bare(kind))[1]
        found = [
            problem
            for k, v in value.items()
            for problem in _value_problems((*loc, k), item_kind, v)
        ]
        if found:
            return found
    try:
        msgspec.convert(value, kind, strict=False, dec_hook=_decode)
    except msgspec.ValidationError as exc:
        return [_problem(loc, str(exc))]
    return []


def _unknown(name: object, known: Collection[str]) -> str:
    """``unknown setting``, with the setting meant when the name is a near miss of one."""
    import difflib

    close = difflib.get_close_matches(str(name), list(known), n=1) if isinstance(name, str) else []
    return f"unknown setting (did you mean {close[0]}?)" if close else "unknown setting"


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
    return get_args(_bare(_type_at(loc)))


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
    return _is_section(kind) or get_origin(kind) in (list, dict)


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
        if path[0] not in FIELDS:
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
            merge(value, below) if isinstance(value, dict) and isinstance(below, dict) else value
        )
    return found


def _type_at(loc: Sequence[str | int]) -> Any:
    """The type of the setting at ``loc`` (a variable's path, or a problem's); Any where the
    settings name no type (below a mapping's keys, say)."""
    kind: Any = Settings
    for part in loc:
        kind = _bare(kind)
        if _is_section(kind):
            kind = _field_types(kind).get(part, Any) if isinstance(part, str) else Any
        elif get_origin(kind) is dict or (get_origin(kind) is list and isinstance(part, int)):
            kind = get_args(kind)[-1]
        else:
            return Any
    return kind


def _is_section(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, Struct)


def _field_types(kind: type[Struct]) -> dict[str, Any]:
    """Each field of a section and its type."""
    return {info.name: info.type for info in msgspec.structs.fields(kind)}


def _json_variable(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"environment variable {name}: not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        ) from None


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``, mappings merged key by key."""
    merged = dict(base)
    for key, value in update.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = merge(below, value)
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
        found.extend(url_secrets(url))
    found.extend(filter(None, (text("asbc", "token"), text("nacos", "password"))))
    return [value for value in found if value]
