"""Whether a value can be stored and sent as text: one check for plan files and settings."""

from __future__ import annotations

import re

# C0 and C1 control characters, Unicode line separators, and lone surrogates (which no UTF-8
# encoder, hence no store and no wire format, accepts). Multi-line text may hold tabs and breaks.
_BAD_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_BAD_MULTILINE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be stored and sent as text, or None when it can.

    Args:
        value: the text.
        multiline: allow tabs and line breaks.

    Returns:
        A message naming the first offending character and its offset (never the text itself:
        it may be a secret), or None.
    """
    if value.isprintable():  # one C-level scan settles nearly every value
        return None
    found = (_BAD_MULTILINE_TEXT if multiline else _BAD_TEXT).search(value)
    if found is None:
        return None
    code = ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"is not valid Unicode text (lone surrogate U+{code:04X} at offset {found.start()})"
    return f"must not contain control characters (found U+{code:04X} at offset {found.start()})"
