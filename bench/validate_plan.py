"""How long ``switchover validate`` takes on big plan files, YAML and JSON, and its peak memory.

Writes plan documents of N tenants (every field set, previous config included) as YAML and
as JSON, then runs ``python -m switchover validate FILE`` on each in its own process, several
times: min / median / max wall seconds and the peak RSS of the process. Targets at 100,000
tenants: YAML under 8 s, JSON under 3 s, peak memory under 1 GiB.

    python -m bench.validate_plan [--small] [--tenants N,..] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bench.machine import describe

TARGETS = {"yaml": 8.0, "json": 3.0}


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


def write_plans(directory: Path, tenants: int) -> dict[str, Path]:
    """The same plan as YAML and as JSON."""
    doc = {
        "plan": {"id": f"bench-{tenants}", "version": 20, "max_concurrency": 100},
        "tenants": [tenant(i) for i in range(tenants)],
    }
    paths = {"yaml": directory / f"plan-{tenants}.yaml", "json": directory / f"plan-{tenants}.json"}
    with paths["yaml"].open("w") as out:
        yaml.dump(doc, out, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)
    paths["json"].write_text(json.dumps(doc))
    return paths


_MEASURE = (
    "import resource, runpy, sys\n"
    "sys.argv = ['switchover', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('switchover', run_name='__main__')\n"
    "finally:\n"
    "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "    print(f'peak-kib {peak}', file=sys.stderr)\n"
)


def validate_once(path: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one ``switchover validate`` process."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"validate {path} exited {done.returncode}: {done.stderr[-400:]}")
    peak = next(
        int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("peak-kib")
    )
    return wall, peak / 1024


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true", help="10,000 tenants only")
    parser.add_argument("--tenants", help="comma-separated plan sizes")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = (
        [int(n) for n in args.tenants.split(",")]
        if args.tenants
        else ([10_000] if args.small else [10_000, 100_000])
    )
    print(describe())
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp:
        for size in sizes:
            paths = write_plans(Path(tmp), size)
            for kind, path in paths.items():
                runs = [validate_once(path) for _ in range(args.repeats)]
                walls = [w for w, _ in runs]
                peak = max(p for _, p in runs)  # the largest of the runs' own peaks
                median = statistics.median(walls)
                target = TARGETS[kind] if size >= 100_000 else None
                verdict = ""
                if target is not None:
                    met = median < target and peak < 1024
                    verdict = f"  (target < {target:g} s, < 1 GiB: {'met' if met else 'not met'})"
                print(
                    f"  {size:>7,} tenants {kind:>4} ({path.stat().st_size / 2**20:6.1f} MiB): "
                    f"min {min(walls):6.2f} s  median {median:6.2f} s  max {max(walls):6.2f} s  "
                    f"peak RSS {peak:6.0f} MiB{verdict}"
                )


if __name__ == "__main__":
    main()
