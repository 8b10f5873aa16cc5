"""What following a plan costs: the bare engine against the path ``switchover run`` takes.

Both sides run the same plan of no-op tasks (3 stages each) on a fresh ``SqliteStore``
(``synchronous=FULL``):

* *bare*: ``Engine.submit_plan`` then ``Engine.wait_idle``;
* *followed*: a ``Session`` with its own engine and the service's ``Operator.follow`` consumed
  to the end, with every update rendered to a terminal-less console, as ``run`` does.

Sides alternate, each case in its own subprocess; min / median / max of the repeats and the
ratio of the medians are printed (aim: followed ≤ 1.10 × bare).

    python -m bench.follow_overhead [--small] [--tenants N] [--repeats R]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from bench.machine import describe
from bench.noop import NoDiscovery, NoopBuilder, noop_spec
from switchover.cli.follow import render
from switchover.engine.engine import Engine
from switchover.engine.session import Session
from switchover.process import tuned_collector
from switchover.service import Operator, plan_done
from switchover.settings import Settings
from switchover.stores.sqlite import SqliteStore

CONCURRENCY = 100


async def run_side(side: str, tenants: int, directory: Path) -> float:
    """Seconds from submit to the plan's end on one side."""
    store = SqliteStore(directory / "bench.db")
    await store.open()
    settings = Settings(store=directory / "bench.db")
    spec = noop_spec(tenants, CONCURRENCY)

    def make_engine() -> Engine:
        return Engine(store, NoopBuilder(), settings=settings, discovery=NoDiscovery())

    try:
        if side == "bare":
            async with make_engine() as engine:
                start = time.perf_counter()
                await engine.submit_plan(spec)
                await engine.wait_idle()
                return time.perf_counter() - start
        session = Session(store, make_engine, NoopBuilder())
        await session.start()
        try:
            op = Operator(session, settings)
            console = Console(file=io.StringIO(), width=120)
            start = time.perf_counter()
            await op.submit(spec)
            async for progress, _ in op.follow(spec.plan_id, plan_done, snapshot=True):
                console.print(render(progress, "plan"))
            return time.perf_counter() - start
        finally:
            await session.close()
    finally:
        await store.close()


def child(side: str, tenants: int) -> float:
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp, tuned_collector():
        return asyncio.run(run_side(side, tenants, Path(tmp)))


def main(argv: Sequence[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true", help="2,000 tenants, 3 repeats")
    parser.add_argument("--tenants", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--child", choices=("bare", "followed"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    tenants = args.tenants or (2_000 if args.small else 10_000)
    if args.child:
        print(json.dumps(child(args.child, tenants)))
        return {}
    repeats = args.repeats or 3
    print(describe())
    print(f"{tenants} no-op tenants × 3 stages, concurrency {CONCURRENCY}, {repeats} repeats")
    times: dict[str, list[float]] = {"bare": [], "followed": []}
    for _ in range(repeats):
        for side in times:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.follow_overhead",
                    "--child",
                    side,
                    "--tenants",
                    str(tenants),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            times[side].append(float(done.stdout.strip().splitlines()[-1]))
    for side, values in times.items():
        print(
            f"  {side:>8}: min {min(values):6.2f} s  median {statistics.median(values):6.2f} s  "
            f"max {max(values):6.2f} s"
        )
    ratio = statistics.median(times["followed"]) / statistics.median(times["bare"])
    verdict = "met" if ratio <= 1.10 else "not met"
    print(f"  followed / bare (medians): {ratio:.2f}  (aim ≤ 1.10: {verdict})")
    return times


if __name__ == "__main__":
    main()
