"""The whole-plan path: the tenants of a big plan checked and built field by field, not one by one.

A plan of 100,000 tenants is nearly always uniform: every tenant plainly valid, written in the
same camelCase keys. Here msgspec (C) reads the tenants into typed rows, in one pass straight
from JSON or from the fast YAML loader's data, so that types, integer bounds and unknown keys
are settled there; the other rules of the per-tenant quick path (``quickcheck``) then run over
each field's column at once (a C-level loop per rule), and the records are built a field at a
time, their slots set directly.

Nothing is reported from here. Whatever looks doubtful (a value the quick path would not take,
a key it would have to translate or ignore) makes :func:`check` return None, and the caller
checks the plan again the per-tenant way, which words every problem. A plan this path accepts
is one the per-tenant path accepts, with the same records (the tests compare them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain, compress, islice, repeat
from typing import Annotated, Any, TypeVar

import msgspec

from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.planrules import (
    INT_MAX,
    INT_MIN,
    IPV4_RE,
    PLAN_ID_RE,
    TENANT_ID_RE,
    split_rules,
    yaml11_str,
)
from switchover.domain.records import TenantSpec

# ---------------------------------------------------------------------------------------------
# Rows. Exact types (msgspec is strict: no bool for an int, no float for either), upstream's
# camelCase keys only, unknown keys refused: a snake_case or unknown key, which the per-tenant
# path translates or ignores (after bounding its depth), sends the plan that way. No row refers
# to another, so the collector need not track them.

_StoredInt = Annotated[int, msgspec.Meta(ge=INT_MIN, le=INT_MAX)]
_Version = Annotated[int, msgspec.Meta(ge=0, le=INT_MAX)]


class _Endpoint(msgspec.Struct, rename="camel", forbid_unknown_fields=True, gc=False):
    key: str
    source_ip: str | None = None
    source_domain: str | None = None
    target_ip: str | None = None
    target_domain: str | None = None


class _Config(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True, gc=False):
    tenant_id: str | None = None
    plan_id: str | int | None = None
    plan_version: _Version | None = None
    deploy_unit_id: _StoredInt | None = None
    deploy_unit_version: _StoredInt | None = None
    deploy_unit_name: str | None = None
    network_endpoints: list[_Endpoint] | None = None
    nacos_name_space: str | None = None
    called_number_rules: str | None = None
    trunk_group: str | None = None
    default_flag: bool | None = None


class _Previous(_Config, kw_only=True):
    # Its planVersion is required (rollback writes it); its own previous config, which is not
    # read, is refused here rather than bounded.
    plan_version: _Version


class _Tenant(_Config, kw_only=True):
    tenant_id: str
    source_tenant_deploy_config: _Previous | None = None


class _Document(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    tenants: list[_Tenant]
    plan: msgspec.Raw = msgspec.Raw(b"null")  # loaded by json, as the per-tenant path loads it


_JSON_DECODER = msgspec.json.Decoder(_Document | list[_Tenant])
_TENANT_ROWS = list[_Tenant]


@dataclass(frozen=True, slots=True)
class Rows:
    """A plan's tenants as typed rows, and its ``plan`` section as loaded (None: none).

    ``printable``: every string in the rows is known to be printable ASCII; ``blank_free``:
    known to be printable ASCII and not blank. ``loaded``: the loaded tenant configs the rows
    were read from, if any.
    """

    section: object
    tenants: list[_Tenant]
    printable: bool = False
    blank_free: bool = False
    loaded: list[Any] | None = None


def json_rows(source: bytes | str) -> Rows | None:
    """The rows of a JSON plan document (either shape); None when msgspec refuses it.

    The section and the rows hold what ``json.loads`` would have loaded.
    """
    try:
        document = _JSON_DECODER.decode(source)
    except (ValueError, RecursionError):  # msgspec's errors are ValueErrors
        return None
    printable = _printable_json(source)
    if isinstance(document, list):
        return Rows(None, document, printable)
    try:
        section = json.loads(bytes(document.plan))
    except (ValueError, RecursionError):  # an integer too long to convert, for one
        return None
    return Rows(section, document.tenants, printable)


def _printable_json(source: bytes | str) -> bool:
    # Without escapes (a backslash), DEL or anything but ASCII, a JSON document's strings hold
    # printable ASCII only: the decoder refuses the other control characters unescaped.
    if isinstance(source, str):
        return source.isascii() and "\\" not in source and "\x7f" not in source
    return source.isascii() and b"\\" not in source and b"\x7f" not in source


def yaml_strings(source: bytes | str) -> tuple[bool, bool]:
    """What ``source`` vouches for the strings of the fast YAML loader's data from it:
    ``(printable, blank_free)`` as in ``Rows``.

    ``source`` passed the loader's screen, so holds no control character but line breaks, and
    no escape; a string may still hold a line break, from a blank line inside a multi-line
    scalar: there is none when no line is blank or ends with a space. Without quotes, every
    string is a plain scalar, which is not blank (an empty one is null).
    """
    if isinstance(source, str):
        printable = source.isascii() and "\n\n" not in source and " \n" not in source
        return printable, printable and "'" not in source and '"' not in source
    printable = source.isascii() and b"\n\n" not in source and b" \n" not in source
    return printable, printable and b"'" not in source and b'"' not in source


def data_rows(tenants: list[Any]) -> list[_Tenant] | None:
    """The rows of loaded tenant configs (from ``json.loads`` or the fast YAML loader: dicts,
    lists and scalars of exactly their types); None when msgspec refuses them."""
    try:
        return msgspec.convert(tenants, _TENANT_ROWS)
    except (ValueError, RecursionError):
        return None


# ---------------------------------------------------------------------------------------------
# Columns: one field of every row, checked with one C-level loop per rule. The helpers return
# a column as the quick path converts it (a blank text to None, rules text to rules), or None
# when some value is one the quick path would not take.

_T = TypeVar("_T")
_R = TypeVar("_R")
_TENANT_ID_MATCH = TENANT_ID_RE.fullmatch
_PLAN_ID_MATCH = PLAN_ID_RE.fullmatch
_IPV4_MATCH = IPV4_RE.fullmatch


def _present(column: list[_T | None]) -> list[_T]:
    """The column's values, None left out."""
    if None not in column:
        return column  # type: ignore[return-value]  # no None in it
    return [value for value in column if value is not None]


def _distinct(column: Iterable[_T | None]) -> set[_T]:
    values = set(column)
    values.discard(None)
    return values  # type: ignore[return-value]  # None is gone


def _ips(column: list[str | None]) -> list[str | None] | None:
    """OptionalIPv4: None, blank (None) or a dotted IPv4 address."""
    distinct = _distinct(column)  # a plan's addresses repeat (their gateways)
    if all(map(_IPV4_MATCH, distinct)):
        return column
    table: dict[str | None, str | None] = {None: None}
    for text in distinct:
        if _IPV4_MATCH(text):
            table[text] = text
        elif not text.strip():
            table[text] = None
        else:
            return None
    return list(map(table.__getitem__, column))


def _plan_ids(column: list[Any]) -> list[str | None] | None:
    """PlanIdText (a string, or an integer as text) or None."""
    distinct: set[str | int] = _distinct(column)  # most plans give one, or none
    if all(type(value) is str for value in distinct):
        return column if all(map(_PLAN_ID_MATCH, distinct)) else None  # type: ignore[arg-type]
    table: dict[str | int | None, str | None] = {None: None}
    for value in distinct:
        if type(value) is int and value.bit_length() > 256:
            return None  # more than 64 digits: no plan id
        text = str(value)
        if _PLAN_ID_MATCH(text) is None:
            return None
        table[value] = text
    return list(map(table.__getitem__, column))


def _paired(rules: list[tuple[str, ...]], trunks: list[str | None]) -> bool:
    """Whether each config has both rules and a trunk group, or neither."""
    if () not in rules:
        return None not in trunks
    return not any(map(_alone, rules, trunks))


def _alone(rules: tuple[str, ...], trunk: str | None) -> bool:
    return bool(rules) != (trunk is not None)


def _sides(ips: list[str | None], domains: list[str | None]) -> bool:
    """Whether the side of each route has an address or a domain."""
    return None not in ips or None not in domains or not any(map(_neither, ips, domains))


def _neither(ip: str | None, domain: str | None) -> bool:
    return ip is None and domain is None


# ---------------------------------------------------------------------------------------------
# Building: records from columns, one column per field in the record's field order.


def _records(cls: type[_T], count: int, columns: Sequence[Iterable[object]]) -> list[_T]:
    """``count`` instances of ``cls``, one per row of ``columns`` (one column per field, in
    field order), built by its own constructor (a msgspec Struct's, in C)."""
    return list(islice(map(cls, *columns), count))


@dataclass(frozen=True, slots=True)
class _Routes:
    """The checked columns of one level's route rules (all configs' in a row), and how many
    each config has; built into records only once the whole plan is accepted."""

    counts: list[int]
    columns: tuple[list[Any], ...]  # key ... target domain, in NetworkEndpoint's order

    def records(self) -> list[tuple[NetworkEndpoint, ...]]:
        """Each config's route rules."""
        if not self.columns:
            return [()] * len(self.counts)
        built = _records(NetworkEndpoint, len(self.columns[0]), self.columns)
        if self.counts.count(1) == len(self.counts):
            return list(zip(built))  # one route each, as in most plans
        routes = iter(built)
        return list(map(tuple, map(islice, repeat(routes), self.counts)))


@dataclass(frozen=True, slots=True)
class _Level:
    """The checked, converted columns of one level of configs, in row order."""

    plan_ids: list[str | None]
    versions: list[int | None]
    units: tuple[list[Any], list[Any], list[Any]]  # deploy unit id, version and name
    routes: _Routes
    others: tuple[list[Any], ...]  # namespace ... default flag, in TenantConfig's order

    def records(
        self, tenant_ids: list[str], plan_ids: Iterable[str], versions: Iterable[int | None]
    ) -> list[TenantConfig]:
        """The level's TenantConfigs, with these identities (one per row)."""
        return _records(
            TenantConfig,
            len(tenant_ids),
            (tenant_ids, plan_ids, versions, *self.units, self.routes.records(), *self.others),
        )


# ---------------------------------------------------------------------------------------------
# Checking.


class _Checker:
    """One plan's check: what its source vouches for, what it has seen so far.

    Args:
        printable: every string is known to be printable.
        blank_free: every string is known to be printable and not blank.
        yaml11: the rows are from the fast YAML loader: the strings the quick path would check
            must read as strings in YAML 1.1 too (collected in ``strings``).
    """

    def __init__(self, *, printable: bool, blank_free: bool, yaml11: bool) -> None:
        self.printable = printable or blank_free
        self.blank_free = blank_free
        self.strings: list[Iterable[str]] | None = [] if yaml11 else None
        # Each field's first column and its verdict: a previous config mostly repeats its
        # tenant's config, and an equal column (one C-level comparison) has the same verdict.
        self.seen: dict[str, tuple[list[Any], Any]] = {}
        self.rules: dict[str, tuple[str, ...]] = {}

    def field(self, name: str, column: list[Any], check: Callable[[list[Any]], _R]) -> _R:
        """``check(column)``, or the verdict on an equal column of the same field."""
        seen = self.seen.get(name)
        if seen is not None and seen[0] == column:
            return seen[1]  # type: ignore[no-any-return]
        verdict = check(column)
        self.seen[name] = (column, verdict)
        return verdict

    def collect(self, strings: Iterable[str]) -> None:
        """Strings that YAML 1.1 must read as strings too (for data of the fast YAML loader)."""
        if self.strings is not None:
            self.strings.append(strings)

    def texts(self, texts: list[str], *, blank: bool) -> bool:
        """Whether every one of ``texts`` is printable and (unless ``blank``) not blank."""
        if not (self.printable or all(map(str.isprintable, texts))):
            return False
        return blank or self.blank_free or all(map(str.strip, texts))

    def plain_texts(
        self, column: list[str | None], *, repeating: bool = False
    ) -> list[str | None] | None:
        """NonBlankText (or None): printable text that is not blank.

        ``repeating``: the field's values repeat across a plan (the YAML 1.1 reading of each is
        checked once).
        """
        present = _present(column)
        if not self.texts(present, blank=False):
            return None
        self.collect(_distinct(present) if repeating else present)
        return column

    def namespaces(self, column: list[str | None]) -> list[str | None] | None:
        """A namespace (or None): printable text."""
        if not self.texts(_present(column), blank=True):
            return None
        self.collect(_distinct(column))  # a plan's namespaces repeat: each is checked once
        return column

    def optional_texts(
        self, column: list[str | None], *, repeating: bool = False
    ) -> list[str | None] | None:
        """OptionalText: None, blank (None) or printable text (``repeating``: as above)."""
        present = _present(column)
        if not self.texts(present, blank=False):
            table: dict[str | None, str | None] = {None: None}
            for text in _distinct(column):
                if not text.strip():
                    table[text] = None
                elif text.isprintable():
                    table[text] = text
                else:
                    return None  # the exact path tells which other characters are allowed
            column = list(map(table.__getitem__, column))
            present = _present(column)
        self.collect(_distinct(present) if repeating else present)
        return column

    def plan_ids(self, column: list[Any]) -> list[str | None] | None:
        """PlanIdText (a string, or an integer as text) or None."""
        self.collect([value for value in _distinct(column) if type(value) is str])
        return _plan_ids(column)

    def called_number_rules(
        self, column: list[str | None]
    ) -> tuple[list[tuple[str, ...]], list[str]] | None:
        """RulesText: None or blank (no rules), or printable comma-separated rules (one at least).

        Returns the rules of each value, and the texts that hold some.
        """
        texts = _present(column)
        known = self.rules
        if known:
            parsed = [known.get(text) or split_rules(text) for text in texts]
        else:
            parsed = list(map(split_rules, texts))
        holding = texts
        if () in parsed:
            # A text without a rule must be blank (it means none).
            if any(text.strip() for text, rules in zip(texts, parsed, strict=True) if not rules):
                return None
            holding = [text for text, rules in zip(texts, parsed, strict=True) if rules]
        # Breaks and tabs between rules are left to the exact path, which checks each rule.
        if not self.texts(holding, blank=True):
            return None
        if not known:
            self.rules = dict(zip(texts, parsed, strict=True))
        if texts is not column:
            found = iter(parsed)
            parsed = [next(found) if text is not None else () for text in column]
        self.collect(holding)
        return parsed, holding

    def endpoints(self, lists: list[list[_Endpoint] | None]) -> _Routes | None:
        """Each config's route rules, checked; None when one is doubtful."""
        counts = [len(routes) if routes is not None else 0 for routes in lists]
        rows = list(chain.from_iterable(filter(None, lists)))
        if not rows:
            return _Routes(counts, ())
        keys = self.field("key", [row.key for row in rows], self.plain_texts)
        source_ips = self.field("source_ip", [row.source_ip for row in rows], _ips)
        target_ips = self.field("target_ip", [row.target_ip for row in rows], _ips)
        source_domains = self.field(
            "source_domain", [row.source_domain for row in rows], self.optional_texts
        )
        target_domains = self.field(
            "target_domain", [row.target_domain for row in rows], self.optional_texts
        )
        if (
            keys is None
            or source_ips is None
            or target_ips is None
            or source_domains is None
            or target_domains is None
            or not _sides(source_ips, source_domains)
            or not _sides(target_ips, target_domains)
        ):
            return None
        return _Routes(counts, (keys, source_ips, source_domains, target_ips, target_domains))

    def level(self, rows: Sequence[_Config]) -> _Level | None:
        """One level's columns (the configs, or the previous configs), checked as the quick path
        checks each config; None when one is doubtful."""
        plan_ids = self.field("plan_id", [row.plan_id for row in rows], self.plan_ids)
        names = self.field(
            "name",
            [row.deploy_unit_name for row in rows],
            partial(self.plain_texts, repeating=True),
        )
        namespaces = self.field(
            "namespace", [row.nacos_name_space for row in rows], self.namespaces
        )
        trunks = self.field(
            "trunk", [row.trunk_group for row in rows], partial(self.optional_texts, repeating=True)
        )
        rules = self.field(
            "rules", [row.called_number_rules for row in rows], self.called_number_rules
        )
        if (
            plan_ids is None
            or names is None
            or namespaces is None
            or trunks is None
            or rules is None
            or not _paired(rules[0], trunks)
        ):
            return None
        endpoints = self.endpoints([row.network_endpoints for row in rows])
        if endpoints is None:
            return None
        units = (
            [row.deploy_unit_id for row in rows],
            [row.deploy_unit_version for row in rows],
            names,
        )
        others = (namespaces, rules[0], trunks, [row.default_flag for row in rows])
        return _Level(plan_ids, [row.plan_version for row in rows], units, endpoints, others)

    def yaml11_alike(self) -> bool:
        """Whether YAML 1.1 reads every string collected as a string too."""
        return self.strings is None or all(map(yaml11_str, chain.from_iterable(self.strings)))


@dataclass(frozen=True, slots=True)
class Checked:
    """A plan's tenants, every one plainly valid, ready to be built once the plan-wide planId
    and planVersion are settled (``plan_ids``, ``versions``: the values tenants give)."""

    tenant_ids: list[str]
    plan_ids: set[str]
    versions: set[int]
    _configs: _Level
    _previous: _Level | None
    _has_previous: list[bool] | None  # None: every tenant has a previous config

    def specs(self, plan_id: str, version: int) -> tuple[TenantSpec, ...]:
        """The tenant specs, in input order, with the plan-wide ``plan_id`` and ``version``."""
        count = len(self.tenant_ids)
        configs = self._configs.records(self.tenant_ids, repeat(plan_id), repeat(version))
        previous: Iterable[TenantConfig | None] = repeat(None, count)
        level = self._previous
        if level is not None:
            owners = self.tenant_ids
            if self._has_previous is not None:
                owners = list(compress(owners, self._has_previous))
            plan_ids = (given or plan_id for given in level.plan_ids)
            built = level.records(owners, plan_ids, level.versions)
            if self._has_previous is None:
                previous = built
            else:
                found = iter(built)
                previous = [next(found) if has else None for has in self._has_previous]
        return tuple(_records(TenantSpec, count, (configs, previous)))


def check(
    tenants: Sequence[_Tenant], *, yaml11: bool, printable: bool = False, blank_free: bool = False
) -> Checked | None:
    """The tenants checked as the quick path checks each of them; None when one is doubtful.

    Args:
        tenants: the plan's rows, at least one.
        yaml11: the rows are from the fast YAML loader's data: each string the quick path
            checks must read as a string in YAML 1.1 too.
        printable: every string in the rows is known to be printable.
        blank_free: every string in the rows is known to be printable and not blank.

    Returns:
        The checked tenants, or None: some tenant is one the per-tenant path must check (it
        may be valid; the data may also be the fast YAML loader's that YAML 1.1 reads otherwise).
    """
    tenant_ids = [tenant.tenant_id for tenant in tenants]
    if not all(map(_TENANT_ID_MATCH, tenant_ids)) or len(set(tenant_ids)) != len(tenant_ids):
        return None  # an invalid or duplicate tenantId: an issue
    checker = _Checker(printable=printable, blank_free=blank_free, yaml11=yaml11)
    checker.collect(tenant_ids)
    configs = checker.level(tenants)
    if configs is None:
        return None
    sources = [tenant.source_tenant_deploy_config for tenant in tenants]
    has_previous: list[bool] | None = None
    owners = tenant_ids
    if None in sources:
        has_previous = [source is not None for source in sources]
        owners = list(compress(tenant_ids, has_previous))
    rows = [source for source in sources if source is not None]
    previous = None
    if rows:
        previous = checker.level(rows)
        if previous is None:
            return None
        given = [row.tenant_id for row in rows]
        # A previous config's tenantId, when given, is the tenant's own.
        if given != owners and not all(map(_absent_or_same, given, owners)):
            return None
    if not checker.yaml11_alike():
        return None
    return Checked(
        tenant_ids,
        _distinct(configs.plan_ids),
        _distinct(configs.versions),
        configs,
        previous,
        has_previous,
    )


def _absent_or_same(given: str | None, own: str) -> bool:
    return given is None or given == own
