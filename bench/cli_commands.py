"""How long the command line takes: its start (``--help``) and the read commands on a store.

Each command runs in a fresh process, several times, alternating between this tree and (with
``--baseline SRC``) another source tree, so that both see the same machine load. Python's
bytecode cache is written and used, as it is for an installed package (the first, warming run
of each command and tree is not counted).

* Start: ``switchover --help`` (target: under 0.25 s), a command's ``--help``, and for scale
  ``python -c pass`` (the interpreter's own start) and ``import typer`` (the floor of any typer
  command line); and which large modules ``--help`` loads.
* Read commands, on a store holding one finished plan of ``--tenants`` no-op tenants (2,000 by
  default: 18,002 events), made by the engine itself: ``events --since`` printing 10,000 events
  as text and as JSON lines to a pipe (target: under 1 s), ``status``, ``status PLAN`` and
  ``status --tenant T``. What the store's queries cost alone, on 100,000 tasks and a million
  events, is ``bench.store_queries``.

    python -m bench.cli_commands [--repeats R] [--tenants N] [--baseline SRC]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.machine import describe, spread

TARGET = 0.25
SRC = Path(__file__).resolve().parent.parent / "src"
HELP = ("-m", "switchover", "--help")
EVENTS_TARGET = 1.0
START: dict[str, tuple[str, ...]] = {
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


async def _make_store(path: Path, tenants: int) -> tuple[str, int]:
    """A store holding one finished no-op plan of ``tenants`` tenants, run by the engine; the
    plan's id and its last event's number."""
    from bench.noop import NoDiscovery, NoopBuilder, noop_spec
    from switchover.engine.engine import Engine
    from switchover.settings import Settings
    from switchover.stores.sqlite import SqliteStore

    store = SqliteStore(path)
    await store.open()
    try:
        settings = Settings(store=path)
        spec = noop_spec(tenants, 100)
        async with Engine(store, NoopBuilder(), settings=settings, discovery=NoDiscovery()) as e:
            await e.submit_plan(spec)
            await e.wait_idle()
        return spec.plan_id, await store.last_seq(spec.plan_id)
    finally:
        await store.close()


def read_commands(store: Path, plan_id: str, tenant: str, last: int) -> dict[str, tuple[str, ...]]:
    """The read commands timed on ``store``: 10,000 events (as text and JSON), the status views."""
    since = str(max(last - 10_000, 0))
    base = ("-m", "switchover", "--store", str(store))
    return {
        "events --since (10,000)": (*base, "events", "--plan", plan_id, "--since", since),
        "events --since --json": (*base, "events", "--plan", plan_id, "--since", since, "--json"),
        "status": (*base, "status"),
        "status PLAN": (*base, "status", plan_id),
        "status --tenant T": (*base, "status", "--tenant", tenant),
    }


def measure(
    commands: dict[str, tuple[str, ...]], envs: dict[str, dict[str, str]], repeats: int
) -> dict[tuple[str, str], list[float]]:
    """Wall seconds of each command in each tree, ``repeats`` times, after a warming run."""
    for env in envs.values():
        for command in commands.values():
            once(command, env)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):
        for name, command in commands.items():
            for label, env in envs.items():
                times.setdefault((name, label), []).append(once(command, env))
    return times


def show(
    times: dict[tuple[str, str], list[float]], names: Sequence[str], trees: Sequence[str]
) -> None:
    """Print min / median / max of each command, and this / baseline when both ran."""
    for name in names:
        for label in trees:
            print(f"{name:<26} {label:<9} {spread(times[name, label], unit='s')}")
        if len(trees) > 1:
            this, base = (statistics.median(times[name, label]) for label in trees)
            print(f"{'':<26} this / baseline (median): x{this / base:.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command and tree")
    parser.add_argument("--tenants", type=int, default=2_000, help="tenants of the stored plan")
    parser.add_argument("--baseline", type=Path, help="a src directory to compare with")
    args = parser.parse_args(argv)
    trees = {"this": SRC}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    print(describe())
    envs = {label: environment(source) for label, source in trees.items()}
    print("-- start")
    times = measure(START, envs, args.repeats)
    show(times, list(START), list(trees))
    helps = statistics.median(times["switchover --help", "this"])
    verdict = "met" if helps < TARGET else "not met"
    print(f"target: switchover --help under {TARGET} s (median {helps:.2f} s): {verdict}")
    for label, env in envs.items():
        print(f"--help loads ({label}): {' '.join(loaded(env)) or 'none of ' + ', '.join(HEAVY)}")
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp:
        store = Path(tmp) / "bench.db"
        plan_id, last = asyncio.run(_make_store(store, args.tenants))
        print(f"-- read commands: a finished plan of {args.tenants:,} tenants, {last:,} events")
        commands = read_commands(store, plan_id, "tenant-000001", last)
        times = measure(commands, envs, args.repeats)
        show(times, list(commands), list(trees))
        for name in ("events --since (10,000)", "events --since --json"):
            median = statistics.median(times[name, "this"])
            verdict = "met" if median < EVENTS_TARGET else "not met"
            print(f"target: {name} under {EVENTS_TARGET} s (median {median:.2f} s): {verdict}")


if __name__ == "__main__":
    main()
