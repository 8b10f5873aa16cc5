"""Benchmarks 1–3 one after the other: ``python -m bench.all [--small]`` (``make bench``).

``--small`` runs each at its small size (a couple of minutes in all); without it, the full
sizes (engine overhead at 100k tenants takes a few minutes more). The Temporal comparison is
not part of it: it needs the ``bench`` extra and takes minutes (``bench.temporal_compare``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from bench import engine_overhead, io_floor, verify_fanout


def main(argv: Sequence[str] | None = None) -> None:
    """Run the engine overhead, I/O floor and verify fan-out benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    size = ["--small"] if args.small else []
    start = time.perf_counter()
    for bench in (engine_overhead, io_floor, verify_fanout):
        bench.main(size)
        print(flush=True)
    print(f"bench.all: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
