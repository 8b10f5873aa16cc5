"""``python -m switchover`` runs the CLI."""

from switchover.cli import main

main()
