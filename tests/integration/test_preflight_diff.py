"""``preflight`` and ``diff`` (and ``run --dry-run``) against a real Redis and the loopback fleet.

Writes are watched with Redis' own ``MONITOR`` (every command any client sends) and the fleet's
recorded HTTP requests, never with mocks.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from switchover.diff import ChangeKind, FieldStatus, RouteChangeKind, diff_plan
from switchover.domain.records import PlanSpec
from switchover.errors import StepFailedError
from switchover.fleet.fleet import Fleet
from switchover.fleet.redis_server import RedisServer
from switchover.preflight import (
    PROBE_MESSAGE,
    STAGE_SERVICES,
    Concern,
    Problem,
    preflight,
    probe_key,
)
from switchover.settings import Settings
from switchover.stages.catalogue import STAGE_ORDER
from switchover.wiring import open_targets
from tests.integration.conftest import (
    BG_FIELD,
    KEY_PREFIX,
    NEW_VERSION,
    OB_FIELD,
    OLD_VERSION,
    TOPIC,
    StartEngine,
    Subscriber,
    bg_gateway_bytes,
    plan_doc,
    plan_spec,
    settings_values,
    tenant_doc,
)

pytestmark = pytest.mark.integration

TENANTS = ["t-1", "t-2", "t-3"]
COMMAND_TIMEOUT = 60.0
READ_COMMANDS = frozenset({"HGETALL", "CLIENT", "PING", "HELLO", "SELECT"})
"""What a read-only command may send: its reads and the client's connection handshake."""
WRITE_COMMANDS = frozenset(
    {"HSET", "HDEL", "DEL", "SET", "PUBLISH", "EVAL", "EVALSHA", "INCR", "PEXPIRE", "MULTI"}
)


# ----------------------------------------------------------------------------- helpers


def make_settings(tmp_path: Path, redis_server: RedisServer, fleet: Fleet, **kw: Any) -> Settings:
    """Settings pointing at the test's Redis and fleet."""
    return Settings.of(**settings_values(tmp_path / "switchover.db", redis_server.url, fleet, **kw))


def three_tenants() -> PlanSpec:
    """Three tenants with every stage, moving blue (v19) → green (v20)."""
    return plan_spec("p-diff", [tenant_doc(t) for t in TENANTS])


async def run_preflight(settings: Settings, spec: PlanSpec) -> list[Problem]:
    """``preflight`` with the clients ``wiring`` makes."""
    async with open_targets(settings) as targets:
        return await preflight(spec, settings, targets.redis, targets.discovery, targets.builder)


async def dump_all(client: aioredis.Redis) -> dict[str, Any]:
    """Every key of the database with its type and value (TTLs left out: they tick)."""
    found: dict[str, Any] = {}
    for key in sorted(await client.keys("*")):
        kind = await client.type(key)
        if kind == "hash":
            value: Any = await client.hgetall(key)
        elif kind == "string":
            value = await client.get(key)
        else:
            value = kind  # nothing of ours uses other types
        found[key] = (kind, value)
    return found


def fleet_traffic(fleet: Fleet) -> dict[str, tuple[int, int]]:
    """``address -> (requests, recorded calls)`` of every fleet instance."""
    return {i.address: (i.requests, len(i.calls)) for i in fleet.all_instances}


class Monitor:
    """Every command Redis executes while it runs, from a ``MONITOR`` connection.

    ``finish`` sends an ``ECHO`` marker and returns the commands seen before it: Redis runs
    commands one at a time, so everything sent before the marker is in the list.
    """

    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(url, decode_responses=True)
        self._marker = f"monitor-end-{uuid.uuid4().hex}"
        self.commands: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start monitoring; returns once Redis confirmed MONITOR."""
        self._monitor = self._client.monitor()
        await self._monitor.__aenter__()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            info = await self._monitor.next_command()
            if info["command"] == f"ECHO {self._marker}":
                return
            self.commands.append(info["command"])

    async def finish(self) -> list[str]:
        """The commands seen since ``start``; stops monitoring."""
        assert self._reader is not None
        await self._client.echo(self._marker)
        async with asyncio.timeout(10):
            await self._reader
        await self._monitor.__aexit__(None, None, None)
        return self.commands

    @staticmethod
    def verbs(commands: list[str]) -> set[str]:
        """The command names (upper case) of MONITOR lines."""
        return {command.split(" ", 1)[0].upper() for command in commands}

    async def close(self) -> None:
        """Stop monitoring if ``finish`` did not (idempotent)."""
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            await self._monitor.__aexit__(None, None, None)
        await self._client.aclose()


@pytest.fixture
async def monitor(redis_server: RedisServer) -> AsyncIterator[Monitor]:
    """A MONITOR of the test's Redis, for the test to ``start`` once it has set Redis up."""
    watching = Monitor(redis_server.url)
    try:
        yield watching
    finally:
        await watching.close()


@dataclass(frozen=True)
class Result:
    """How a command ended and what it printed."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout as one JSON document."""
        return json.loads(self.stdout)


@dataclass
class Cli:
    """``python -m switchover --store S --config C ...`` in a subprocess, awaited with asyncio
    so that the fleet (in the test's event loop) keeps serving."""

    workdir: Path
    config: Path

    async def __call__(self, *args: str) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHOVER_")}
        env |= {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "switchover",
            "--store",
            str(self.workdir / "switchover.db"),
            "--config",
            str(self.config),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.workdir,
            env=env,
        )
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())


def make_cli(tmp_path: Path, redis_server: RedisServer, fleet: Fleet, **kw: Any) -> Cli:
    """A Cli whose settings file points at the test's Redis and fleet."""
    values = settings_values(tmp_path / "switchover.db", redis_server.url, fleet, **kw)
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return Cli(tmp_path, config)


def write_plan(path: Path, tenants: list[str], plan_id: str = "p-diff") -> Path:
    """A YAML plan file of ``tenants``, every stage each."""
    doc = plan_doc(plan_id, [tenant_doc(t) for t in tenants])
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


async def seed_previous_records(client: aioredis.Redis, tenants: list[str]) -> None:
    """Each tenant's record as its previous config (blue, v19) left it."""
    for tenant in tenants:
        await client.hset(
            KEY_PREFIX + tenant,
            mapping={
                BG_FIELD: bg_gateway_bytes(
                    tenant,
                    "blue",
                    "blue",
                    [(f"{tenant}-web", f"{tenant}.example.com", "192.0.2.10")],
                ),
                OB_FIELD: f'{{"tenantId":"{tenant}","sourceUnitName":"blue",'
                '"targetUnitName":"blue","timestamp":1}',
                "metadata": f'{{"version":{OLD_VERSION}}}',
            },
        )


# ----------------------------------------------------------------------------- preflight


def test_every_catalogue_stage_names_its_service_keys() -> None:
    """A stage added to the catalogue must say which discovery keys preflight checks for it."""
    assert set(STAGE_SERVICES) == set(STAGE_ORDER)


async def test_preflight_is_clean_on_the_fleet(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> None:
    """Every service key resolves and Redis takes HSET, HDEL and PUBLISH: no problem."""
    problems = await run_preflight(make_settings(tmp_path, redis_server, fleet), three_tenants())

    assert problems == []


async def test_preflight_with_redis_down_lists_the_redis_problem(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> None:
    """Redis stopped: one line saying it cannot connect to host:port, and why."""
    settings = make_settings(tmp_path, redis_server, fleet)
    redis_server.stop()

    problems = await run_preflight(settings, three_tenants())

    assert [str(p) for p in problems] == [
        f"redis: cannot connect to 127.0.0.1:{redis_server.port} (connection refused)"
    ]
    assert problems[0].concern is Concern.REDIS


async def test_preflight_names_a_missing_service_key_and_how_many_tenants_need_it(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> None:
    """No obService instance anywhere: one discovery problem, with the key, namespace and
    tenant count; nothing else is reported."""
    settings = make_settings(
        tmp_path, redis_server, fleet, discovery={"fallback_instances": {"obService": []}}
    )

    problems = await run_preflight(settings, three_tenants())

    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.concern is Concern.DISCOVERY
    assert problem.tenant_count == 3
    assert problem.example_tenants == ("t-1", "t-2", "t-3")
    assert str(problem).startswith(
        "discovery: no instance of obService in namespace it-ns (needed by 3 tenants, "
        "e.g. t-1, t-2, t-3)"
    )
    assert "\n" not in str(problem)


async def test_preflight_never_shows_a_secret(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet, redis_client: aioredis.Redis
) -> None:
    """The Redis password of redis.url appears in no problem: refused, or Redis down."""
    password = "preflight-secret-7f3a"
    url = f"redis://:{password}@127.0.0.1:{redis_server.port}/0"
    settings = make_settings(tmp_path, redis_server, fleet, redis={"url": url})
    # Connections already open (the fleet's, this client's) stay authenticated.
    await redis_client.config_set("requirepass", "not-the-configured-one")

    refused = await run_preflight(settings, three_tenants())
    redis_server.stop()
    down = await run_preflight(settings, three_tenants())

    assert [str(p) for p in refused] == [
        f"redis: 127.0.0.1:{redis_server.port} refused the credentials of redis.url "
        "(check the password)"
    ]
    assert [str(p) for p in down] == [
        f"redis: cannot connect to 127.0.0.1:{redis_server.port} (connection refused)"
    ]
    for problem in [*refused, *down]:
        assert password not in json.dumps(problem.to_dict())


async def test_preflight_writes_no_tenant_key_and_removes_its_probe(
    tmp_path: Path,
    redis_server: RedisServer,
    fleet: Fleet,
    redis_client: aioredis.Redis,
    subscriber: Subscriber,
    monitor: Monitor,
) -> None:
    """Every key is as before; the only writes are the probe key's HSET and HDEL and one probe
    PUBLISH, which no fleet instance acts on; no HTTP request reaches the fleet."""
    await seed_previous_records(redis_client, TENANTS)
    before = await dump_all(redis_client)
    traffic = fleet_traffic(fleet)
    settings = make_settings(tmp_path, redis_server, fleet)
    await monitor.start()

    assert await run_preflight(settings, three_tenants()) == []
    commands = await monitor.finish()

    assert await dump_all(redis_client) == before
    key = probe_key(KEY_PREFIX)
    assert key == KEY_PREFIX + "switchover:preflight"
    assert not await redis_client.exists(key)
    writes = [c for c in commands if c.split(" ", 1)[0].upper() in WRITE_COMMANDS]
    assert [w.split(" ", 2)[:2] for w in writes] == [
        ["HSET", key],
        ["HDEL", key],
        ["PUBLISH", TOPIC],
    ]
    await asyncio.sleep(0.1)  # let the fleet's subscription read the message
    assert subscriber.messages == [PROBE_MESSAGE]
    assert fleet.bus.notifications == 0
    assert fleet_traffic(fleet) == traffic


async def test_preflight_cli_exits_0_when_clean_and_4_listing_every_problem(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> None:
    """``switchover preflight``: 0 and ``ok``; 4 with one stderr line per problem, and the
    same problems in ``--json``; 2 for an invalid plan."""
    plan = write_plan(tmp_path / "plan.yaml", TENANTS)
    clean = await make_cli(tmp_path, redis_server, fleet)("preflight", str(plan))
    assert clean.code == 0, clean
    assert "ok" in clean.stdout

    broken = make_cli(
        tmp_path,
        redis_server,
        fleet,
        discovery={"fallback_instances": {"obService": [], "portalService": []}},
    )
    redis_server.stop()
    text, as_json = await asyncio.gather(
        broken("preflight", str(plan)), broken("preflight", "--json", str(plan))
    )

    assert text.code == 4, text
    assert "Traceback" not in text.stderr
    lines = text.stderr.strip().splitlines()
    assert len(lines) == 4, lines
    assert lines[0] == "preflight of plan p-diff: 3 problem(s)"
    assert lines[1] == (
        f"  redis: cannot connect to 127.0.0.1:{redis_server.port} (connection refused)"
    )
    assert lines[2].startswith("  discovery: no instance of portalService in namespace it-ns")
    assert lines[3].startswith("  discovery: no instance of obService in namespace it-ns")
    assert as_json.code == 4
    document = as_json.json()
    assert document["ok"] is False
    assert document["exit_code"] == 4
    assert [p["concern"] for p in document["problems"]] == ["redis", "discovery", "discovery"]
    assert [p["tenant_count"] for p in document["problems"]] == [0, 3, 3]

    bad = tmp_path / "bad.yaml"
    bad.write_text("- tenantId: ''\n")
    invalid = await broken("preflight", str(bad))
    assert invalid.code == 2


# ----------------------------------------------------------------------------- diff


async def test_diff_on_a_fresh_redis_has_no_record_for_any_tenant(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> None:
    """No hash at all: every tenant is ``no record`` with every field added, no drift."""
    settings = make_settings(tmp_path, redis_server, fleet)
    async with open_targets(settings) as targets:
        diff = await diff_plan(three_tenants(), settings, targets.redis, targets.builder)

    assert [t.tenant_id for t in diff.tenants] == TENANTS
    for tenant in diff.tenants:
        assert tenant.stages == STAGE_ORDER
        assert tenant.kinds == {ChangeKind.NO_RECORD}
        assert tenant.record is False
        assert tenant.drift is None
        assert tenant.version_new == NEW_VERSION
        assert [(f.field, f.status) for f in tenant.fields] == [
            (BG_FIELD, FieldStatus.ADDED),
            (OB_FIELD, FieldStatus.ADDED),
            ("metadata", FieldStatus.ADDED),
        ]
        bg = tenant.fields[0]
        assert [(r.route_id, r.change) for r in bg.routes] == [
            (f"{tenant.tenant_id}-web", RouteChangeKind.ADDED)
        ]
    assert diff.summary()["no record"] == 3
    assert diff.summary()["drift"] == 0


async def test_diff_against_the_previous_configs_records_shows_units_routes_and_version(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet, redis_client: aioredis.Redis
) -> None:
    """Records as the previous config left them: the target unit, the route's target and the
    version change; the ob-campaign timestamp is not a change."""
    await seed_previous_records(redis_client, TENANTS)
    settings = make_settings(tmp_path, redis_server, fleet)
    async with open_targets(settings) as targets:
        diff = await diff_plan(three_tenants(), settings, targets.redis, targets.builder)

    tenant = diff.tenants[0]
    assert tenant.kinds == {ChangeKind.UNITS, ChangeKind.ROUTES, ChangeKind.VERSION}
    assert tenant.version_now == OLD_VERSION
    assert tenant.drift is None
    bg, ob, metadata = tenant.fields
    assert [(c.key, c.old, c.new) for c in bg.changes] == [("targetUnit", "blue", "green")]
    (route,) = bg.routes
    assert route.change is RouteChangeKind.CHANGED
    assert route.old is not None
    assert route.new is not None
    assert (route.old["targetUri"], route.new["targetUri"]) == ("192.0.2.10", "t-1.green.internal")
    assert [(c.key, c.old, c.new) for c in ob.changes] == [("targetUnitName", "blue", "green")]
    assert [(c.key, c.old, c.new) for c in metadata.changes] == [
        ("version", OLD_VERSION, NEW_VERSION)
    ]
    assert diff.summary() == {
        "units changed": 3,
        "routes changed": 3,
        "version changed": 3,
        "other changes": 0,
        "no change": 0,
        "no record": 0,
        "no redis write": 0,
        "drift": 0,
    }


async def test_diff_after_the_plan_ran_shows_no_change_and_flags_a_drifted_tenant(
    tmp_path: Path,
    redis_server: RedisServer,
    fleet: Fleet,
    redis_client: aioredis.Redis,
    start_engine: StartEngine,
) -> None:
    """Re-running the same plan would change nothing (timestamps aside); a tenant whose
    version was set to neither 19 nor 20 behind the plan's back is flagged as drift."""
    spec = three_tenants()
    harness = await start_engine()
    plan = await harness.run_plan(spec)
    assert plan.status.value == "COMPLETED"
    settings = make_settings(tmp_path, redis_server, fleet)

    async with open_targets(settings) as targets:
        rerun = await diff_plan(spec, settings, targets.redis, targets.builder)
        await redis_client.hset(KEY_PREFIX + "t-2", "metadata", '{"version":7}')
        drifted = await diff_plan(spec, settings, targets.redis, targets.builder)

    assert [t.kinds for t in rerun.tenants] == [{ChangeKind.NO_CHANGE}] * 3
    assert all(t.drift is None and not t.changed for t in rerun.tenants)
    assert rerun.summary()["no change"] == 3
    ok_1, bad, ok_3 = drifted.tenants
    assert ok_1.drift is None
    assert ok_3.drift is None
    assert bad.drift == "metadata.version 7 is neither 19 (previous config) nor 20 (this plan)"
    assert bad.kinds == {ChangeKind.VERSION}
    assert drifted.summary()["drift"] == 1
    assert drifted.summary()["no change"] == 2


async def test_diff_and_run_dry_run_write_nothing_and_call_no_one(
    tmp_path: Path,
    redis_server: RedisServer,
    fleet: Fleet,
    redis_client: aioredis.Redis,
    monitor: Monitor,
) -> None:
    """``diff``, ``diff --json`` and ``run --dry-run`` send Redis only reads, no HTTP request
    reaches the fleet, no store is created, and Redis holds what it held."""
    await seed_previous_records(redis_client, ["t-1"])
    before = await dump_all(redis_client)
    traffic = fleet_traffic(fleet)
    cli = make_cli(tmp_path, redis_server, fleet)
    plan = write_plan(tmp_path / "plan.yaml", TENANTS)
    await monitor.start()

    text = await cli("diff", str(plan))
    as_json = await cli("diff", "--json", str(plan))
    dry = await cli("run", "--dry-run", str(plan))
    commands = await monitor.finish()

    for result in (text, as_json, dry):
        assert result.code == 0, result
    assert Monitor.verbs(commands) <= READ_COMMANDS, commands
    assert sum(1 for c in commands if c.startswith("HGETALL ")) == 9
    assert fleet_traffic(fleet) == traffic
    assert await dump_all(redis_client) == before
    assert not (tmp_path / "switchover.db").exists()
    assert dry.stdout == text.stdout
    assert "submit" not in dry.stdout.lower()


async def test_diff_cli_text_json_tenant_filter_and_exit_codes(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet, redis_client: aioredis.Redis
) -> None:
    """Text: one block per changed tenant and the summary line; ``--json``: the documented
    document; ``--tenant``: that tenant only (3 when it is not in the plan); 2 for an invalid
    plan; 6 when Redis is unreachable."""
    await seed_previous_records(redis_client, ["t-1"])
    await redis_client.hset(KEY_PREFIX + "t-2", mapping={"metadata": '{"version":3}'})
    cli = make_cli(tmp_path, redis_server, fleet)
    plan = write_plan(tmp_path / "plan.yaml", TENANTS)

    text, as_json, one, missing = await asyncio.gather(
        cli("diff", str(plan)),
        cli("diff", "--json", str(plan)),
        cli("diff", "--json", "--tenant", "t-1", str(plan)),
        cli("diff", "--tenant", "nobody", str(plan)),
    )

    assert text.code == 0, text
    assert '  icc-bg-gateway.targetUnit: "blue" → "green"' in text.stdout
    assert "  metadata.version: 19 → 20" in text.stdout
    assert '~ t-1-web: targetUri "192.0.2.10" → "t-1.green.internal"' in text.stdout
    assert "DRIFT: metadata.version 3 is neither 19 (previous config) nor 20" in text.stdout
    assert "no record: icc_ai_ops_srv:tenant_config:t-3 would be created" in text.stdout
    assert text.stdout.strip().splitlines()[-1] == (
        "summary (3 tenant(s)): units changed: 2; routes changed: 2; version changed: 2; "
        "other changes: 1; no change: 0; no record: 1; no redis write: 0; drift: 1"
    )

    assert as_json.code == 0, as_json
    document = as_json.json()
    assert document["ok"] is True
    assert document["dry_run"] is True
    assert document["redis"] == f"127.0.0.1:{redis_server.port}"
    assert document["summary"] == {
        "units": 2,
        "routes": 2,
        "version": 2,
        "other": 1,
        "no_change": 0,
        "no_record": 1,
        "no_redis_write": 0,
        "drift": 1,
    }
    by_id = {t["tenant_id"]: t for t in document["tenants"]}
    assert by_id["t-1"]["kinds"] == ["units", "routes", "version"]
    assert by_id["t-2"]["kinds"] == ["units", "routes", "version", "other"]
    assert by_id["t-2"]["drift"] is not None
    assert by_id["t-3"]["record"] is False
    assert by_id["t-3"]["kinds"] == ["no_record"]
    assert by_id["t-1"]["fields"][2] == {
        "field": "metadata",
        "status": "changed",
        "changes": [{"key": "version", "old": 19, "new": 20}],
        "routes": [],
        "note": None,
    }

    assert one.code == 0
    assert [t["tenant_id"] for t in one.json()["tenants"]] == ["t-1"]
    assert missing.code == 3
    assert "tenant nobody is not in plan p-diff" in missing.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text("- tenantId: ''\n")
    invalid = await cli("diff", str(bad))
    assert invalid.code == 2
    redis_server.stop()
    down, dry_down = await asyncio.gather(
        cli("diff", str(plan)), cli("run", "--dry-run", str(plan))
    )
    assert down.code == 6, down
    assert dry_down.code == 6, dry_down
    assert "redis unavailable" in down.stderr
    assert "Traceback" not in down.stderr + dry_down.stderr


async def test_diff_names_a_record_that_is_not_a_hash(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet, redis_client: aioredis.Redis
) -> None:
    """A tenant key holding a string fails the diff with the key in the message."""
    await redis_client.set(KEY_PREFIX + "t-2", "not a hash")
    settings = make_settings(tmp_path, redis_server, fleet)

    async with open_targets(settings) as targets:
        with pytest.raises(StepFailedError, match=f"HGETALL of {KEY_PREFIX}t-2 failed: WRONGTYPE"):
            await diff_plan(three_tenants(), settings, targets.redis, targets.builder)
