"""Secrets inside a Redis URL: every form a password can be written in, masked or taken out.

The password of the userinfo (``redis://user:pw@host``, also unencoded ``/``, ``#``, ``@`` or
``?`` in it), a host's colon without a port (``redis://:pw``), and password-like query
parameters (``?password=pw``), each as written and URL-decoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, unquote_plus

from switchover.secrets import MASK, Scrubber

# Query parameters redis-py (or a proxy in front of it) takes a password from.
_SECRET_PARAMS = frozenset(("password", "pass", "passwd", "pwd", "auth", "token"))


def _split_url(url: str) -> tuple[str, str | None, str, str]:
    """``(scheme://, userinfo or None, host and path, ?query)`` of a URL, read leniently.

    Everything up to the query counts as the authority and path, so a password holding an
    unencoded ``/``, ``#`` or ``@`` is found whole; so is one holding a ``?``, when what precedes
    the last ``@`` is no query parameter.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    head, mark, query = rest.partition("?")
    userinfo, at, host = head.rpartition("@")
    if not at:
        before, at, after = rest.rpartition("@")
        if at and "=" not in before:
            userinfo = before
            host, mark, query = after.partition("?")
        else:
            at = ""
    return scheme + sep, (userinfo if at else None), host, mark + query


def _odd_port(host: str) -> str | None:
    """What follows the host's colon when it is no port number: a password missing its ``@``.

    ``redis://:secret`` (the host forgotten) parses as an empty host with port "secret".
    """
    authority = host.partition("/")[0]
    if authority.startswith("["):  # an IPv6 literal, [::1]:6379
        authority = authority.partition("]")[2]
    _, colon, port = authority.partition(":")
    return port if colon and port and not port.isdigit() else None


def _params(query: str) -> Iterator[tuple[str, str]]:
    for pair in re.split("[&;]", query[1:]) if query else ():
        key, _, value = pair.partition("=")
        yield key, value


def _is_secret_param(key: str) -> bool:
    return unquote_plus(key).strip().lower() in _SECRET_PARAMS


def url_secrets(url: str) -> Iterator[str]:
    _, userinfo, host, query = _split_url(url)
    if userinfo is not None:
        # Without a colon redis-py reads a username, but people write a bare password there.
        user, colon, password = userinfo.partition(":")
        raw = password if colon else user
        yield from (raw, unquote(raw))
    port = _odd_port(host)
    if port is not None:
        yield from (port, unquote(port))
    for key, value in _params(query):
        if _is_secret_param(key):
            # A parser stops at "#" (a fragment); whoever wrote the URL may have meant it whole.
            for form in dict.fromkeys((value, value.partition("#")[0])):
                yield from (form, unquote(form), unquote_plus(form))


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo and of password-like parameters masked."""
    text, userinfo, host, query = _split_url(url)
    if userinfo is not None:
        user, colon, _ = userinfo.partition(":")
        text += f"{user}:{MASK}@" if colon else f"{MASK}@"
    port = _odd_port(host)
    if port is not None:
        name, slash, path = host.partition("/")
        host = name[: len(name) - len(port)] + MASK + slash + path
    text += host
    if query:
        text += "?" + "".join(map(_mask_param, re.split("([&;])", query[1:])))
    # Whatever the structure missed (the password repeated elsewhere in the URL) goes too.
    return Scrubber(url_secrets(url)).scrub(text)


def public_url(url: str) -> str:
    """``url`` without its userinfo and password-like parameters (for records, not secrets)."""
    text, _, host, query = _split_url(url)
    kept = [pair for pair in re.split("[&;]", query[1:]) if pair] if query else []
    kept = [pair for pair in kept if not _is_secret_param(pair.partition("=")[0])]
    public = text + host + ("?" + "&".join(kept) if kept else "")
    return Scrubber(url_secrets(url)).scrub(public)


def _mask_param(pair: str) -> str:
    key, eq, _ = pair.partition("=")
    return f"{key}={MASK}" if eq and _is_secret_param(key) else pair


def scrub_values(data: Any, scrubber: Scrubber) -> Any:
    # Values only: the keys are the settings' own names, which callers index by.
    if isinstance(data, str):
        return scrubber.scrub(data)
    if isinstance(data, dict):
        return {key: scrub_values(value, scrubber) for key, value in data.items()}
    if isinstance(data, list):
        return [scrub_values(item, scrubber) for item in data]
    return data
