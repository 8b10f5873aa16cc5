"""Not-found suggestions: the ids a mistyped plan, task or tenant id may have meant."""

from __future__ import annotations

import string
from collections.abc import Collection, Iterable
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

from switchover.domain.records import TargetKind
from switchover.errors import NotFoundError

if TYPE_CHECKING:
    from switchover.stores.protocol import Store

SUGGESTIONS = 3
"""The most ids a not-found error suggests."""

_NEIGHBOURS = 10
"""Stored ids read on either side of a mistyped id, in id order, for what it may have meant."""

_ID_CHARS = string.ascii_letters + string.digits + "_-."
"""The characters of plan and tenant ids."""

_LONGEST_ID = 64

_LOOKALIKES = str.maketrans("oli", "011")
"""Characters read for one another once case is folded: o and 0; l, i and 1."""

_CLOSE = 0.7
"""How alike (difflib's ratio) a stored id more than one typo away must be to be suggested."""


def typo_variants(key: str) -> set[str]:
    """The ids one typo away from ``key`` (a character changed, dropped, added, or two
    neighbours swapped) and ``key`` in either case: what a mistyped ``key`` may have meant."""
    found = {key.lower(), key.upper()}
    if len(key) <= _LONGEST_ID + 1:  # no stored id is one edit from a longer key
        for at in range(len(key) + 1):
            head, tail = key[:at], key[at:]
            found.update(head + char + tail for char in _ID_CHARS)
            if tail:
                found.add(head + tail[1:])
                found.update(head + char + tail[1:] for char in _ID_CHARS)
            if len(tail) > 1:
                found.add(head + tail[1] + tail[0] + tail[2:])
    found.discard(key)
    return found


def closest(key: str, found: Iterable[str], one_typo: Collection[str] = ()) -> tuple[str, ...]:
    """The ids of ``found`` most like ``key``, best first, at most ``SUGGESTIONS``.

    An id that differs from ``key`` only in case or in look-alike characters (0/O, 1/l/I) is
    a sure match: when there is one, only sure matches are named. Otherwise the ids one typo
    away (in ``one_typo``) come first, then others alike enough, each by difflib's ratio.
    """

    def folded(text: str) -> str:
        return text.casefold().translate(_LOOKALIKES)

    others = sorted(set(found) - {key})
    sure = [other for other in others if folded(other) == folded(key)]
    if sure:
        return tuple(sure[:SUGGESTIONS])
    ranked = sorted(
        (other not in one_typo, -SequenceMatcher(None, key, other).ratio(), other)
        for other in others
    )
    close = [other for far, ratio, other in ranked if not far or -ratio >= _CLOSE]
    return tuple(close[:SUGGESTIONS])


async def missing(store: Store, kind: TargetKind, key: str) -> NotFoundError:
    """The error for a plan, task or tenant that does not exist in ``store``, naming up to
    ``SUGGESTIONS`` existing ids close to ``key``.

    One or two bounded store queries (``StateStore.ids_near``), never a read of every id.
    A task id ``PLAN/TENANT`` is matched within its plan when the plan exists, else by
    its plan; a bare tenant id given as a task id suggests that tenant's latest task.
    """
    if kind is not TargetKind.TASK:
        return NotFoundError(kind.value, key, await _near(store, kind, key))
    plan_id, slash, tenant_id = key.partition("/")
    found: tuple[str, ...]
    if not slash:
        latest = await store.find_task(key)
        found = (latest.task_id,) if latest is not None else ()
    elif await store.get_plan(plan_id) is not None:
        tenants = await _near(store, TargetKind.TENANT, tenant_id, plan_id)
        found = tuple(f"{plan_id}/{tenant}" for tenant in tenants)
    else:
        plans = await _near(store, TargetKind.PLAN, plan_id)
        tasks = [await store.get_task(f"{plan}/{tenant_id}") for plan in plans]
        found = tuple(task.task_id for task in tasks if task is not None)
    return NotFoundError(kind.value, key, found)


async def _near(
    store: Store, kind: TargetKind, key: str, plan_id: str | None = None
) -> tuple[str, ...]:
    variants = typo_variants(key)
    found = await store.ids_near(
        kind, key, candidates=variants, around=_NEIGHBOURS, plan_id=plan_id
    )
    return closest(key, found, variants)
