"""How long ``switchover validate`` takes on big plan files, YAML and JSON, and its peak memory.

Writes plan documents of N tenants (every field set, previous config included) as YAML and
as JSON, then runs ``python -m switchover validate FILE`` on each in its own process, several
times: min / median / max wall seconds, the process's CPU seconds (user + system: less noisy
than wall time on a shared machine) and its peak RSS. Targets at 100,000 tenants: YAML under
8 s, JSON under 3 s, peak memory under 1 GiB.

``--baseline SRC`` also runs another source tree (a ``src`` directory holding ``switchover``,
e.g. a copy of this one with older files), alternating with this one run by run, so that
both see the same machine load and the ratio means something.

``--plans DIR`` keeps the plan files in DIR and reuses those already there (100,000 tenants
take most of a minute to write); delete them when ``tenant()`` changes.

    python -m bench.validate_plan [--small] [--tenants N,..] [--repeats R] [--baseline SRC]
                                  [--plans DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.machine import describe, load_average, spread

TARGETS = {"yaml": 8.0, "json": 3.0}
PEAK_TARGET_MIB = 1024


def tenant(index: int) -> dict[str, Any]:
    """One tenant moving from blue to green, with every field the catalogue reads."""
    name = f"tenant-{index:06d}"
    octet = index % 250

    def config(unit: str, version: int) -> dict[str, Any]:
        return {
            "tenantId": name,
            "planVersion": version,
            "deployUnitId": 2 if unit == "green" else 1,
            "deployUnitVersion": version,
            "deployUnitName": unit,
            "nacosNameSpace": "bench",
            "networkEndpoints": [
                {
                    "key": f"{name}-route",
                    "sourceIp": f"10.0.{octet}.10",
                    "sourceDomain": f"{name}.blue.example.internal",
                    "targetDomain": f"{name}.{unit}.example.internal",
                }
            ],
            "calledNumberRules": f"400{index:06d}*, 800{index:06d}*",
            "trunkGroup": f"trunk-{unit}",
        }

    doc = config("green", 20)
    doc["sourceTenantDeployConfig"] = config("blue", 19)
    return doc


def write_plans(directory: Path, tenants: int, *, reuse: bool = False) -> dict[str, Path]:
    """The same plan as YAML and as JSON (``reuse``: the files already there, if both are)."""
    paths = {"yaml": directory / f"plan-{tenants}.yaml", "json": directory / f"plan-{tenants}.json"}
    if reuse and all(path.exists() for path in paths.values()):
        return paths
    doc = {
        "plan": {"id": f"bench-{tenants}", "version": 20, "max_concurrency": 100},
        "tenants": [tenant(i) for i in range(tenants)],
    }
    with paths["yaml"].open("w") as out:
        yaml.dump(doc, out, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)
    paths["json"].write_text(json.dumps(doc))
    return paths


# The child's own peak: ru_maxrss would also count the parent's resident memory at fork time
# (Linux keeps the high-water mark across exec), and this parent holds the plans it wrote.
_MEASURE = (
    "import re, resource, runpy, sys\n"
    "sys.argv = ['switchover', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('switchover', run_name='__main__')\n"
    "finally:\n"
    "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    try:\n"
    "        status = open('/proc/self/status').read()\n"
    "        peak = int(re.search(r'VmHWM:\\s*(\\d+)', status).group(1))\n"
    "    except (OSError, AttributeError):\n"
    "        peak = usage.ru_maxrss\n"
    "    print(f'peak-kib {peak}', file=sys.stderr)\n"
    "    print(f'cpu-s {usage.ru_utime + usage.ru_stime}', file=sys.stderr)\n"
)


def calibration() -> float:
    """Seconds of a fixed pure-Python loop in a fresh process: how fast the machine is now
    (its speed varies with what else runs on the host, which the load average does not see)."""
    code = "import time; t = time.perf_counter(); sum(range(30_000_000))\n"
    code += "print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout)


@dataclass(frozen=True, slots=True)
class Run:
    """One ``switchover validate`` process."""

    wall: float
    cpu: float
    peak_mib: float


def validate_once(path: Path, source: Path | None = None) -> Run:
    """Wall and CPU seconds and peak RSS of one ``switchover validate`` process.

    Args:
        path: the plan file.
        source: a ``src`` directory to import switchover from instead of this tree's.
    """
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"validate {path} exited {done.returncode}: {done.stderr[-400:]}")
    figures = dict(line.split() for line in done.stderr.splitlines() if line.startswith(("p", "c")))
    return Run(wall, float(figures["cpu-s"]), int(figures["peak-kib"]) / 1024)


def report(label: str, size: int, kind: str, path: Path, runs: Sequence[Run]) -> float:
    """Print one line of figures; returns the median wall seconds."""
    walls = [run.wall for run in runs]
    peak = max(run.peak_mib for run in runs)  # the largest of the runs' own peaks
    median = statistics.median(walls)
    verdict = ""
    if size >= 100_000:
        met = median < TARGETS[kind] and peak < PEAK_TARGET_MIB
        verdict = f"  (target < {TARGETS[kind]:g} s, < 1 GiB: {'met' if met else 'not met'})"
    print(
        f"  {label:>8} {size:>7,} tenants {kind:>4} ({path.stat().st_size / 2**20:5.1f} MiB): "
        f"wall {spread(walls, unit='s')}  cpu {spread([run.cpu for run in runs], unit='s')}  "
        f"peak RSS {peak:5.0f} MiB{verdict}"
    )
    return median


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true", help="10,000 tenants only")
    parser.add_argument("--tenants", help="comma-separated plan sizes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="a src directory to compare with")
    parser.add_argument("--plans", type=Path, help="keep the plan files here, and reuse them")
    args = parser.parse_args(argv)
    sizes = (
        [int(n) for n in args.tenants.split(",")]
        if args.tenants
        else ([10_000] if args.small else [10_000, 100_000])
    )
    trees: dict[str, Path | None] = {"this": None}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    print(describe())
    print(f"  calibration (sum of 30M ints): {calibration():.2f} s")
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp:
        directory = Path(tmp) if args.plans is None else args.plans
        directory.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            paths = write_plans(directory, size, reuse=args.plans is not None)
            for kind, path in paths.items():
                runs: dict[str, list[Run]] = {label: [] for label in trees}
                for _ in range(args.repeats):  # alternating: both see the same load
                    for label, source in trees.items():
                        runs[label].append(validate_once(path, source))
                medians = {label: report(label, size, kind, path, runs[label]) for label in trees}
                if "baseline" in medians:
                    ratio = medians["this"] / medians["baseline"]
                    print(f"  {'':>8} this / baseline (median wall): x{ratio:.2f}")
            print(f"  load average now {load_average()}; calibration {calibration():.2f} s")


if __name__ == "__main__":
    main()
