"""The ``switchover`` command line."""

from __future__ import annotations

import sys
from collections.abc import Sequence

GLOBAL_OPTIONS = ("--store", "--config", "--server")
"""Options of the whole command line that take a value; accepted before or after the command."""


def hoisted(argv: Sequence[str]) -> list[str]:
    """``argv`` with the global options given after the command moved before it.

    ``switchover run plan.yaml --config fleet.yaml`` becomes ``switchover --config fleet.yaml
    run plan.yaml``; ``--name=value`` forms too. Nothing after a ``--`` moves.
    """
    front: list[str] = []
    rest: list[str] = []
    items = list(argv)
    index = 0
    while index < len(items):
        word = items[index]
        if word == "--":
            rest.extend(items[index:])
            break
        name = word.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            if "=" in word:
                front.append(word)
            elif index + 1 < len(items):
                front.extend(items[index : index + 2])
                index += 1
            else:
                rest.append(word)  # no value: let the parser say so
        else:
            rest.append(word)
        index += 1
    return front + rest


def main() -> None:
    """Entry point of the ``switchover`` console script."""
    from switchover.process import skip_the_last_collection, tuned_collector

    # See switchover.process: engines run in this process. Raised before the imports too,
    # which make many objects and none of them garbage.
    with tuned_collector():
        from switchover.cli.app import app
        from switchover.cli.lazy import lazy_group

        try:
            lazy_group(app)(args=hoisted(sys.argv[1:]), prog_name="switchover")
        finally:
            skip_the_last_collection()
