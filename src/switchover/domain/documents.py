"""Documents as switchover reads them: bytes to text, text to data (JSON or YAML), bounded.

Plan files and settings files are loaded here: UTF-8 decoding, JSON and YAML within bounds on
size, nesting depth and alias expansion, so that no input is expensive to refuse. Pure: text
in, data or a clear error out.
"""

from __future__ import annotations

import codecs
import json
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


def load_json(text: str) -> object:
    """Load JSON text within the nesting bound; JSONDecodeError when it is not JSON."""
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
    if _deeper_than(data, MAX_DEPTH):
        raise file_issue(f"nested deeper than {MAX_DEPTH} levels")
    return data


def _json_int(literal: str) -> int | HugeInt:
    limit = sys.get_int_max_str_digits()
    digits = len(literal.lstrip("-"))
    return HugeInt(digits) if limit and digits > limit else int(literal)


def _deeper_than(data: object, limit: int) -> bool:
    """Whether lists and dicts nest more than ``limit`` levels in ``data`` (loaded JSON)."""
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
