"""Where benchmark 1's time goes: py-spy samples the threads of one engine-overhead case.

What is counted (printed in the header):

* ``--count gil`` (the default): at each tick only the thread holding the interpreter lock
  (py-spy ``--gil``), so a share is a share of the Python work done in that thread. A thread
  waiting for the lock, blocked in a system call that released it (fsync, SQLite's own work,
  select) or idle is not counted;
* ``--count busy``: at each tick every thread that is not idle by its leaf frame, whether or
  not it holds the lock (py-spy ``--idle``, then the waits below left out). A thread waiting
  to take the lock back after a system call counts as busy in the function that made the call
  (e.g. ``_write_to_self`` of ``call_soon_threadsafe`` in the store's writer thread), so these
  shares over-state whatever runs just before the lock is given up.

The event loop and the store's writer thread share one lock, so both are listed: for each, the
share of its counted samples spent in (inclusive) and directly in (self) the top functions
(and, for the main thread, only samples inside the event loop: imports and setup left out).
py-spy is in the ``bench`` extra. Sampling slows the case down (the threads share the 2 cores
with py-spy), so read shares, not absolute times; shares of one run vary by a few points from
run to run (``--repeats`` prints min / median / max of each listed function's share).

Run: ``python -m bench.profile_engine [--tenants 10000] [--concurrency 100] [--top 30]
[--count gil|busy] [--repeats 1] [--function NAME ...]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.machine import header, spread

# Leaf frames where a thread waits rather than works: the event loop in select, the reader
# pool's idle worker, the store's writer blocked on its queue (a C call, so its own frame).
_IDLE = (
    "select (selectors.py)",
    "_worker (concurrent/futures/thread.py)",
    "Condition.wait (threading.py)",
    "SqliteStore._serve (",
)


_LOOP = "BaseEventLoop._run_once"


def _frame(text: str) -> str:
    return re.sub(r":\d+\)$", ")", text)


@dataclass(frozen=True, slots=True)
class Profile:
    """One run's counted samples: per thread, in all, inclusive of and directly in a function."""

    counted: Counter[str]
    inclusive: dict[str, Counter[str]]
    own: dict[str, Counter[str]]


def parse(raw: Path) -> Profile:
    """Read py-spy's raw output (``thread;frame;...;leaf count`` lines) into a Profile.

    Samples whose leaf is an idle wait are left out, and so are the main thread's samples
    outside the event loop (start-up: imports, building the plan).
    """
    inclusive: dict[str, Counter[str]] = {}
    own: dict[str, Counter[str]] = {}
    counted: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = re.sub(r"\s*\(\d+\)", "", frames[0]).removeprefix("thread").strip(" :")
        calls = [_frame(f) for f in frames[1:]]
        if not calls or any(idle in calls[-1] for idle in _IDLE):
            continue
        if thread in ("MainThread", "") and not any(_LOOP in call for call in calls):
            continue  # named or not yet named (before threading is imported)
        n = int(count)
        counted[thread] += n
        for name in dict.fromkeys(calls):
            inclusive.setdefault(thread, Counter())[name] += n
        own.setdefault(thread, Counter())[calls[-1]] += n
    return Profile(counted, inclusive, own)


def _share(profiles: Sequence[Profile], thread: str, table: str, name: str) -> str:
    """A function's share of its thread's counted samples: one figure, or min / median / max."""
    shares = [
        getattr(p, table).get(thread, Counter())[name] / p.counted[thread]
        for p in profiles
        if p.counted[thread]
    ]
    if len(shares) == 1:
        return f"{shares[0]:6.1%}"
    return spread((share * 100 for share in shares), 1, "%")


def report(profiles: Sequence[Profile], top: int, functions: Sequence[str] = ()) -> None:
    """Print per thread its counted samples, then the top functions by inclusive and self share.

    With more than one run, every share is min / median / max over the runs; functions are
    ranked by their samples over all runs. Each of ``functions`` (a part of a frame's name) is
    then printed for every thread, listed among the top or not.
    """
    counted: Counter[str] = sum((p.counted for p in profiles), Counter())
    total = sum(counted.values())
    for thread, samples in counted.most_common():
        if samples < total / 100:
            continue
        runs = [p.counted[thread] / max(sum(p.counted.values()), 1) * 100 for p in profiles]
        print(
            f"-- thread {thread or '?'}: {samples:,} counted samples "
            f"({spread(runs, 0, '%')} of all counted, min / median / max over "
            f"{len(profiles)} run{'s' if len(profiles) > 1 else ''})"
        )
        for table, heading, limit in (("inclusive", "inclusive", top), ("own", "self", top // 2)):
            merged: Counter[str] = sum(
                (getattr(p, table).get(thread, Counter()) for p in profiles), Counter()
            )
            print(f"   {heading}:")
            # Frames on every counted stack (the interpreter's entry, the thread's root) say
            # nothing: left out.
            shown = [name for name, n in merged.most_common() if n < samples][:limit]
            for name in shown:
                print(f"     {_share(profiles, thread, table, name):>20}  {name}")
        for part in functions:
            names = sorted(
                {n for p in profiles for n in p.inclusive.get(thread, Counter()) if part in n}
            )
            for name in names or [part]:
                print(
                    f"   {name}: inclusive {_share(profiles, thread, 'inclusive', name)}, "
                    f"self {_share(profiles, thread, 'own', name)}"
                )


COUNTS = {
    "gil": (
        ["--gil"],
        "samples of the thread holding the GIL only (py-spy --gil): waiting for the lock, "
        "system calls that released it and idle waits are not counted",
    ),
    "busy": (
        ["--idle"],
        "samples of every thread not idle by its leaf frame, holding the GIL or not "
        "(py-spy --idle, idle waits left out): waiting for the lock counts as work",
    ),
}


def profile_once(spy: str, tenants: int, concurrency: int, rate: int, count: str) -> Profile:
    """Run one engine-overhead case under py-spy; print its figures; return its samples."""
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp:
        raw = Path(tmp) / "profile.raw"
        command = [
            spy, "record", "--threads", *COUNTS[count][0], "-r", str(rate), "-f", "raw",
            "-o", str(raw), "--", sys.executable, "-m", "bench.engine_overhead",
            "--child", str(tenants), "--concurrency", str(concurrency),
        ]  # fmt: skip
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        case = [line for line in done.stdout.splitlines() if line.startswith("{")]
        print(f"   case: {case[-1] if case else '?'}", flush=True)
        return parse(raw)


def main(argv: Sequence[str] | None = None) -> None:
    """Profile one engine-overhead case under py-spy (``--repeats`` times) and print shares."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--top", type=int, default=30, help="functions listed per thread")
    parser.add_argument("--rate", type=int, default=500, help="samples per second")
    parser.add_argument("--count", choices=tuple(COUNTS), default="gil", help="what is counted")
    parser.add_argument("--repeats", type=int, default=1, help="profiled runs")
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        help="also print the shares of the frames whose name contains this, in every thread",
    )
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: .venv/bin/pip install -e '.[bench]'")
    header(f"engine profile: {args.tenants:,} no-op tenants, concurrency {args.concurrency}")
    print(f"   counted: {COUNTS[args.count][1]}; {args.rate} ticks/s, {args.repeats} run(s)")
    profiles = [
        profile_once(spy, args.tenants, args.concurrency, args.rate, args.count)
        for _ in range(args.repeats)
    ]
    report(profiles, args.top, args.function)


if __name__ == "__main__":
    main()
