"""Documents as switchover reads them: bytes to text, text to data (JSON or YAML), bounded.

Plan files and settings files are loaded here: UTF-8 decoding, JSON and YAML within bounds on
size, nesting depth and alias expansion, so that no input is expensive to refuse. Pure: text
in, data or a clear error out.
"""

from __future__ import annotations

import codecs
import functools
import json
import operator
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain, compress
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import Node, ScalarNode, SequenceNode

from switchover.errors import PlanValidationError, ValidationIssue

try:
    # The C loader matters for plans with tens of thousands of tenants.
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

try:
    # Ten times faster than PyYAML's C loader on big plans; see load_yaml_fast for when it is used.
    import yaml_rs as _yaml_rs
except ImportError:  # pragma: no cover - a declared dependency; without it PyYAML does all
    _yaml_rs = None  # type: ignore[assignment]

MAX_PLAN_SIZE = 256 * 1024 * 1024
"""The largest plan file accepted, in bytes (a plan of 100,000 tenants is about 60 MB)."""
MAX_DEPTH = 64
"""How deeply lists and mappings may nest in a loaded document; a plan needs about six levels."""
# Loading a YAML document may visit, aliases expanded, twice as many values as the text has
# characters, and at least this many.
_MIN_NODE_BUDGET = 100_000
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True, slots=True)
class HugeInt:
    """An integer literal too long for Python to convert (``sys.get_int_max_str_digits``).

    Loading keeps it in place of the value, so that it is reported on its own field.
    """

    digits: int


# ---------------------------------------------------------------------------------------------
# Loading: bytes to text, text to data, each step bounded so that no input is expensive.


def decode_utf8(data: bytes) -> str:
    """Decode ``data`` as UTF-8 text; a leading byte-order mark is allowed and dropped.

    Raises:
        ValueError: ``data`` is not UTF-8; the message names the first bad byte and its offset.
    """
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return str(memoryview(data)[start:], "utf-8")
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        hint = ""
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            hint = " (the file looks like UTF-16; save it as UTF-8)"
        message = f"not UTF-8 text: invalid byte 0x{data[offset]:02x} at offset {offset}{hint}"
        raise ValueError(message) from None


class _LoadError(yaml.MarkedYAMLError):
    """A document over one of the loading bounds, or text that cannot be loaded at all."""

    def __init__(self, problem: str, mark: yaml.Mark | None = None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _BoundedLoader(_SafeLoader):
    """The safe loader, bounded in nesting depth and alias expansion.

    Aliases make a YAML document a graph whose expansion can be exponentially larger than its
    text, and everything after loading (validation, messages) walks the expansion. The graph is
    checked before anything is constructed from it.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        # Without aliases a document has fewer values than characters, so the budget only
        # ever stops alias expansion; it grows with the input so big plans may use aliases too.
        self.node_budget = max(_MIN_NODE_BUDGET, 2 * len(text))

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_nodes(node, self.node_budget)
        return self.construct_document(node)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # Most values of a plan are plain strings: take them straight from the node, skipping
        # the constructor lookup and the per-node bookkeeping (which change nothing for them).
        if node.tag == _STR_TAG and type(node) is ScalarNode:
            return node.value
        return super().construct_object(node, deep)


def _check_nodes(root: Node, budget: int) -> None:
    """Raise _LoadError when ``root`` nests too deeply or expands to over ``budget`` values."""
    visited = 1
    stack: list[tuple[Node, int]] = [] if isinstance(root, ScalarNode) else [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _LoadError(f"nested deeper than {MAX_DEPTH} levels", node.start_mark)
        if isinstance(node, SequenceNode):
            children: list[Node] = node.value
        else:
            children = [item for pair in node.value for item in pair]
        # An alias is a shared node, visited (and counted) once per reference: that is the
        # expansion everything after loading would walk.
        visited += len(children)
        if visited > budget:
            raise _LoadError(f"aliases expand the document to more than {budget:,} values")
        stack.extend((child, depth + 1) for child in children if not isinstance(child, ScalarNode))


# What the standard constructors raise for a scalar they cannot convert: int("x"), a
# timestamp that does not match (AttributeError on the failed match), "maybe" as a bool...
_SCALAR_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


def _guarded(construct: Callable[[Any, Node], Any], what: str) -> Callable[[Any, Node], Any]:
    """``construct`` with the builtin errors a malformed scalar raises turned into YAML errors."""

    def guarded(loader: Any, node: Node) -> Any:
        try:
            return construct(loader, node)
        except _SCALAR_ERRORS as exc:
            limit = sys.get_int_max_str_digits()
            digits = str(node.value).replace("_", "").lstrip("+-")
            if what == "integer" and limit and len(digits) > limit and digits.isdigit():
                return HugeInt(len(digits))
            raise ConstructorError(None, None, f"not a valid {what}", node.start_mark) from exc

    return guarded


def _guard_scalar_constructors() -> None:
    for tag, what in (
        ("int", "integer"),
        ("float", "number"),
        ("bool", "boolean"),
        ("timestamp", "date or time"),
    ):
        name = f"tag:yaml.org,2002:{tag}"
        _BoundedLoader.add_constructor(
            name, _guarded(SafeConstructor.yaml_constructors[name], what)
        )


_guard_scalar_constructors()


def load_yaml(text: str) -> object:
    """Load one YAML document (standard tags only), within the loading bounds.

    Nesting deeper than MAX_DEPTH and alias expansion past a budget proportional to the text are
    refused, as are scalars the standard tags cannot convert.

    Args:
        text: the document.

    Returns:
        The loaded data (None for an empty document).

    Raises:
        yaml.YAMLError: every failure, the bounds included; ``yaml_error_message`` words it.
    """
    try:
        loader = _BoundedLoader(text)
    except UnicodeEncodeError as exc:  # the C loader encodes the text first
        raise _LoadError(_surrogate_message(exc)) from None
    try:
        return loader.get_single_data()
    except RecursionError:  # the pure-Python composer recurses once per level
        raise _LoadError(f"nested deeper than {MAX_DEPTH} levels") from None
    except _SCALAR_ERRORS as exc:
        raise _LoadError(f"not valid YAML: cannot be loaded ({type(exc).__name__})") from exc
    finally:
        loader.dispose()


def _surrogate_message(exc: UnicodeEncodeError) -> str:
    code = ord(exc.object[exc.start])
    return f"not valid Unicode text: lone surrogate U+{code:04X} at offset {exc.start}"


def yaml_error_message(exc: yaml.YAMLError) -> str:
    """A one-line description of a YAML error from ``load_yaml``, with line and column."""
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())[:200]
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        if isinstance(exc, _LoadError):
            return f"{problem}{where}"
        if problem == "exceeded maximum nesting depth":  # libyaml's own bound
            return f"nested deeper than {MAX_DEPTH} levels{where}"
        return f"not valid YAML: {problem}{where}"
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character
        what = f"byte 0x{char[0]:02x}" if isinstance(char, bytes) else f"character U+{char:04X}"
        return f"not valid YAML: unacceptable {what} at offset {exc.position} ({exc.reason})"
    return f"not valid YAML: {' '.join(str(exc).split())[:200]}"


# ---------------------------------------------------------------------------------------------
# The fast YAML path: yaml_rs, on the texts where it reads what PyYAML reads.
#
# yaml_rs parses YAML 1.2; PyYAML reads YAML 1.1. They type some plain scalars differently
# (1.1: ``yes`` is true, ``0123`` is 83, ``2024-13-45`` an error; yaml_rs: a string, 123, a
# string), yaml_rs knows no merge keys, makes tuples of flow keys, reads some flow collections
# PyYAML refuses, accepts control characters and overflows its stack on deep block nesting.
# So the text is screened first; anything the screen cannot vouch for goes to PyYAML. Each
# check is one C-level pass (a translate, or a regex that starts with a literal, so that it
# skips to its few candidates): a 60 MB plan is screened in about half a second, where one
# general regex scan takes seconds.

# Bytes that need a closer look when present; most plans hold none but * and _.
_RARE = (
    bytes(range(0x20)).replace(b"\n", b"") + b"\x7f\\&!%@`|>?*<=[]{}_" + bytes(range(0x80, 0x100))
)
_NOT_RARE = bytes(byte for byte in range(0x100) if byte not in _RARE)
_REFUSED = frozenset(bytes(range(0x20)).replace(b"\n", b"") + b"\x7f\\")  # tabs and CRs too
_INDICATORS = frozenset(b"&!%@`|>?*")
_BRACKETS = frozenset(b"[]{}")
# Anchors, aliases, tags, directives, block scalars, complex keys: an indicator that starts a
# token (after a space, a line break, flow punctuation or a colon).
_INDICATOR = {
    byte: re.compile(
        re.escape(bytes([byte])) + rb"(?<=[\s\[\]{},:]" + re.escape(bytes([byte])) + rb")"
    )
    for byte in b"&!%@`|>?*"
}  # one per character: a pattern that starts with a literal skips to its candidates
# A plain scalar "=" (PyYAML: the "value" tag, which it cannot construct).
_VALUE = re.compile(rb"=(?<=[\s\[\]{},:]=)(?=[\s\[\]{},:#]|\Z)")
# A flow collection with something in it: flow style is where YAML 1.1 and 1.2 parsers differ
# most ([0:], {a:}, flow keys), and big plans are written in block style; [] and {} are fine.
_FLOW = re.compile(rb"[\[{](?! *[\]}])")
# A number with a leading zero (0123, 00, 0o17, 0X1F, 0_1): 83, 0, a string... to PyYAML,
# 123, 0, 15... to yaml_rs. A token that starts at a space, a line break, flow punctuation or a
# colon, optionally signed, and runs up to one of them.
_LEADING_ZERO = re.compile(
    rb"0[0-9_oOXB](?:(?<![^\s\[{,:]..)|(?<![^\s\[{,:]...)(?<=[-+]..))"
    rb"[0-9a-fA-FxXoObBeE_.+-]*(?=[\s,\]}#:]|\Z)"
)
# Underscores in numbers: yaml_rs reads _1, +_1 and 1e_3 as numbers, PyYAML as strings.
_UNDERSCORE = re.compile(rb"_[0-9a-fA-FxXoObBeE_.+-]*(?=[\s,\]}#:]|\Z)")
_NUMBER_HEAD = re.compile(rb"(?:\A|[\s\[\]{},:])[0-9a-fA-FxXoObBeE_.+-]*\Z")
# Dates and times (and what looks like them): PyYAML refuses the invalid ones (2024-13-45)
# wherever they are, yaml_rs keeps them as strings.
_DATE = re.compile(rb"-[0-9](?<=[0-9]{4}-[0-9])")
# Another document, or block nesting deep enough to overflow yaml_rs's stack (it parses
# recursively; thousands of levels are fine, the limit is here far below).
_LINE_START = re.compile(rb"\n(?:---|\.\.\.|[ -]{512})")
_DEEP_START = re.compile(rb"---|\.\.\.|[ -]{512}")


def _numbers_read_alike(data: bytes) -> bool:
    """Whether no plain scalar in ``data`` is a number yaml_rs and PyYAML read differently."""
    if _LEADING_ZERO.search(data):
        return False
    for found in _UNDERSCORE.finditer(data):
        # Only a token made of number characters throughout can be a number.
        head = data[max(0, found.start() - 128) : found.start()]
        if _NUMBER_HEAD.search(head):
            return False
    return True


def _fast_yaml_may_read(text: str | None, data: bytes) -> bool:
    """Whether yaml_rs reads ``text`` (``data``: its UTF-8; no text: ``data`` is ASCII) as
    PyYAML does (see load_yaml_fast)."""
    rare = set(data.translate(None, _NOT_RARE))
    if rare & _REFUSED:
        return False  # control characters, tabs, CRs, escapes
    if (
        text is not None
        and any(byte >= 0x80 for byte in rare)
        and not text.replace("\n", "").isprintable()
    ):
        return False  # other line breaks, byte-order marks, spaces PyYAML may refuse
    for indicator in rare & _INDICATORS:
        if data[0] == indicator or _INDICATOR[indicator].search(data):
            return False
    if 0x3C in rare and b"<<" in data:  # <
        return False  # merge keys
    if 0x3D in rare and (data[:1] == b"=" or _VALUE.search(data)):  # =
        return False
    if rare & _BRACKETS and _FLOW.search(data):
        return False
    if _DATE.search(data) or _DEEP_START.match(data) or _LINE_START.search(data):
        return False
    return _numbers_read_alike(data)


def load_yaml_fast(text: str | None, data: bytes | None = None) -> tuple[object, bool]:
    """Load one YAML document as ``load_yaml`` does, with yaml_rs when the text allows it.

    yaml_rs reads the document when it is in block style (empty flow collections aside) and
    holds no anchor, alias, tag, directive, escape, block scalar, complex key, merge key, date,
    control character, tab or CR, and no
    number that YAML 1.2 and 1.1 read as different numbers (0123, 0o17, _1). Then the data
    equals ``load_yaml(text)`` but in two ways, both left to the caller:

    * a plain scalar that YAML 1.1 reads as a boolean or a number (``yes``, ``off``, ``1:30``)
      is the string: a caller that uses a string checks it with ``yaml11_reads_as_str`` (and
      mappings keyed by such strings may hold entries that PyYAML merges into one);
    * a plain scalar that YAML 1.1 reads as a string but 1.2 as a float (``1e3``, ``+.5``) is
      the float: a caller that converts strings to numbers (as pydantic's lax float does)
      gets the same number either way, and one that wants no float refuses both.

    And the data may nest deeper than MAX_DEPTH, which PyYAML refuses: the caller checks that
    too (``deeper_than``).

    Args:
        text: the document; None when ``data`` is ASCII (the text is then made only if PyYAML
            reads it: yaml_rs reads the bytes).
        data: ``text`` as UTF-8, when the caller has it.

    Returns:
        ``(data, exact)``: ``exact`` is True when PyYAML loaded the text.

    Raises:
        yaml.YAMLError: as ``load_yaml`` (only PyYAML's errors are ever raised).
    """
    if data is not None:
        encoded = data
    else:
        assert text is not None  # one of the two is given
        encoded = text.encode("utf-8", "surrogatepass")
    if _yaml_rs is not None and _fast_yaml_may_read(text, encoded):
        try:
            if text is None:
                loaded = _yaml_rs.load(encoded, parse_datetime=False)
            else:
                loaded = _yaml_rs.loads(text, parse_datetime=False)
        except Exception:  # whatever yaml_rs refuses, PyYAML words the refusal
            pass
        except BaseException as exc:  # a Rust panic is pyo3's PanicException, no Exception
            if type(exc).__name__ != "PanicException":
                raise
        else:
            return loaded, False
    return load_yaml(encoded.decode("ascii") if text is None else text), True


# PyYAML's own table of implicit types: a plain scalar is no string to it when a resolver keyed
# by its first character (or by None: any) matches it. Joined here into one pattern per
# character, so that a string is settled with one match.
def _non_str_patterns() -> dict[str, re.Pattern[str]]:
    table = _SafeLoader.yaml_implicit_resolvers
    joined: dict[str, re.Pattern[str]] = {}
    for first in table:
        if first is not None:
            resolvers = [*table[first], *table.get(None, ())]
            flags = functools.reduce(operator.or_, (rx.flags for _, rx in resolvers), 0)
            alternatives = "|".join(f"(?:{rx.pattern})" for _, rx in resolvers)
            joined[first] = re.compile(alternatives, flags)
    return joined


_NON_STR = _non_str_patterns()
_ANY_FIRST = bool(_SafeLoader.yaml_implicit_resolvers.get(None))


def yaml11_reads_as_str(value: str) -> bool:
    """Whether a string in ``load_yaml_fast``'s data is the same string to PyYAML.

    It is unless it was a plain scalar that YAML 1.1 reads as a boolean or a number (``yes``,
    ``1:30``); a quoted one would be the string to both, so this errs on the side of False.
    The empty string is one: yaml_rs reads an empty plain scalar as null, as PyYAML does.
    """
    if not value or "," in value:  # no YAML 1.1 type holds a comma (a test checks)
        return True
    pattern = _NON_STR.get(value[0])
    if pattern is None:
        return not _ANY_FIRST
    return pattern.match(value) is None


def load_json(text: str, *, bounded: bool = True) -> object:
    """Load JSON text within the nesting bound; JSONDecodeError when it is not JSON.

    ``bounded=False`` leaves the check of nesting past MAX_DEPTH to the caller (``deeper_than``
    on what it does not walk itself); nesting too deep for the decoder is refused anyway.
    """
    try:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise  # not JSON: the caller tries YAML
        except ValueError:
            # An integer literal longer than Python converts: load a placeholder instead, which
            # is reported on its own field rather than failing the whole file.
            data = json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise file_issue(f"nested deeper than {MAX_DEPTH} levels") from None
    if bounded and deeper_than(data, MAX_DEPTH):
        raise file_issue(f"nested deeper than {MAX_DEPTH} levels")
    return data


def _json_int(literal: str) -> int | HugeInt:
    limit = sys.get_int_max_str_digits()
    digits = len(literal.lstrip("-"))
    return HugeInt(digits) if limit and digits > limit else int(literal)


def deeper_than(data: object, limit: int) -> bool:
    """Whether lists and dicts nest more than ``limit`` levels in ``data`` (loaded JSON or
    ``load_yaml_fast`` data; ``data`` itself is the first level)."""
    # Level by level, with the per-value work in C-level iterators: this runs on every JSON
    # plan, and one of 100,000 tenants holds millions of values.
    level: list[Any] = [data] if type(data) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        children = list(chain.from_iterable(map(dict.values, filter(_is_dict, level))))
        children.extend(chain.from_iterable(filter(_is_list, level)))
        level = list(compress(children, map(_CONTAINERS.__contains__, map(type, children))))
    return False


_is_dict = dict.__instancecheck__
_is_list = list.__instancecheck__
_CONTAINERS = frozenset((dict, list))  # exactly what json.loads makes


def file_issue(message: str) -> PlanValidationError:
    return PlanValidationError([ValidationIssue(None, "file", message)])


def too_large(size: int, unit: str) -> PlanValidationError:
    limit = f"{MAX_PLAN_SIZE:,} bytes ({MAX_PLAN_SIZE // 2**20} MiB)"
    return file_issue(f"too large: {size:,} {unit}; a plan file may hold at most {limit}")
