"""The ``switchover`` command line."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``switchover`` console script."""
    from switchover.cli.app import app

    app()
