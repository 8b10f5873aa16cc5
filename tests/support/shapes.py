"""Checks of the JSON documents the project emits: versioned, and every time RFC 3339 text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from switchover.views import SCHEMA, parse_timestamp

RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
"""What ``views.timestamp`` writes: UTC, milliseconds, ``Z``."""

TIME_KEYS = frozenset({"at", "created_at", "updated_at", "expires_at"})
"""Keys that hold a time wherever they appear."""
NESTED_TIME_KEYS = {"gate": frozenset({"since", "until"}), "data": frozenset({"until"})}
"""Keys that hold a time inside an object of the given key (a rollout gate, event data)."""
EPOCH_LIKE = 1e9
"""A number this large in a document looks like epoch seconds (September 2001 on)."""


def time_fields(document: Any) -> dict[str, Any]:
    """Every time field of ``document`` (path → value), checked along the way.

    Raises:
        AssertionError: a time field holds anything but RFC 3339 text (or null), or any
            number in the document is large enough to be an epoch time.
    """
    found: dict[str, Any] = {}
    _walk(document, "", "", found)
    return found


def _walk(value: Any, path: str, key: str, found: dict[str, Any]) -> None:
    if isinstance(value, dict):
        timed = NESTED_TIME_KEYS.get(key, frozenset())
        for name, item in value.items():
            where = f"{path}.{name}" if path else str(name)
            if name in TIME_KEYS or name in timed:
                assert item is None or isinstance(item, str), f"{where} = {item!r}: not RFC 3339"
                if item is not None:
                    assert RFC3339_MS.match(item), f"{where} = {item!r}: not RFC 3339 UTC ms"
                    parse_timestamp(item)
                found[re.sub(r"\[\d+\]", "[]", where)] = item
            else:
                _walk(item, where, str(name), found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", key, found)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        assert abs(value) < EPOCH_LIKE, f"{path} = {value!r} looks like an epoch time"


def check_documents(documents: Iterable[Any]) -> dict[str, Any]:
    """Check that each of ``documents`` starts with the schema version and has only RFC 3339
    times; every time field seen (path → last value).

    Raises:
        AssertionError: a document is not an object, does not start with ``schema``, or
            fails ``time_fields``.
    """
    seen: dict[str, Any] = {}
    for document in documents:
        assert isinstance(document, dict), f"not a JSON object: {document!r}"
        assert next(iter(document), None) == "schema", f"schema is not first: {document!r}"
        assert document["schema"] == SCHEMA, document
        seen |= time_fields(document)
    return seen
