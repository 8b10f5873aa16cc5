"""The ``switchover`` command in real subprocesses, against the test's Redis and fleet.

The fleet runs in the test's event loop, so every subprocess is awaited with asyncio: the loop
keeps serving the fleet while a command runs its engine.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from switchover.domain.status import PlanStatus, TaskStatus
from switchover.fleet.fleet import Fleet
from switchover.fleet.redis_server import RedisServer
from switchover.settings import Settings
from switchover.stores.sqlite import SqliteStore
from tests.integration.conftest import (
    eventually,
    plan_doc,
    reported_versions,
    running_engine,
    settings_values,
    tenant_doc,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ALL_STAGES = ["asbc-gateway", "portal", "blue-green-gateway", "ob-service"]
COMMAND_TIMEOUT = 60.0
"""Seconds a command may take before the test kills it and fails."""


@dataclass(frozen=True)
class Result:
    """How a command ended and what it printed."""

    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[Any]:
        """Every stdout line, parsed as JSON."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHOVER_")}
    env |= {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    return env


@dataclass(frozen=True)
class Background:
    """A command running in the background, its output going to files."""

    proc: asyncio.subprocess.Process
    out_path: Path
    err_path: Path

    def send_signal(self, signum: int) -> None:
        """Signal the command's process."""
        self.proc.send_signal(signum)

    async def finish(self) -> Result:
        """Wait for the command to end (at most ``COMMAND_TIMEOUT`` seconds)."""
        async with asyncio.timeout(COMMAND_TIMEOUT):
            code = await self.proc.wait()
        return Result(code, self.out_path.read_text(), self.err_path.read_text())


class Cli:
    """Runs ``python -m switchover --store S --config C ...`` in the test's directory."""

    def __init__(self, workdir: Path, store: Path, config: Path | None) -> None:
        self.workdir = workdir
        self.store = store
        self.config = config
        self._procs: list[asyncio.subprocess.Process] = []
        self._count = 0

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        argv = [sys.executable, "-m", "switchover", "--store", str(self.store)]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        return [*argv, *args]

    async def __call__(self, *args: str) -> Result:
        """Run a command to its end (killed after ``COMMAND_TIMEOUT`` seconds)."""
        proc = await asyncio.create_subprocess_exec(
            *self._argv(args),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.workdir,
            env=_env(),
        )
        self._procs.append(proc)
        async with asyncio.timeout(COMMAND_TIMEOUT):
            out, err = await proc.communicate()
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())

    async def start(self, *args: str) -> Background:
        """Start a command in the background.

        Output goes to files, so a long-running command never blocks on a full pipe.
        """
        self._count += 1
        out_path = self.workdir / f"cmd-{self._count}.out"
        err_path = self.workdir / f"cmd-{self._count}.err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                *self._argv(args), stdout=out, stderr=err, cwd=self.workdir, env=_env()
            )
        self._procs.append(proc)
        return Background(proc, out_path, err_path)

    async def close(self) -> None:
        """Kill whatever this test started and is still running."""
        for proc in self._procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.fixture
async def cli_for(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> AsyncIterator[Callable[..., Cli]]:
    """Makes a Cli whose settings file points at the fleet; keyword args override settings."""
    made: list[Cli] = []

    def make(**overrides: Any) -> Cli:
        store = tmp_path / "switchover.db"
        values = settings_values(store, redis_server.url, fleet, **overrides)
        config = tmp_path / "settings.yaml"
        config.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
        cli = Cli(tmp_path, store, config)
        made.append(cli)
        return cli

    try:
        yield make
    finally:
        for cli in made:
            await cli.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """The store the commands use, opened (schema created) before any command runs."""
    opened = SqliteStore(tmp_path / "switchover.db")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def write_plan(path: Path, plan_id: str, tenants: list[dict[str, Any]], **kw: Any) -> Path:
    """A plan file in YAML, as an operator would write it."""
    path.write_text(yaml.safe_dump(plan_doc(plan_id, tenants, **kw), sort_keys=False))
    return path


def assert_one_line_refusal(result: Result, code: int) -> None:
    """Exit ``code``, one line on stderr naming the reason, no traceback."""
    assert result.code == code, result
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# ----------------------------------------------------------------------------- validate


async def test_validate_exits_0_for_a_good_plan_and_2_listing_every_issue(tmp_path: Path) -> None:
    """``validate``: 0 for examples/plan.yaml; 2 with all ten problems of examples/invalid.yaml."""
    cli = Cli(tmp_path, tmp_path / "unused.db", None)
    try:
        good, bad, bad_json = await asyncio.gather(
            cli("validate", str(EXAMPLES / "plan.yaml")),
            cli("validate", str(EXAMPLES / "invalid.yaml")),
            cli("validate", "--json", str(EXAMPLES / "invalid.yaml")),
        )
    finally:
        await cli.close()

    assert good.code == 0, good
    assert "valid" in good.stdout
    assert bad.code == 2
    assert "Traceback" not in bad.stderr
    expected = {
        (None, "plan.max_concurrency"),
        (None, "plan.owner"),
        ("#2", "tenantId"),
        ("tenant-b", "networkEndpoints[0].sourceIp"),
        ("tenant-b", "trunkGroup"),
        ("tenant-b", "networkEndpoints[1]"),
        ("tenant-b", "planVersion"),
        ("tenant-c", "deployUnitId"),
        ("tenant-c", "sourceTenantDeployConfig.planVersion"),
        ("tenant-ok", "tenantId"),
    }
    assert "10 problem(s)" in bad.stderr
    for tenant, field in expected:
        where = f"tenant {tenant}" if tenant else "plan"
        assert f"{where}: {field}:" in bad.stderr, (tenant, field)
    assert bad_json.code == 2
    (document,) = bad_json.json_lines()
    assert document["ok"] is False
    assert {(i["tenant"], i["field"]) for i in document["issues"]} == expected
    assert len(document["issues"]) == len(expected)


# ----------------------------------------------------------------------------- run


async def test_run_completes_a_plan_with_exit_0_and_events_json_is_gapless(
    tmp_path: Path, fleet: Fleet, cli_for: Callable[..., Cli]
) -> None:
    """``run`` → 0 and COMPLETED; ``events --json`` prints JSON lines with seq 1..N."""
    cli = cli_for()
    plan_file = write_plan(
        tmp_path / "plan.yaml", "cli-ok", [tenant_doc("c-one"), tenant_doc("c-two", asbc=False)]
    )

    run = await cli("run", str(plan_file))

    assert run.code == 0, run
    assert "COMPLETED" in run.stdout
    status = await cli("status", "cli-ok", "--json")
    assert status.code == 0, status
    (plan,) = status.json_lines()
    assert plan["status"] == "COMPLETED"
    assert {status: n for status, n in plan["counts"].items() if n} == {"COMPLETED": 2}
    events, later, again = await asyncio.gather(
        cli("events", "--plan", "cli-ok", "--json"),
        cli("events", "--plan", "cli-ok", "--since", "3", "--json"),
        cli("run", str(plan_file)),
    )
    assert events.code == 0, events
    lines = events.json_lines()
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert later.json_lines() == lines[3:]
    assert_one_line_refusal(again, 4)
    assert "already exists" in again.stderr
    assert lines[0]["type"] == "PlanCreated"
    assert lines[-1]["type"] == "PlanCompleted"
    completed = [(e["tenant_id"], e["stage"]) for e in lines if e["type"] == "StageCompleted"]
    assert completed.count(("c-one", "ob-service")) == 1
    assert len(completed) == 4 + 3
    for tenant in ("c-one", "c-two"):
        assert set((await reported_versions(fleet, tenant)).values()) == {20}


async def test_failed_run_exits_1_then_retry_and_rollback_exit_0_and_refusals_exit_3_or_4(
    tmp_path: Path, fleet: Fleet, cli_for: Callable[..., Cli]
) -> None:
    """Failed ``run`` → 1; refusals → 4 and 3; after the fix ``retry``/``rollback`` → 0."""
    cli = cli_for(verify={"max_attempts": 4})
    await fleet.set_faults(fleet.ob_instances, stale_tenants=["f-retry", "f-back"])
    plan_file = write_plan(
        tmp_path / "plan.yaml",
        "cli-fail",
        [tenant_doc("f-good"), tenant_doc("f-retry"), tenant_doc("f-back")],
    )

    run = await cli("run", str(plan_file))

    assert run.code == 1, run
    assert "FAILED" in run.stdout
    # One after the other: each command starts its own engine.
    completed_tenant = await cli("rollback", "--tenant", "f-good")
    unknown = await cli("rollback", "--tenant", "nobody")
    assert_one_line_refusal(completed_tenant, 4)
    assert "COMPLETED" in completed_tenant.stderr
    assert_one_line_refusal(unknown, 3)
    assert "nobody" in unknown.stderr

    await fleet.set_faults(fleet.ob_instances, stale_tenants=[])
    retry = await cli("retry", "--tenant", "f-retry", "--from-checkpoint")
    assert retry.code == 0, retry
    rollback = await cli("rollback", "--tenant", "f-back")
    assert rollback.code == 0, rollback

    retried, rolled = await asyncio.gather(
        cli("status", "--tenant", "f-retry", "--json"),
        cli("status", "--tenant", "f-back", "--json"),
    )
    assert retried.json_lines()[0]["status"] == "COMPLETED"
    assert rolled.code == 0
    (task,) = rolled.json_lines()
    assert task["status"] == "ROLLED_BACK"
    assert set((await reported_versions(fleet, "f-back")).values()) == {19}
    assert set((await reported_versions(fleet, "f-retry")).values()) == {20}

    events = (await cli("events", "--plan", "cli-fail", "--json")).json_lines()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    retried_stages = [
        e["stage"] for e in events if e["type"] == "StageCompleted" and e["tenant_id"] == "f-retry"
    ]
    assert retried_stages == ALL_STAGES, "the retry from the checkpoint re-ran a stage"


# ----------------------------------------------------------------------------- second process


async def _task_at(store: SqliteStore, tenant: str, stage: str) -> None:
    async def there() -> bool:
        task = await store.find_task(tenant)
        return task is not None and task.current_stage == stage

    await eventually(there, within=30)


async def _plan_is(store: SqliteStore, plan_id: str, status: PlanStatus) -> None:
    async def there() -> bool:
        plan = await store.get_plan(plan_id)
        return plan is not None and plan.status is status

    await eventually(there, within=30)


async def _plan_status(store: SqliteStore, plan_id: str) -> PlanStatus:
    plan = await store.get_plan(plan_id)
    assert plan is not None
    return plan.status


async def _statuses(store: SqliteStore, plan_id: str) -> dict[str, TaskStatus]:
    return {t.tenant_id: t.status for t in await store.list_tasks(plan_id)}


SLOW_VERIFY = {"interval": 0.05, "max_attempts": 600, "deadline": 60.0}
"""Verify that waits long enough for a test to act while gateways are down."""


async def test_pause_and_resume_from_a_second_process_while_run_is_in_progress(
    tmp_path: Path, fleet: Fleet, cli_for: Callable[..., Cli], store: SqliteStore
) -> None:
    """``pause --plan`` from another process: ``run`` exits 5, plan PAUSED; ``resume`` → 0."""
    cli = cli_for(verify=SLOW_VERIFY)
    await fleet.set_faults(fleet.gateways, down=True)  # the first task waits in its verify
    tenants = [tenant_doc("p-one", asbc=False), tenant_doc("p-two", asbc=False)]
    plan_file = write_plan(tmp_path / "plan.yaml", "cli-pause", tenants, max_concurrency=1)

    run = await cli.start("run", str(plan_file))
    await _task_at(store, "p-one", "blue-green-gateway")
    # Meanwhile a second plan (ASBC only, no gateway) is handed to the running engine.
    other_file = write_plan(
        tmp_path / "other.yaml", "cli-other", [tenant_doc("p-asbc", unit=False, routes=False)]
    )
    other = await cli("run", str(other_file))
    assert other.code == 0, other
    assert "run by the running engine" in other.stdout
    pause = await cli.start("pause", "--plan", "cli-pause")
    await _plan_is(store, "cli-pause", PlanStatus.PAUSED)  # the running engine took the request
    await fleet.set_faults(fleet.gateways, down=False)

    paused = await pause.finish()
    assert paused.code == 0, paused
    ran = await run.finish()
    assert ran.code == 5, ran
    assert "resume --plan cli-pause" in ran.stdout
    assert await _plan_status(store, "cli-pause") is PlanStatus.PAUSED
    assert await _statuses(store, "cli-pause") == {
        "p-one": TaskStatus.PAUSED,
        "p-two": TaskStatus.PENDING,
    }
    task = await store.find_task("p-one")
    assert task is not None
    assert task.checkpoint is not None
    assert task.checkpoint.completed == ("portal", "blue-green-gateway")

    resumed = await cli("resume", "--plan", "cli-pause")

    assert resumed.code == 0, resumed
    assert await _plan_status(store, "cli-pause") is PlanStatus.COMPLETED
    assert set((await _statuses(store, "cli-pause")).values()) == {TaskStatus.COMPLETED}
    events = await store.read_events("cli-pause", 0, 100_000)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    one = [e.stage for e in events if e.tenant_id == "p-one" and e.type.value == "StageCompleted"]
    assert one == ["portal", "blue-green-gateway", "ob-service"]


async def test_cancel_of_a_pending_and_of_a_paused_task_from_other_processes(
    tmp_path: Path, fleet: Fleet, cli_for: Callable[..., Cli], store: SqliteStore
) -> None:
    """``cancel --tenant`` cancels a PENDING task while ``run`` goes on, and a PAUSED one."""
    cli = cli_for(verify=SLOW_VERIFY)
    await fleet.set_faults(fleet.gateways, down=True)
    tenants = [tenant_doc(f"k-{n}", asbc=False) for n in ("one", "two", "three")]
    plan_file = write_plan(tmp_path / "plan.yaml", "cli-cancel", tenants, max_concurrency=1)

    run = await cli.start("run", str(plan_file))
    await _task_at(store, "k-one", "blue-green-gateway")
    pending = await cli("cancel", "--tenant", "k-three")
    assert pending.code == 0, pending
    assert (await _statuses(store, "cli-cancel"))["k-three"] is TaskStatus.CANCELLED

    pause = await cli.start("pause", "--plan", "cli-cancel")
    await _plan_is(store, "cli-cancel", PlanStatus.PAUSED)
    await fleet.set_faults(fleet.gateways, down=False)
    assert (await pause.finish()).code == 0
    assert (await run.finish()).code == 5

    paused = await cli("cancel", "--tenant", "k-one")

    assert paused.code == 0, paused
    assert await _statuses(store, "cli-cancel") == {
        "k-one": TaskStatus.CANCELLED,
        "k-two": TaskStatus.PENDING,
        "k-three": TaskStatus.CANCELLED,
    }
    assert await _plan_status(store, "cli-cancel") is PlanStatus.PAUSED
    events = await store.read_events("cli-cancel", 0, 100_000)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    cancelled = [e.tenant_id for e in events if e.type.value == "TaskCancelled"]
    assert cancelled == ["k-three", "k-one"]


async def test_ctrl_c_in_run_pauses_the_plan_at_the_next_stage_boundary_and_exits_5(
    tmp_path: Path, fleet: Fleet, cli_for: Callable[..., Cli], store: SqliteStore
) -> None:
    """SIGINT to ``run``: the running task stops after its stage, the plan is PAUSED, exit 5."""
    cli = cli_for(verify=SLOW_VERIFY)
    await fleet.set_faults(fleet.gateways, down=True)
    tenants = [tenant_doc("i-one", asbc=False), tenant_doc("i-two", asbc=False)]
    plan_file = write_plan(tmp_path / "plan.yaml", "cli-int", tenants, max_concurrency=1)

    run = await cli.start("run", str(plan_file))
    await _task_at(store, "i-one", "blue-green-gateway")
    run.send_signal(signal.SIGINT)
    await _plan_is(store, "cli-int", PlanStatus.PAUSED)
    await fleet.set_faults(fleet.gateways, down=False)
    ran = await run.finish()

    assert ran.code == 5, ran
    assert "Traceback" not in ran.stderr
    assert "resume --plan cli-int" in ran.stdout
    assert await _statuses(store, "cli-int") == {
        "i-one": TaskStatus.PAUSED,
        "i-two": TaskStatus.PENDING,
    }


async def test_resume_after_run_is_killed_finishes_the_plan_without_repeating_a_stage(
    tmp_path: Path, fleet: Fleet, cli_for: Callable[..., Cli], store: SqliteStore
) -> None:
    """After SIGKILL of ``run``, ``resume --plan`` restarts the stage and no stage runs twice."""
    cli = cli_for(verify=SLOW_VERIFY)
    await fleet.set_faults(fleet.gateways, down=True)
    tenants = [tenant_doc("x-one", asbc=False), tenant_doc("x-two", asbc=False)]
    plan_file = write_plan(tmp_path / "plan.yaml", "cli-kill", tenants, max_concurrency=1)

    run = await cli.start("run", str(plan_file))
    await _task_at(store, "x-one", "blue-green-gateway")
    run.send_signal(signal.SIGKILL)
    assert (await run.finish()).code == -signal.SIGKILL
    status = await cli("status", "cli-kill")
    assert status.code == 0, status
    assert "no engine is running" in status.stderr
    assert "resume --plan cli-kill" in status.stderr
    await fleet.set_faults(fleet.gateways, down=False)

    resumed = await cli("resume", "--plan", "cli-kill")

    assert resumed.code == 0, resumed
    assert await _plan_status(store, "cli-kill") is PlanStatus.COMPLETED
    events = await store.read_events("cli-kill", 0, 100_000)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    done = [(e.tenant_id, e.stage) for e in events if e.type.value == "StageCompleted"]
    assert len(done) == len(set(done)) == 6
    restarted = [e for e in events if e.type.value == "StageStarted" and e.data.get("recovered")]
    assert [(e.tenant_id, e.stage) for e in restarted] == [("x-one", "blue-green-gateway")]


async def test_a_request_left_unanswered_by_a_stopping_engine_is_answered_not_left_queued(
    tmp_path: Path,
    redis_server: RedisServer,
    fleet: Fleet,
    cli_for: Callable[..., Cli],
    store: SqliteStore,
) -> None:
    """A request the live engine never took (it stopped) still gets its answer: exit 3."""
    cli = cli_for()
    # A live engine that holds the lease but would poll for requests only every 30 s: the
    # situation of two commands racing for the lease, where the winner finishes and stops
    # before serving the loser's request.
    values = settings_values(
        tmp_path / "switchover.db", redis_server.url, fleet, engine={"control_poll_interval": 30.0}
    )
    async with running_engine(Settings.of(**values)):
        command = await cli.start("rollback", "--tenant", "nobody")

        async def queued() -> bool:
            return bool(await store.pending_controls())

        await eventually(queued, within=30)

    result = await command.finish()

    assert result.code == 3, result
    assert await store.pending_controls() == []
