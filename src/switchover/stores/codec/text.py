"""JSON text of the store's rows: compact, encoded by msgspec, read back with a fallback."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from switchover.errors import StoreError

_R = TypeVar("_R")


# msgspec's encoder writes the same compact JSON as ``json.dumps(separators=(",", ":"),
# ensure_ascii=False)`` five to seven times faster, and every stage boundary encodes a task row
# and its events (section 11 of bench/RESULTS.md).
_ENCODE = msgspec.json.Encoder().encode
_FAST_DECODE = msgspec.json.decode  # about twice json's speed: status and events read many rows
_DECODE = json.JSONDecoder().decode


def dumps(data: Mapping[str, Any]) -> str:
    """Serialise a JSON-safe mapping compactly.

    Args:
        data: the mapping, as produced by one of the ``*_to_dict`` functions.

    Returns:
        Compact JSON text (UTF-8 characters kept as they are).

    Raises:
        StoreError: ``data`` holds something JSON cannot represent.
    """
    try:
        return _ENCODE(data).decode()
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise StoreError(f"cannot encode record as JSON: {exc}") from exc


def loads(text: str | bytes) -> dict[str, Any]:
    """Parse JSON text that must hold an object.

    Raises:
        StoreError: the text is not valid JSON or not a JSON object.
    """
    try:
        data = _FAST_DECODE(text)
    except msgspec.DecodeError:  # what json reads and msgspec does not (e.g. ints over 64 bits)
        try:
            data = _DECODE(text if isinstance(text, str) else text.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise StoreError(f"stored record is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreError(f"stored record is not a JSON object: {type(data).__name__}")
    return data


def decoding(kind: str, build: Callable[[Mapping[str, Any]], _R], data: Mapping[str, Any]) -> _R:
    """``build(data)``, its failures on malformed data raised as one ``StoreError``."""
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(f"stored {kind} record is malformed: {exc!r}") from exc
