"""The ``switchover`` command line."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``switchover`` console script."""
    from switchover.cli.app import app
    from switchover.process import tuned_collector

    with tuned_collector():  # see switchover.process: engines run in this process
        app()
