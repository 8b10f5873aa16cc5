"""Plan-file field rules shared by the exact path and the two quick paths, and record builders.

The exact path (pydantic, ``planfile``), the per-tenant quick path (``quickcheck``) and the
columnar path (``columns``) must agree on every rule: the patterns, the bounds and the parsing
of called-number rules live here, once. So do the builders that set a record's slots directly,
and the two signals a quick path raises to hand a document back to the exact path.
"""

from __future__ import annotations

import functools
import re

from pydantic.alias_generators import to_camel

from switchover.domain.documents import yaml11_reads_as_str

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
"""Integers that every store and wire format holds (a signed 64-bit integer, a Java long)."""

TENANT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PLAN_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
# What ipaddress.IPv4Address accepts (no leading zeros, ASCII digits), at regex speed.
IPV4_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")

CONTAINERS = (dict, list)
"""The containers loaded data is made of (exactly what ``json.loads`` makes)."""

# Field names are few and fixed; the conversion is a regex, run for every tenant.
camel = functools.cache(to_camel)


class InexactYamlError(Exception):
    """Data from the fast YAML loader holds a string YAML 1.1 reads otherwise, or a problem:
    the document is read again with PyYAML, whose data and messages are the reference."""


class TooDeepError(Exception):
    """A value nests deeper than MAX_DEPTH (checked here for loaders that leave it to us)."""


def split_rules(text: str) -> tuple[str, ...]:
    """Called-number rules: comma-separated, each trimmed, empty ones dropped."""
    return tuple(filter(None, map(str.strip, text.split(","))))


parse_rules = functools.lru_cache(maxsize=64)(split_rules)
"""``split_rules``, cached: a previous config often repeats its tenant's rules."""


@functools.lru_cache(maxsize=4096)
def is_ipv4(value: str) -> bool:
    """Whether ``value`` is a dotted IPv4 address (cached: a plan's addresses repeat)."""
    return IPV4_RE.fullmatch(value) is not None


def yaml11_str(value: str) -> bool:
    """``yaml11_reads_as_str``, settling at once the strings longer than any YAML 1.1 word
    that start with a letter (most of them)."""
    return (len(value) > 5 and value[0].isalpha()) or yaml11_reads_as_str(value)
