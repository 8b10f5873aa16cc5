"""Where benchmark 1's time goes: py-spy samples every thread of one engine-overhead case.

The event loop and the store's writer thread share one GIL, so both are listed: for each, the
share of its samples spent in (inclusive) and directly in (self) the top functions, idle
waiting left out (and, for the main thread, anything outside the event loop: imports, setup).
py-spy is not a dependency: ``.venv/bin/pip install py-spy``. Sampling slows the case down
(both threads share the 2 cores with py-spy), so read shares, not absolute times.

Run: ``python -m bench.profile_engine [--tenants 10000] [--concurrency 100] [--top 30]``.
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
from pathlib import Path

from bench.machine import header

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


def aggregate(raw: Path, top: int) -> None:
    """Print per thread: samples, then the top functions by inclusive and by self share."""
    inclusive: dict[str, Counter[str]] = {}
    own: dict[str, Counter[str]] = {}
    busy: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = re.sub(r"\s*\(\d+\)", "", frames[0]).removeprefix("thread").strip(" :")
        calls = [_frame(f) for f in frames[1:]]
        if not calls or any(idle in calls[-1] for idle in _IDLE):
            continue
        if thread == "MainThread" and not any(_LOOP in call for call in calls):
            continue  # start-up: imports, building the plan
        n = int(count)
        busy[thread] += n
        for name in dict.fromkeys(calls):
            inclusive.setdefault(thread, Counter())[name] += n
        own.setdefault(thread, Counter())[calls[-1]] += n
    total = sum(busy.values())
    for thread, samples in busy.most_common():
        if samples < total / 100:
            continue
        print(f"-- thread {thread or '?'}: {samples} busy samples ({samples / total:.0%} of all)")
        print("   inclusive:")
        for name, n in inclusive[thread].most_common(top):
            print(f"     {n / samples:6.1%}  {name}")
        print("   self:")
        for name, n in own[thread].most_common(top // 2):
            print(f"     {n / samples:6.1%}  {name}")


def main(argv: Sequence[str] | None = None) -> None:
    """Profile one engine-overhead case under py-spy and print the aggregate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--top", type=int, default=30, help="functions listed per thread")
    parser.add_argument("--rate", type=int, default=500, help="samples per second")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    header(f"engine profile: {args.tenants:,} no-op tenants, concurrency {args.concurrency}")
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp:
        raw = Path(tmp) / "profile.raw"
        command = [
            spy, "record", "--threads", "--idle", "-r", str(args.rate), "-f", "raw",
            "-o", str(raw), "--", sys.executable, "-m", "bench.engine_overhead",
            "--child", str(args.tenants), "--concurrency", str(args.concurrency),
        ]  # fmt: skip
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        case = [line for line in done.stdout.splitlines() if line.startswith("{")]
        print(f"   case: {case[-1] if case else '?'}")
        aggregate(raw, args.top)


if __name__ == "__main__":
    main()
