"""Bearer tokens and roles: who calls the API, and whether they may do what they ask.

Tokens come from ``serve.tokens``; when none is configured, ``serve`` creates one operator
token and keeps it in a file only its owner can read (``token_file``), beside the store. Tokens
are compared in constant time and never logged; what is recorded is the token's name.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from switchover.settings import Settings

GENERATED_NAME = "local"
"""The name of the operator token ``serve`` creates when none is configured."""


class Role(IntEnum):
    """What a token may do; a higher role may do everything a lower one may."""

    VIEWER = 1
    OPERATOR = 2


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the token's name (the actor recorded) and its role."""

    name: str
    role: Role


class TokenBook:
    """The tokens the API accepts."""

    def __init__(self, tokens: dict[str, Caller]) -> None:
        self._tokens = [(token.encode(), caller) for token, caller in tokens.items()]

    def identify(self, presented: str) -> Caller | None:
        """The caller a presented token belongs to, or None; constant time per token."""
        given = presented.encode()
        found: Caller | None = None
        for token, caller in self._tokens:
            if hmac.compare_digest(token, given):
                found = caller
        return found


def token_file(settings: Settings) -> Path:
    """Where the generated operator token is kept: ``serve.token_file``, or beside the store."""
    if settings.serve.token_file is not None:
        return settings.serve.token_file
    store = settings.store
    return store.with_name(store.name + ".token")


def read_token_file(path: Path) -> str | None:
    """The token kept in ``path``, or None when there is none."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def ensure_token_file(path: Path) -> tuple[str, bool]:
    """The generated token, created (mode 0600) when missing; and whether it was created.

    Raises:
        OSError: the file cannot be read or created.
    """
    existing = read_token_file(path)
    if existing is not None:
        return existing, False
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token, True


def token_book(settings: Settings, generated: str | None) -> TokenBook:
    """The configured tokens, plus the generated one when there is one."""
    tokens = {
        token.token.get_secret_value(): Caller(token.name, Role[token.role.upper()])
        for token in settings.serve.tokens
    }
    if generated is not None:
        tokens[generated] = Caller(GENERATED_NAME, Role.OPERATOR)
    return TokenBook(tokens)
