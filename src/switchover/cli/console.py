"""The command line's two consoles, stdout and stderr, and its JSON output.

rich's console is the largest import of the command line after typer; the consoles are made at
their first use, so that ``switchover --help`` (and every command's ``--help``) never loads it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console


class _Deferred:
    """Stands for a ``rich.console.Console`` made at first use; every attribute is its."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def made(self) -> Console:
        """The console itself."""
        console = self._console
        if console is None:
            from rich.console import Console

            # No emoji codes: what is shown is data (tenant ids, paths, a peer's message), and
            # ":smile:" in it stays as written.
            console = self._console = Console(stderr=self._stderr, soft_wrap=True, emoji=False)
        return console

    @property
    def file(self) -> IO[str]:
        """The stream it writes to (as rich's console would name it, without making one)."""
        if self._console is not None:
            return self._console.file
        return sys.stderr if self._stderr else sys.stdout

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)

    def __enter__(self) -> Console:  # ``with console:`` (rich's Live does it)
        return self.made().__enter__()

    def __exit__(self, *exc: object) -> None:
        self.made().__exit__(*exc)


out = cast("Console", _Deferred(stderr=False))
"""Standard output."""
err = cast("Console", _Deferred(stderr=True))
"""Standard error: notes, warnings and one-line errors."""


def print_json(console: Console, data: Mapping[str, Any], *, flush: bool = True) -> None:
    """One JSON document on one line (so output can be piped to ``jq``), ``schema`` first;
    compact, as the API writes it."""
    import msgspec

    from switchover.views import document

    write_line(console, msgspec.json.encode(document(data)).decode(), flush=flush)


def write_line(console: Console, line: str, *, flush: bool = True) -> None:
    """``line`` and a line break on the console's output, as is: no markup, no highlighting,
    no wrapping — what rich would print for it, at a small fraction of the cost (``events``
    prints thousands of lines). Flushed unless ``flush`` is false (a batch that ends soon)."""
    file = console.file
    file.write(line + "\n")
    if flush:
        file.flush()
