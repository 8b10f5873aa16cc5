"""Engine overhead: plans of no-op tasks on the default SqliteStore, every checkpoint durable.

Each task has three stages of one step that does nothing, so what is measured is the engine
(admission, state machine, events, the checkpoint commit of every stage) and the store
(``synchronous=FULL``, group commit). Every (size, concurrency) case runs in its own
subprocess so that its peak resident memory is its own.

Run: ``python -m bench.engine_overhead [--small] [--sizes 1000,10000] [--concurrency 10,100]``.

Side by side with other code: ``--baseline DIR [--repeats R]`` runs each case R times in this
tree and in DIR (a checkout of another commit: its ``src`` and ``bench``), alternating, one
subprocess each, and prints min / median / max tasks/s of both and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.machine import header, peak_rss_mib, spread
from bench.noop import STAGE_NAMES, NoDiscovery, NoopBuilder, noop_spec
from switchover.domain.status import PlanStatus
from switchover.engine.engine import Engine
from switchover.process import tuned_collector
from switchover.settings import Settings
from switchover.stores.sqlite import SqliteStore

FULL_SIZES = (1_000, 10_000, 100_000)
SMALL_SIZES = (1_000, 10_000)
CONCURRENCY = (10, 100, 1_000)

TARGET_TASKS_PER_S = 1_000
TARGET_STAGE_US = 500
TARGET_RSS_MIB = 1024


@dataclass(frozen=True, slots=True)
class Case:
    """What one run of one plan measured."""

    tenants: int
    concurrency: int
    submit_s: float
    run_s: float
    loop_cpu_s: float
    writer_cpu_s: float
    transactions: int
    peak_rss_mib: float

    @property
    def stages(self) -> int:
        return self.tenants * len(STAGE_NAMES)

    @property
    def tasks_per_s(self) -> float:
        return self.tenants / self.run_s

    @property
    def stage_us(self) -> float:
        """Wall time per stage: the run divided by the stages it completed."""
        return self.run_s / self.stages * 1e6

    @property
    def loop_cpu_stage_us(self) -> float:
        """Event-loop thread CPU time per stage (engine, asyncio; not the store's writer)."""
        return self.loop_cpu_s / self.stages * 1e6

    @property
    def writer_cpu_stage_us(self) -> float:
        """Store writer thread CPU time per stage (encoding rows, SQLite, fsync calls)."""
        return self.writer_cpu_s / self.stages * 1e6

    @property
    def task_us(self) -> float:
        """Wall time per task, submit included: the per-task cost compared across sizes."""
        return (self.submit_s + self.run_s) / self.tenants * 1e6


def _count_transactions(store: SqliteStore) -> Callable[[], tuple[int, float]]:
    """Count the write transactions (one fsync each) of the store's writer thread, and its CPU.

    Wraps a private method of the store: a benchmark may look inside what it measures.
    """
    totals = [0, 0.0]
    apply_batch = store._apply_batch

    def counted(conn: Any, batch: Any) -> Any:
        cpu = time.thread_time()
        try:
            return apply_batch(conn, batch)
        finally:
            totals[0] += 1
            totals[1] += time.thread_time() - cpu

    store._apply_batch = counted  # type: ignore[method-assign]
    return lambda: (int(totals[0]), totals[1])


async def run_case(tenants: int, concurrency: int, directory: Path) -> Case:
    """Submit one plan of no-op tasks, run it to the end, and measure."""
    store = SqliteStore(directory / "bench.db")
    await store.open()
    transactions = _count_transactions(store)
    settings = Settings()
    spec = noop_spec(tenants, concurrency)
    try:
        engine = Engine(store, NoopBuilder(), settings=settings, discovery=NoDiscovery())
        async with engine:
            start = time.perf_counter()
            await engine.submit_plan(spec)
            submitted = time.perf_counter()
            cpu = time.thread_time()
            txns_before, writer_before = transactions()
            await engine.wait_idle()
            run_s = time.perf_counter() - submitted
            loop_cpu = time.thread_time() - cpu
            txns_after, writer_after = transactions()
            plan = await engine.get_plan(spec.plan_id)
        if plan.status is not PlanStatus.COMPLETED:
            raise RuntimeError(f"plan ended {plan.status.value}, not COMPLETED")
    finally:
        await store.close()
    return Case(
        tenants=tenants,
        concurrency=concurrency,
        submit_s=submitted - start,
        run_s=run_s,
        loop_cpu_s=loop_cpu,
        writer_cpu_s=writer_after - writer_before,
        transactions=txns_after - txns_before,
        peak_rss_mib=peak_rss_mib(),
    )


def run_child(tenants: int, concurrency: int, tree: Path | None = None) -> Case:
    """Run one case in a fresh interpreter so that its peak RSS is its own (in the checkout
    ``tree``, with its own ``src`` and ``bench``, when given)."""
    command = [
        sys.executable, "-m", "bench.engine_overhead",
        "--child", str(tenants), "--concurrency", str(concurrency),
    ]  # fmt: skip
    env = None
    if tree is not None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree / "src"), str(tree)]))
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=tree, env=env)
    fields = json.loads(done.stdout.strip().splitlines()[-1])
    return Case(**{k: v for k, v in fields.items() if k in Case.__dataclass_fields__})


def side_by_side(
    sizes: Sequence[int], concurrencies: Sequence[int], baseline: Path, repeats: int
) -> None:
    """Each case in this tree and in ``baseline``, alternating; tasks/s of both and the ratio."""
    here = Path(__file__).resolve().parent.parent
    for tenants in sizes:
        for concurrency in concurrencies:
            runs: dict[str, list[Case]] = {"this": [], "baseline": []}
            for _ in range(repeats):
                for label, tree in (("baseline", baseline), ("this", here)):
                    runs[label].append(run_child(tenants, concurrency, tree))
            print(f"   {tenants:>7,} tenants, concurrency {concurrency}:")
            for label, cases in runs.items():
                rates = spread([c.tasks_per_s for c in cases], digits=0)
                loop = spread([c.loop_cpu_stage_us for c in cases], digits=0)
                writer = spread([c.writer_cpu_stage_us for c in cases], digits=0)
                print(
                    f"     {label:>8}: {rates} tasks/s; CPU µs per stage: loop {loop}, "
                    f"writer {writer}"
                )
            ratio = statistics.median(c.tasks_per_s for c in runs["this"]) / statistics.median(
                c.tasks_per_s for c in runs["baseline"]
            )
            print(f"     this / baseline, median tasks/s: x{ratio:.2f}", flush=True)


def _print_table(cases: Sequence[Case]) -> None:
    print(
        f"{'tenants':>8} {'conc.':>5} {'submit s':>9} {'run s':>8} {'tasks/s':>8} "
        f"{'µs/stage':>9} {'loop CPU':>8} {'writer CPU':>10} {'txns':>7} {'stages/txn':>10} "
        f"{'peak RSS MiB':>12}"
    )
    for c in cases:
        print(
            f"{c.tenants:>8,} {c.concurrency:>5} {c.submit_s:>9.2f} {c.run_s:>8.2f} "
            f"{c.tasks_per_s:>8,.0f} {c.stage_us:>9.0f} {c.loop_cpu_stage_us:>8.0f} "
            f"{c.writer_cpu_stage_us:>10.0f} "
            f"{c.transactions:>7,} {c.stages / max(c.transactions, 1):>10.1f} "
            f"{c.peak_rss_mib:>12,.0f}"
        )


def _print_growth(cases: Sequence[Case]) -> None:
    by_conc: dict[int, list[Case]] = {}
    for case in cases:
        by_conc.setdefault(case.concurrency, []).append(case)
    print("growth from the smallest to the largest plan, same concurrency (1.00 = linear):")
    for concurrency, group in sorted(by_conc.items()):
        group.sort(key=lambda c: c.tenants)
        small, large = group[0], group[-1]
        if small is large:
            continue
        print(
            f"  concurrency {concurrency:>5}: {small.tenants:,} → {large.tenants:,} tenants: "
            f"per-task cost (submit+run) ×{large.task_us / small.task_us:.2f}, "
            f"µs/stage ×{large.stage_us / small.stage_us:.2f}, "
            f"tasks/s ×{large.tasks_per_s / small.tasks_per_s:.2f}, "
            f"peak RSS ×{large.peak_rss_mib / small.peak_rss_mib:.1f} "
            f"({small.peak_rss_mib:,.0f} → {large.peak_rss_mib:,.0f} MiB)"
        )


def _print_targets(cases: Sequence[Case]) -> None:
    at_10k = [c for c in cases if c.tenants == 10_000]
    if at_10k:
        best = max(at_10k, key=lambda c: c.tasks_per_s)
        print(
            f"target at 10k tenants: ≥ {TARGET_TASKS_PER_S:,} tasks/s and "
            f"≤ {TARGET_STAGE_US} µs/stage → best {best.tasks_per_s:,.0f} tasks/s, "
            f"{best.stage_us:.0f} µs/stage (concurrency {best.concurrency}): "
            + (
                "met"
                if best.tasks_per_s >= TARGET_TASKS_PER_S and best.stage_us <= TARGET_STAGE_US
                else "NOT met"
            )
        )
    at_100k = [c for c in cases if c.tenants == 100_000]
    if at_100k:
        worst = max(c.peak_rss_mib for c in at_100k)
        verdict = "met" if worst < TARGET_RSS_MIB else "NOT met"
        print(f"target at 100k tenants: < 1 GiB peak RSS → worst {worst:,.0f} MiB: {verdict}")


def main(argv: Sequence[str] | None = None) -> list[Case]:
    """Run every (size, concurrency) case in its own subprocess and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true", help="1k and 10k tenants only")
    parser.add_argument("--sizes", help="comma-separated plan sizes (overrides --small)")
    parser.add_argument(
        "--concurrency", default=",".join(map(str, CONCURRENCY)), help="max_concurrency values"
    )
    parser.add_argument("--baseline", type=Path, help="a checkout to compare with, side by side")
    parser.add_argument("--repeats", type=int, default=3, help="with --baseline: runs per side")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        # The collector tuned as the switchover command tunes it for its engines.
        with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp, tuned_collector():
            case = asyncio.run(run_case(args.child, int(args.concurrency), Path(tmp)))
        print(json.dumps(asdict(case)))
        return [case]
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = list(SMALL_SIZES if args.small else FULL_SIZES)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    header("engine overhead: no-op 3-stage tasks, SqliteStore synchronous=FULL")
    if args.baseline is not None:
        side_by_side(sizes, concurrencies, args.baseline.resolve(), args.repeats)
        return []
    cases = []
    for tenants in sizes:
        for concurrency in concurrencies:
            case = run_child(tenants, concurrency)
            cases.append(case)
            print(
                f"   {tenants:>7,} tenants, concurrency {concurrency:>5}: "
                f"{case.tasks_per_s:>7,.0f} tasks/s, {case.stage_us:>5.0f} µs/stage, "
                f"{case.peak_rss_mib:>6,.0f} MiB peak",
                flush=True,
            )
    _print_table(cases)
    print(
        "µs/stage: wall time per stage; loop CPU / writer CPU: µs of CPU per stage in the event"
        " loop thread and in the store's writer thread; txns: durable transactions (fsyncs)"
    )
    _print_growth(cases)
    _print_targets(cases)
    return cases


if __name__ == "__main__":
    main()
