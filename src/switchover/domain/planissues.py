"""How a plan file's problems are worded: pydantic's errors and the rules spanning several
fields, each at its path and in the user's own spelling (``networkEndpoints[0].sourceIp`` in a
camelCase file, ``trunk_group`` in a snake_case one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_snake
from pydantic_core import ErrorDetails

from switchover.domain.documents import HugeInt as _HugeInt
from switchover.domain.planmodels import blank_to_none, path_part, show
from switchover.domain.planrules import camel, parse_rules

_TYPE_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "model_type": "must be an object (key: value mapping)",
    "model_attributes_type": "must be an object (key: value mapping)",
    "dict_type": "must be an object (key: value mapping)",
    "extra_forbidden": "unknown key",
    "invalid_key": "unknown key (keys must be strings)",
}


def _friendly(error: ErrorDetails) -> str:
    kind = error["type"]
    value = error["input"]
    if isinstance(value, _HugeInt) and kind in ("int_type", "plan_id_type"):
        return f"is too large (an integer of {value.digits} digits)"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = (error.get("ctx") or {}).get("ge" if kind == "greater_than_equal" else "le")
        least_or_most = "least" if kind == "greater_than_equal" else "most"
        return f"must be at {least_or_most} {bound} (got {show(value)})"
    if kind in _TYPE_MESSAGES:
        message = _TYPE_MESSAGES[kind]
        if kind not in ("missing", "extra_forbidden", "invalid_key"):
            message += f" (got {show(value)})"
        return message
    return error["msg"].removeprefix("Value error, ")


def _prefers_snake(container: object) -> bool:
    if not isinstance(container, Mapping):
        return False
    keys = [k for k in container if isinstance(k, str)]
    return any("_" in k for k in keys) and not any(k != k.lower() for k in keys)


def _join(path: Sequence[object]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool) and part.bit_length() < 64:
            text += f"[{part}]"
        else:
            name = path_part(part)
            text += f".{name}" if text else name
    return text


def pydantic_issues(
    exc: ValidationError, raw: object, prefix: Sequence[str | int] = ()
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        loc: list[object] = list(error["loc"])
        if error["type"] == "missing" and loc and isinstance(loc[-1], str):
            container = raw
            for part in loc[:-1]:
                container = _step_into(container, part)
            if _prefers_snake(container):
                loc[-1] = to_snake(loc[-1])
        elif error["type"] == "invalid_key" and loc:
            loc[-1] = show(loc[-1])  # a key such as 1 or null, not a list index
        found.append((_join([*prefix, *loc]), _friendly(error)))
    return found


def _step_into(container: object, part: object) -> object:
    if isinstance(part, int) and isinstance(container, list) and 0 <= part < len(container):
        return container[part]
    if isinstance(container, Mapping):
        return container.get(part)
    return None


def lookup(raw: Mapping[Any, Any], name: str) -> tuple[str, Any] | None:
    """The user's key for field ``name`` (snake_case) and its value, if present and not null."""
    for key in (camel(name), name):
        if raw.get(key) is not None:
            return key, raw[key]
    return None


def spelled(raw: Mapping[Any, Any], name: str) -> str:
    """How the user spells field ``name``: their key if present, else their file's style."""
    hit = lookup(raw, name)
    if hit is not None:
        return hit[0]
    return name if _prefers_snake(raw) else camel(name)


def _given(raw: Mapping[Any, Any], name: str) -> bool:
    hit = lookup(raw, name)
    return hit is not None and blank_to_none(hit[1]) is not None


def cross_field_issues(raw: Mapping[Any, Any], prefix: str) -> list[tuple[str, str]]:
    """Rules spanning several fields; they run even when pydantic rejected some field."""
    found: list[tuple[str, str]] = []
    has_rules, has_trunk = _given(raw, "called_number_rules"), _given(raw, "trunk_group")
    if has_rules != has_trunk:
        present, missing = "called_number_rules", "trunk_group"
        if has_trunk:
            present, missing = missing, present
        message = f"is required when {spelled(raw, present)} is given"
        found.append((prefix + spelled(raw, missing), message))
    rules = lookup(raw, "called_number_rules")
    if has_rules and rules is not None and isinstance(rules[1], str) and not parse_rules(rules[1]):
        message = "contains no rules (expected comma-separated numbers)"
        found.append((prefix + rules[0], message))
    endpoints = lookup(raw, "network_endpoints")
    if endpoints is not None and isinstance(endpoints[1], list):
        for index, endpoint in enumerate(endpoints[1]):
            if not isinstance(endpoint, Mapping):
                continue
            for side in ("source", "target"):
                if not (_given(endpoint, f"{side}_ip") or _given(endpoint, f"{side}_domain")):
                    ip_key = spelled(endpoint, f"{side}_ip")
                    domain_key = spelled(endpoint, f"{side}_domain")
                    message = f"{side} side needs {ip_key} or {domain_key}"
                    found.append((f"{prefix}{endpoints[0]}[{index}]", message))
    return found
