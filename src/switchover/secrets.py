"""Masking of secret values (tokens, passwords) in text and JSON-like data a peer sends back.

A peer that refuses a request may quote it in its answer: an ASBC's 401 body can echo the
``Authorization`` header. Whatever switchover copies from an answer into a message or the
details of an error ends up in run output, events and the store, so it goes through a
``Scrubber`` first.

A leaf module: it imports nothing of switchover.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast
from urllib.parse import quote

MASK = "***"
"""What every occurrence of a secret becomes."""

HIDDEN = "**********"
"""How a ``Secret`` shows itself: in ``repr``, ``str`` and the settings' dumps."""


class Secret:
    """A secret setting (password, token, URL with credentials): hidden unless asked for.

    ``repr`` and ``str`` show ``**********``, so a secret logged or printed by accident stays
    hidden; ``get_secret_value()`` is the one way to the text. Equal when the texts are.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({HIDDEN!r})"

    def __str__(self) -> str:
        return HIDDEN

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash(self._value)


_T = TypeVar("_T")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _percent_pattern(encoded: str) -> str:
    """A pattern for ``encoded`` whose ``%XX`` escapes match in either case (``%2f``, ``%2F``)."""
    parts: list[str] = []
    position = 0
    for escape in _PERCENT_ESCAPE.finditer(encoded):
        parts.append(re.escape(encoded[position : escape.start()]))
        parts.append(f"(?i:{re.escape(escape.group())})")
        position = escape.end()
    parts.append(re.escape(encoded[position:]))
    return "".join(parts)


class Scrubber:
    """Replaces every occurrence of a set of secrets with ``***``.

    Each non-empty secret is masked in two forms: as it is (which also covers
    ``Bearer <token>``) and percent-encoded with nothing left safe (``quote(secret, safe="")``,
    hex digits in either case), as a peer echoing a query string or form body would write it.

    Every non-empty secret is masked wherever it occurs, however short. A secret of one or two
    characters therefore masks unrelated text too (a token ``"ab"`` turns ``"tab"`` into
    ``"t***"``); that over-masking is visible and harmless, whereas skipping short secrets or
    matching them only between word boundaries could leak one. Keeping secrets long is the
    settings' business, not this class's.

    Where occurrences of different secrets overlap, the whole overlapping stretch becomes one
    ``***``, so no fragment of either survives; at any position the longest secret is tried
    first. A scrubber without secrets returns its input unchanged at the cost of one
    attribute check.
    """

    __slots__ = ("_count", "_pattern", "_probe")

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        """Compile one pattern over every form of every secret.

        Args:
            secrets: the secret values; None and empty strings are ignored.
        """
        values = {value for value in secrets if value}
        # Each form with the length of the text it matches, which orders the alternation.
        forms: dict[str, int] = {}
        for value in values:
            forms[re.escape(value)] = len(value)
            encoded = quote(value, safe="")
            if encoded != value:
                forms[_percent_pattern(encoded)] = len(encoded)
        self._count = len(values)
        self._pattern: re.Pattern[str] | None = None
        self._probe: re.Pattern[str] | None = None
        if forms:
            # Longest first, so that a secret containing another is masked whole.
            alternation = "|".join(sorted(forms, key=lambda form: (-forms[form], form)))
            self._pattern = re.compile(alternation)
            # Zero-width, so that finditer reports the longest match at every position,
            # overlapping ones included.
            self._probe = re.compile(f"(?=({alternation}))")

    @classmethod
    def empty(cls) -> Scrubber:
        """The scrubber without secrets (one shared instance): every method returns its input."""
        return _EMPTY

    def __bool__(self) -> bool:
        """True when there is at least one secret to mask."""
        return self._pattern is not None

    def __repr__(self) -> str:
        # Never the secrets themselves: a scrubber may end up in a log or a traceback.
        return f"Scrubber(<{self._count} secret{'s' if self._count != 1 else ''}>)"

    def scrub(self, text: str) -> str:
        """Return ``text`` with every occurrence of a secret replaced by ``***``.

        Args:
            text: any text.

        Returns:
            The masked text; ``text`` itself when it holds no secret.
        """
        pattern = self._pattern
        if pattern is None:
            return text
        first = pattern.search(text)
        if first is None:
            return text
        assert self._probe is not None  # compiled together with the pattern
        pieces: list[str] = []
        kept = 0  # text[:kept] is already in pieces
        start = end = -1  # the stretch being masked
        for match in self._probe.finditer(text, first.start()):
            here, there = match.start(), match.start() + len(match.group(1))
            if here < end:  # overlaps the current stretch: extend it
                end = max(end, there)
                continue
            if end >= 0:
                pieces.append(text[kept:start])
                pieces.append(MASK)
                kept = end
            start, end = here, there
        pieces.append(text[kept:start])
        pieces.append(MASK)
        pieces.append(text[end:])
        return "".join(pieces)

    def scrub_data(self, obj: _T) -> _T:
        """Return ``obj`` with every string in it scrubbed, mapping keys included.

        Mappings come back as dicts, lists as lists, tuples as tuples; numbers, booleans, None
        and other objects come back as they are.

        Args:
            obj: JSON-like data (what ``json.loads`` returns, or error details).

        Returns:
            The scrubbed copy; ``obj`` itself when there are no secrets.
        """
        if self._pattern is None:
            return obj
        return cast(_T, self._scrub_any(obj))

    def _scrub_any(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.scrub(obj)
        if isinstance(obj, Mapping):
            return {self._scrub_any(key): self._scrub_any(value) for key, value in obj.items()}
        if isinstance(obj, list):
            return [self._scrub_any(item) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self._scrub_any(item) for item in obj)
        return obj


_EMPTY = Scrubber()
