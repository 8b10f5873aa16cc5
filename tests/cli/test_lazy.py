"""The entry point's group builds only the command invoked, and shows what typer's would."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer.main

from switchover.cli.app import app
from switchover.cli.lazy import LazyCommands, lazy_group

EVERY_COMMAND = list(typer.main.get_group(app).commands)
"""The command line's commands as typer itself lists them, in order."""


def _run(make: Callable[[], Any], args: list[str]) -> tuple[object, str]:
    """Run the group ``make`` builds as the console script does: (exit code, output)."""
    buffer = io.StringIO()
    code: object = 0
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            make()(args=args, prog_name="switchover")
        except SystemExit as exc:
            code = exc.code
    return code, buffer.getvalue()


def test_the_command_line_has_its_commands() -> None:
    assert {"run", "status", "events", "rollback", "config", "fleet"} <= set(EVERY_COMMAND)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        *([name, "--help"] for name in EVERY_COMMAND),
        ["config", "show", "--help"],
        ["stauts"],  # a misspelt command: typer's suggestion names the one meant
        ["config", "shw"],
        ["status", "--no-such-option"],
    ],
    ids=lambda args: " ".join(args),
)
def test_it_says_what_typer_s_own_group_says(args: list[str]) -> None:
    eager = _run(lambda: typer.main.get_command(app), args)
    lazy = _run(lambda: lazy_group(app), args)
    assert lazy == eager
    assert eager[1]  # there was something to compare


def test_a_command_is_built_only_when_invoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWITCHOVER_STORE", raising=False)
    group = lazy_group(app)
    commands = group.commands
    assert isinstance(commands, LazyCommands)
    assert commands.built() == []
    assert list(commands) == EVERY_COMMAND  # listed in the order they were registered
    code, output = _run(lambda: group, ["status"])
    assert (code, commands.built()) == (0, ["status"]), output
    assert "no plans yet" in output

    code, output = _run(lambda: group, ["--help"])
    assert code == 0
    assert commands.built() == ["status", *(n for n in EVERY_COMMAND if n != "status")]
    assert "rollback" in output


def test_lazy_commands_behave_as_a_mapping() -> None:
    made: list[str] = []

    def builder(name: str) -> Callable[[], str]:
        def build() -> str:
            made.append(name)
            return name.upper()

        return build

    commands = LazyCommands({"a": builder("a"), "b": builder("b")})
    assert (len(commands), list(commands), made) == (2, ["a", "b"], [])
    assert commands.get("nope") is None
    assert (commands["b"], commands["b"], made) == ("B", "B", ["b"])
    commands["c"] = "C"
    del commands["a"]
    assert dict(commands) == {"b": "B", "c": "C"}
    assert made == ["b"]
