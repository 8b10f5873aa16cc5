"""Benchmarks 1–3 one after the other: ``python -m bench.all [--small]`` (``make bench``).

``--small`` runs each at its small size (a few minutes in all); without it, the full sizes
(engine overhead at 100k tenants takes several minutes more per repeat). Every figure is
measured ``--repeats`` times (3 by default) and printed as min / median / max:

1. engine overhead: every (size, concurrency) case ``--repeats`` times, each in its own
   subprocess (``bench.engine_overhead.run_child``), the cases interleaved so that a burst of
   load on the machine spreads over all of them;
2. I/O floor: ``bench.io_floor`` with ``--repeats`` alternating runs per side, then the spread
   of each side and of the ratio engine / floor of each pair of runs;
3. verify fan-out: ``bench.verify_fanout`` with at least ``--repeats`` warm rounds, then the
   spread of each client's warm rounds at each fan-out.

The Temporal comparison is not part of it: it needs the ``bench`` extra and takes minutes
(``bench.temporal_compare``).

Run: ``python -m bench.all [--small] [--repeats 3] [--only engine,io,fanout]
[--sizes 1000,10000] [--concurrency 10,100,1000]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from bench import engine_overhead, io_floor, verify_fanout
from bench.machine import header, load_average, spread

BENCHMARKS = ("engine", "io", "fanout")


def engine_cases(sizes: Sequence[int], concurrencies: Sequence[int], repeats: int) -> None:
    """Benchmark 1, every case ``repeats`` times: min / median / max of each figure."""
    header(
        "engine overhead: no-op 3-stage tasks, SqliteStore synchronous=FULL, "
        f"{repeats} repeats per case"
    )
    cases = [(size, concurrency) for size in sizes for concurrency in concurrencies]
    runs: dict[tuple[int, int], list[engine_overhead.Case]] = {case: [] for case in cases}
    for repeat in range(repeats):
        for size, concurrency in cases:
            case = engine_overhead.run_child(size, concurrency)
            runs[size, concurrency].append(case)
            print(
                f"   [{repeat + 1}/{repeats}] {size:>7,} tenants, concurrency {concurrency:>5}: "
                f"{case.tasks_per_s:>7,.0f} tasks/s, {case.stage_us:>5.0f} µs/stage, "
                f"load {load_average()}",
                flush=True,
            )
    print(
        f"   {'tenants':>8} {'conc.':>5} {'tasks/s min / median / max':>27} "
        f"{'µs/stage':>17} {'loop CPU µs':>15} {'writer CPU µs':>15} {'stages/txn':>10} "
        f"{'peak RSS MiB':>12}"
    )
    for (size, concurrency), group in runs.items():
        stages_per_txn = statistics.median(c.stages / max(c.transactions, 1) for c in group)
        print(
            f"   {size:>8,} {concurrency:>5} {spread((c.tasks_per_s for c in group), 0):>27} "
            f"{spread((c.stage_us for c in group), 0):>17} "
            f"{spread((c.loop_cpu_stage_us for c in group), 0):>15} "
            f"{spread((c.writer_cpu_stage_us for c in group), 0):>15} "
            f"{stages_per_txn:>10.1f} {max(c.peak_rss_mib for c in group):>12,.0f}"
        )
    print(
        "   µs/stage: wall time per stage; loop / writer CPU: CPU µs per stage in the event-loop"
        " thread and in the store's writer thread (min / median / max); stages/txn: median;"
        " peak RSS: the largest of the repeats"
    )


def io_spread(small: bool, repeats: int) -> None:
    """Benchmark 2 with ``repeats`` runs per side, then the spread of each side and ratio."""
    sides = io_floor.main([*(["--small"] if small else []), "--repeats", str(repeats)])
    ratios = [e / f for e, f in zip(sides.engine, sides.floor, strict=True)]
    print(f"   engine s:       {spread(sides.engine, 3)}")
    print(f"   floor s:        {spread(sides.floor, 3)}")
    print(f"   engine / floor: {spread(ratios, 2)} (each pair of runs); {sides.ratio:.2f} medians")


def fanout_spread(small: bool, repeats: int) -> None:
    """Benchmark 3 with at least ``repeats`` warm rounds, then each client's spread."""
    rounds = max(repeats, 3 if small else 5)
    results = verify_fanout.main([*(["--small"] if small else []), "--rounds", str(rounds)])
    print(f"   warm rounds, ms (min / median / max of {rounds}):")
    for result in results:
        warm = spread((s * 1000 for s in result.warm_s), 0)
        print(
            f"   {result.fanout:>6,} instances  {result.client:<14} {warm:>24}"
            f"   cold {result.cold_s * 1000:,.0f}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the engine overhead, I/O floor and verify fan-out benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true", help="small sizes")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each figure")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="subset of engine,io,fanout")
    parser.add_argument("--sizes", help="engine overhead: comma-separated plan sizes")
    parser.add_argument(
        "--concurrency",
        default=",".join(map(str, engine_overhead.CONCURRENCY)),
        help="engine overhead: comma-separated max_concurrency values",
    )
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",")}
    if args.sizes:
        sizes = [int(size) for size in args.sizes.split(",")]
    else:
        sizes = list(engine_overhead.SMALL_SIZES if args.small else engine_overhead.FULL_SIZES)
    start = time.perf_counter()
    if "engine" in only:
        concurrencies = [int(c) for c in args.concurrency.split(",")]
        engine_cases(sizes, concurrencies, args.repeats)
        print(flush=True)
    if "io" in only:
        io_spread(args.small, args.repeats)
        print(flush=True)
    if "fanout" in only:
        fanout_spread(args.small, args.repeats)
        print(flush=True)
    print(f"bench.all: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
