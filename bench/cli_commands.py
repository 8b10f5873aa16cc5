"""How long the command line takes to start: ``switchover --help`` and a command's ``--help``.

Each command runs in a fresh process, several times, alternating between this tree and (with
``--baseline SRC``) another source tree, so that both see the same machine load. Python's
bytecode cache is written and used, as it is for an installed package (the first, warming run
of each tree is not counted). Target: ``switchover --help`` under 0.25 s.

Also printed: ``python -c pass`` (the interpreter's own start) and ``import typer`` (the floor
of any typer command line), and which large modules ``--help`` loads.

    python -m bench.cli_startup [--repeats R] [--baseline SRC]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.machine import describe, spread

TARGET = 0.25
SRC = Path(__file__).resolve().parent.parent / "src"
HELP = ("-m", "switchover", "--help")
COMMANDS: dict[str, tuple[str, ...]] = {
    "python -c pass": ("-c", "pass"),
    "import typer": ("-c", "import typer"),
    "switchover --help": HELP,
    "switchover run --help": ("-m", "switchover", "run", "--help"),
    "switchover status --help": ("-m", "switchover", "status", "--help"),
}
HEAVY = ("rich.console", "switchover.domain.records", "switchover.engine", "pydantic", "yaml")
"""Modules ``--help`` has no need of; the benchmark says which of them it loaded."""


def environment(source: Path) -> dict[str, str]:
    """The environment of a run importing switchover from ``source``, bytecode cache on."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    return env


def once(args: Sequence[str], env: dict[str, str]) -> float:
    """Wall seconds of one process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def loaded(env: dict[str, str]) -> list[str]:
    """Which of ``HEAVY`` ``switchover --help`` imports."""
    probe = (
        "import sys\nsys.argv = ['switchover', '--help']\nfrom switchover.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    return done.stderr.split()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command and tree")
    parser.add_argument("--baseline", type=Path, help="a src directory to compare with")
    args = parser.parse_args(argv)
    trees = {"this": SRC}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    print(describe())
    envs = {label: environment(source) for label, source in trees.items()}
    for env in envs.values():  # write the bytecode caches
        for command in COMMANDS.values():
            once(command, env)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            for label, env in envs.items():
                times.setdefault((name, label), []).append(once(command, env))
    for name in COMMANDS:
        for label in trees:
            print(f"{name:<26} {label:<9} {spread(times[name, label], unit='s')}")
        if "baseline" in trees:
            medians = [sorted(times[name, label])[len(times[name, label]) // 2] for label in trees]
            print(f"{'':<26} this / baseline (median): x{medians[0] / medians[1]:.2f}")
    helps = sorted(times["switchover --help", "this"])
    verdict = "met" if helps[len(helps) // 2] < TARGET else "not met"
    print(f"target: switchover --help under {TARGET} s (median): {verdict}")
    for label, env in envs.items():
        print(f"--help loads ({label}): {' '.join(loaded(env)) or 'none of ' + ', '.join(HEAVY)}")


if __name__ == "__main__":
    main()
