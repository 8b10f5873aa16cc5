"""The command line's click group, with each command built only when it is looked up.

Typer turns a command into click parameters by reading its function's signature and type
hints: ~2 ms a command, ~35 ms for the whole command line on every start. A process runs one
command, so the group here names every command but builds the one invoked; ``--help``, shell
completion and a misspelt command's suggestions still see them all.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, TypeVar

import typer
import typer.main
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Command  # the click that typer builds on

_C = TypeVar("_C")


class LazyCommands(MutableMapping[str, _C]):
    """A group's commands by name; each is built by its builder on first access."""

    def __init__(self, builders: dict[str, Callable[[], _C]]) -> None:
        """Hold ``builders`` (name -> build the command), in the order commands are listed."""
        self._builders = builders
        self._built: dict[str, _C] = {}

    def built(self) -> list[str]:
        """The names of the commands built so far."""
        return list(self._built)

    def __getitem__(self, name: str) -> _C:
        found = self._built.get(name)
        if found is None:
            found = self._built[name] = self._builders[name]()
        return found

    def __setitem__(self, name: str, command: _C) -> None:
        self._builders[name] = lambda: command
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._builders[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


def lazy_group(app: typer.Typer) -> TyperGroup:
    """``app`` as typer would build it (its callback, its options), commands built on use."""
    shell = copy.copy(app)  # the same callback and settings, no commands
    shell.registered_commands = []
    shell.registered_groups = []
    group = typer.main.get_command(shell)
    assert isinstance(group, TyperGroup), "the app has a callback, so typer makes a group"
    builders: dict[str, Callable[[], Command]] = {}
    for info in app.registered_commands:
        assert info.callback is not None
        name = info.name or typer.main.get_command_name(info.callback.__name__)
        builders[name] = functools.partial(
            typer.main.get_command_from_info,
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
        )
    for sub in app.registered_groups:
        assert isinstance(sub.name, str), "every sub-app of the command line is named"
        builders[sub.name] = functools.partial(
            typer.main.get_group_from_info,
            sub,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
            suggest_commands=app.suggest_commands,
        )
    group.commands = LazyCommands(builders)
    return group
