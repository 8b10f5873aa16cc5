"""How long ``switchover diff`` takes for a 10,000-tenant plan against 10,000 Redis records.

Starts a throw-away ``redis-server`` (``RedisServer``) on a free loopback port and fills it with
one config hash per tenant, as the tenants' previous configs left them (blue, version 19),
except a few: 5 tenants have no record, 3 drifted (version 7), 200 hold what the plan writes
already. Then, over several repeats, min / median / max of:

* ``diff_plan`` in this process on the parsed plan (``RedisClient.hgetall_many``, 500 keys
  per pipelined round trip, then the field-by-field comparison), and the read alone;
* ``switchover diff --json PLAN.json`` and ``switchover diff PLAN.json`` as processes, next to
  ``switchover validate PLAN.json`` (the same parse and validation, no Redis), so that the
  diff's own share of a command is visible.

    python -m bench.diff_plan [--tenants 10000] [--repeats 5] [--cli-repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis
import yaml

from bench import validate_plan
from bench.machine import header
from switchover import wire
from switchover.diff import diff_plan
from switchover.domain.planfile import parse_plan_bytes
from switchover.domain.records import PlanSpec
from switchover.fleet.redis_server import RedisServer
from switchover.settings import Settings
from switchover.wiring import open_targets

NO_RECORD_EVERY = 2_000
DRIFTED = (1, 2, 3)
ALREADY_SWITCHED = 200


def tenant(index: int) -> dict[str, Any]:
    """One tenant moving from blue (v19) to green (v20), with every field the catalogue reads
    (``bench.validate_plan``'s), in one of three namespaces."""
    doc = validate_plan.tenant(index)
    doc["nacosNameSpace"] = doc["sourceTenantDeployConfig"]["nacosNameSpace"] = f"ns-{index % 3}"
    return doc


def write_plan(path: Path, tenants: int) -> PlanSpec:
    """The plan as a JSON file, and as parsed."""
    doc = {
        "plan": {"id": f"bench-diff-{tenants}", "version": 20, "max_concurrency": 100},
        "tenants": [tenant(i) for i in range(tenants)],
    }
    data = json.dumps(doc).encode()
    path.write_bytes(data)
    return parse_plan_bytes(data)


def populate(url: str, spec: PlanSpec, prefix: str) -> None:
    """One record per tenant as its previous config left it, with the exceptions above."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        client.flushdb()
        pipe = client.pipeline(transaction=False)
        for index, item in enumerate(spec.tenants):
            if index % NO_RECORD_EVERY == NO_RECORD_EVERY - 1:
                continue
            config, previous = item.config, item.previous
            assert previous is not None
            if index < ALREADY_SWITCHED + len(DRIFTED) + 1 and index not in DRIFTED and index:
                applied, source, version = config, previous, config.plan_version
            else:
                applied, source, version = previous, None, previous.plan_version
            if index in DRIFTED:
                version = 7
            pipe.hset(
                wire.tenant_config_key(prefix, config.tenant_id),
                mapping={
                    wire.BG_GATEWAY_FIELD: wire.bg_gateway_value(applied, source),
                    wire.OB_FIELD: wire.ob_value(applied, source, 1_700_000_000_000 + index),
                    wire.METADATA_FIELD: wire.metadata_value(version),
                },
            )
            if len(pipe) >= 1_000:
                pipe.execute()
        pipe.execute()
    finally:
        client.close()


def spread(label: str, values: Sequence[float], unit: str = "s") -> str:
    """``label: min … median … max``."""
    return (
        f"  {label:<34} min {min(values):7.3f} {unit}  median {statistics.median(values):7.3f} "
        f"{unit}  max {max(values):7.3f} {unit}"
    )


async def in_process(settings: Settings, spec: PlanSpec, repeats: int) -> None:
    """``diff_plan`` and the read alone, warm (one run first to connect)."""
    async with open_targets(settings) as targets:
        keys = [
            wire.tenant_config_key(settings.redis.key_prefix, t.config.tenant_id)
            for t in spec.tenants
        ]
        diff = await diff_plan(spec, settings, targets.redis, targets.builder)
        summary = "; ".join(f"{k}: {v:,}" for k, v in diff.summary().items())
        print(f"  summary: {summary}")
        totals, reads = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            await diff_plan(spec, settings, targets.redis, targets.builder)
            totals.append(time.perf_counter() - start)
            start = time.perf_counter()
            await targets.redis.hgetall_many(keys)
            reads.append(time.perf_counter() - start)
    print(spread(f"diff_plan ({len(spec.tenants):,} tenants)", totals))
    print(spread("  of which HGETALL reads", reads))


def command(argv: list[str]) -> Callable[[], float]:
    """A function running ``python -m switchover ARGV`` once, returning its wall seconds."""

    def once() -> float:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "switchover", *argv],
            capture_output=True,
            check=False,
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr[-400:]!r}")
        return wall

    return once


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5, help="in-process repeats")
    parser.add_argument("--cli-repeats", type=int, default=3, help="repeats of each command")
    args = parser.parse_args(argv)
    header("switchover diff: a plan against what Redis holds")
    with tempfile.TemporaryDirectory(prefix="switchover-bench-") as tmp, RedisServer() as server:
        directory = Path(tmp)
        plan = directory / "plan.json"
        spec = write_plan(plan, args.tenants)
        settings = Settings.of(redis={"url": server.url}, store=directory / "unused.db")
        populate(server.url, spec, settings.redis.key_prefix)
        config = directory / "settings.yaml"
        config.write_text(yaml.safe_dump({"redis": {"url": server.url}}), encoding="utf-8")
        print(f"  plan: {plan.stat().st_size / 2**20:.1f} MiB of JSON; redis {server.url}")
        asyncio.run(in_process(settings, spec, args.repeats))
        common = ["--store", str(directory / "unused.db"), "--config", str(config)]
        for label, words in (
            ("switchover validate (baseline)", ["validate", str(plan)]),
            ("switchover diff --json", ["diff", "--json", str(plan)]),
            ("switchover diff (text)", ["diff", str(plan)]),
        ):
            once = command([*common, *words])
            print(spread(label, [once() for _ in range(args.cli_repeats)]))


if __name__ == "__main__":
    main()
