"""``switchover serve`` as a real process on the real redis-server and fleet: its token file,
its API over loopback, a SIGTERM that stops at stage boundaries, and a ``kill -9`` mid-plan
after which a new server finishes the plan without re-running a committed stage."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchover.domain.status import PlanStatus
from switchover.fleet.fleet import Fleet
from switchover.stores.sqlite import SqliteStore
from tests.integration.conftest import (
    ASBC_TOKEN,
    WAIT,
    assert_gapless,
    eventually,
    plan_doc,
    tenant_doc,
)
from tests.integration.test_cli import (  # noqa: F401
    Background,
    Cli,
    Result,
    _env,
    cli_for,
    store,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_VERIFY = {"interval": 0.1, "max_attempts": 400, "deadline": 60.0}
"""Verify polls long enough that a plan is still running when the test acts."""


async def started(server: Background) -> str:
    """The URL a starting server prints, once it listens."""
    async with asyncio.timeout(WAIT):
        while True:
            text = server.err_path.read_text()
            found = re.search(r"serving .* at (http://127\.0\.0\.1:\d+)", text)
            if found:
                return found.group(1)
            if server.proc.returncode is not None:
                raise AssertionError(f"serve exited {server.proc.returncode}: {text}")
            await asyncio.sleep(0.05)


async def serve(cli: Cli) -> tuple[Background, str]:
    """``switchover serve`` on a free loopback port, started; the process and its URL."""
    server = await cli.start("serve", "--listen", "127.0.0.1:0")
    return server, await started(server)


def token_of(tmp_path: Path) -> str:
    path = tmp_path / "switchover.db.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return path.read_text().strip()


@pytest.fixture
async def client() -> AsyncIterator[Callable[[str, str], httpx.AsyncClient]]:
    made: list[httpx.AsyncClient] = []

    def make(url: str, token: str) -> httpx.AsyncClient:
        made.append(
            httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
        )
        return made[-1]

    yield make
    for each in made:
        await each.aclose()


def tenants(count: int) -> list[dict[str, Any]]:
    return [tenant_doc(f"s{i:03d}", asbc=False) for i in range(count)]


async def test_serve_creates_a_private_token_and_serves_the_api(
    tmp_path: Path,
    cli_for: Callable[..., Cli],  # noqa: F811
    client: Callable[[str, str], httpx.AsyncClient],
) -> None:
    cli = cli_for()
    server, url = await serve(cli)
    token = token_of(tmp_path)
    api = client(url, token)
    async with httpx.AsyncClient(base_url=url) as anonymous:
        assert (await anonymous.get("/healthz")).status_code == 200
        assert (await anonymous.get("/plans")).status_code == 401
    assert (await api.get("/plans")).status_code == 200
    submitted = await api.post("/plans", content=json.dumps(plan_doc("served", tenants(3))))
    assert submitted.status_code == 201, submitted.text

    async def done() -> bool:
        plan = (await api.get("/plans/served")).json()
        return bool(plan["status"] == "COMPLETED")

    await eventually(done)
    server.send_signal(signal.SIGTERM)
    result = await server.finish()
    assert result.code == 0, result.stderr
    assert token not in result.stderr + result.stdout  # the token itself is never printed
    assert str(tmp_path / "switchover.db.token") in result.stderr

    # A second start keeps the same token.
    again, url = await serve(cli)
    assert token_of(tmp_path) == token
    assert (await client(url, token).get("/plans/served")).json()["status"] == "COMPLETED"
    again.send_signal(signal.SIGTERM)
    assert (await again.finish()).code == 0


async def test_a_second_serve_on_the_same_store_is_refused(
    cli_for: Callable[..., Cli],  # noqa: F811
) -> None:
    cli = cli_for()
    server, _ = await serve(cli)
    second = await cli("serve", "--listen", "127.0.0.1:0")
    assert second.code != 0
    assert "Traceback" not in second.stderr
    assert "engine" in second.stderr
    server.send_signal(signal.SIGTERM)
    assert (await server.finish()).code == 0


async def test_sigterm_stops_at_stage_boundaries_and_the_next_start_continues(
    tmp_path: Path,
    fleet: Fleet,
    cli_for: Callable[..., Cli],  # noqa: F811
    client: Callable[[str, str], httpx.AsyncClient],
    store: SqliteStore,  # noqa: F811
) -> None:
    cli = cli_for(verify=SLOW_VERIFY)
    await fleet.set_faults(fleet.gateways, slow=0.3)
    server, url = await serve(cli)
    api = client(url, token_of(tmp_path))
    doc = plan_doc("term", tenants(6), max_concurrency=2)
    assert (await api.post("/plans", content=json.dumps(doc))).status_code == 201

    async def some_stage_done() -> bool:
        events = await store.read_events("term", 0, 100_000)
        return any(e.type.value == "StageCompleted" for e in events)

    await eventually(some_stage_done)
    server.send_signal(signal.SIGTERM)
    result = await server.finish()
    assert result.code == 0, result.stderr
    assert "mid-way" not in result.stderr  # every running stage reached its boundary
    plan = await store.get_plan("term")
    assert plan is not None
    assert plan.status is PlanStatus.RUNNING  # unfinished, not failed or paused
    before = await store.read_events("term", 0, 100_000)
    completed_before = {(e.tenant_id, e.stage) for e in before if e.type.value == "StageCompleted"}
    assert completed_before

    await fleet.set_faults(fleet.gateways, slow=0.0)
    restarted, url = await serve(cli)
    api = client(url, token_of(tmp_path))

    async def completed() -> bool:
        return bool((await api.get("/plans/term")).json()["status"] == "COMPLETED")

    await eventually(completed)
    restarted.send_signal(signal.SIGTERM)
    assert (await restarted.finish()).code == 0
    events = await store.read_events("term", 0, 100_000)
    assert_gapless(events)
    done = [(e.tenant_id, e.stage) for e in events if e.type.value == "StageCompleted"]
    assert len(done) == len(set(done)) == 6 * 3  # no stage completed twice
    recovered = [e for e in events if e.type.value == "StageStarted" and e.data.get("recovered")]
    # What the next start continues is each parked task's next stage, never a completed one.
    assert not {(e.tenant_id, e.stage) for e in recovered} & completed_before


async def test_kill_9_mid_plan_then_restart_completes_without_rerunning_a_committed_stage(
    tmp_path: Path,
    fleet: Fleet,
    cli_for: Callable[..., Cli],  # noqa: F811
    client: Callable[[str, str], httpx.AsyncClient],
    store: SqliteStore,  # noqa: F811
) -> None:
    cli = cli_for(verify=SLOW_VERIFY)
    await fleet.set_faults(fleet.gateways, slow=0.2)
    server, url = await serve(cli)
    api = client(url, token_of(tmp_path))
    doc = plan_doc("k9", tenants(6), max_concurrency=3)
    assert (await api.post("/plans", content=json.dumps(doc))).status_code == 201

    async def midway() -> bool:
        events = await store.read_events("k9", 0, 100_000)
        return sum(e.type.value == "StageCompleted" for e in events) >= 4

    await eventually(midway)
    server.send_signal(signal.SIGKILL)
    assert (await server.finish()).code == -signal.SIGKILL
    await fleet.set_faults(fleet.gateways, slow=0.0)

    restarted, url = await serve(cli)
    api = client(url, token_of(tmp_path))

    async def completed() -> bool:
        return bool((await api.get("/plans/k9")).json()["status"] == "COMPLETED")

    await eventually(completed)
    restarted.send_signal(signal.SIGTERM)
    assert (await restarted.finish()).code == 0
    events = await store.read_events("k9", 0, 100_000)
    assert_gapless(events)
    done = [(e.tenant_id, e.stage) for e in events if e.type.value == "StageCompleted"]
    assert len(done) == len(set(done)) == 6 * 3


async def test_cli_commands_against_a_server_match_the_embedded_ones(
    tmp_path: Path,
    fleet: Fleet,
    cli_for: Callable[..., Cli],  # noqa: F811
) -> None:
    """run, status, events, rollback and watch through --server: same output shape, exit
    codes and refusals as on the store; the CLI finds the token file beside the store."""
    cli = cli_for()
    server, url = await serve(cli)
    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=["s001"])
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan_doc("remote", tenants(3))))

    ran = await cli("--server", url, "run", str(plan_file), "--reason", "CHG-9")
    assert ran.code == 1, ran  # one tenant failed its health check: the plan FAILED
    assert f"run by the server {url}" in ran.stdout
    assert "plan remote FAILED" in ran.stdout
    assert f"--server {url}" in ran.stdout  # hints repeat how to reach the server

    shown = await cli("--server", url, "status", "remote")
    assert shown.code == 0, shown
    assert "by local: CHG-9" in shown.stdout  # who submitted it, and why

    status = await cli("--server", url, "--json", "status", "--tenant", "s001")
    assert status.code == 0, status
    task = json.loads(status.stdout)
    assert task["status"] == "FAILED"
    assert task["failure"]["error_type"] == "HEALTH_CHECK_FAILED"

    refused = await cli("--server", url, "rollback", "--tenant", "s000")
    assert refused.code == 4, refused
    assert "COMPLETED" in refused.stderr
    missing = await cli("--server", url, "rollback", "--tenant", "nobody")
    assert missing.code == 3, missing

    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=[])
    rolled = await cli("--server", url, "rollback", "--tenant", "s001", "--reason", "INC-3")
    assert rolled.code == 0, rolled
    assert "task remote/s001 is ROLLED_BACK" in rolled.stdout

    events = await cli("--server", url, "--json", "events", "--plan", "remote")
    assert events.code == 0, events
    lines = events.json_lines()
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    audit = [e for e in lines if e["type"] == "OperationAccepted"]
    assert audit[-1]["data"]["actor"] == "local"  # the generated token's name
    assert audit[-1]["data"]["reason"] == "INC-3"

    watched = await cli("--server", url, "watch", "remote")
    assert watched.code == 1, watched  # the plan stays FAILED after a rollback
    assert "plan remote FAILED" in watched.stdout

    wrong = await cli_with_token(cli, url, "not-the-token-0123456789")
    assert wrong.code == 2, wrong
    assert "bearer token" in wrong.stderr
    assert "not-the-token" not in wrong.stderr
    server.send_signal(signal.SIGTERM)
    result = await server.finish()
    assert result.code == 0

    # Structured logs: JSON lines (not a terminal) with the work's ids; no secret anywhere.
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failed = [r for r in records if r["event"] == "TaskFailed"]
    assert failed
    assert failed[0]["level"] == "warning"
    assert failed[0]["plan_id"] == "remote"
    assert failed[0]["task_id"] == "remote/s001"
    assert failed[0]["tenant_id"] == "s001"
    assert failed[0]["error_type"] == "HEALTH_CHECK_FAILED"
    operations = [r for r in records if r["event"] == "OperationAccepted"]
    assert operations[-1]["actor"] == "local"
    assert operations[-1]["reason"] == "INC-3"
    assert ASBC_TOKEN not in result.stderr
    assert token_of(tmp_path) not in result.stderr


async def cli_with_token(cli: Cli, url: str, token: str) -> Result:
    """``status`` through the server with SWITCHOVER_TOKEN set."""
    proc = await asyncio.create_subprocess_exec(
        *cli._argv(("--server", url, "status")),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cli.workdir,
        env=_env() | {"SWITCHOVER_TOKEN": token},
    )
    async with asyncio.timeout(WAIT):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def test_an_approval_gate_survives_kill_9_and_promote_lets_the_next_wave_go(
    tmp_path: Path,
    cli_for: Callable[..., Cli],  # noqa: F811
    client: Callable[[str, str], httpx.AsyncClient],
    store: SqliteStore,  # noqa: F811
) -> None:
    cli = cli_for()
    server, url = await serve(cli)
    doc = plan_doc("gated", tenants(4), max_concurrency=4)
    doc["plan"]["waves"] = [1, {"size": "100%", "approval": True}]
    api = client(url, token_of(tmp_path))
    assert (await api.post("/plans", content=json.dumps(doc))).status_code == 201

    async def waiting() -> bool:
        plan = (await api.get("/plans/gated")).json()
        gate = plan["rollout"]["gate"]
        return gate is not None and gate["kind"] == "approval"

    await eventually(waiting)
    shown = await cli("--server", url, "status", "gated")
    assert "waiting for approval of wave 2 of 2" in shown.stdout, shown
    server.send_signal(signal.SIGKILL)
    await server.finish()

    restarted, url = await serve(cli)
    api = client(url, token_of(tmp_path))
    await asyncio.sleep(0.5)  # time for a wrong admission, were the gate lost
    counts = (await api.get("/plans/gated")).json()["counts"]
    assert counts["PENDING"] == 3
    assert counts["COMPLETED"] == 1
    promoted = await cli("--server", url, "promote", "--plan", "gated", "--reason", "canary ok")
    assert promoted.code == 0, promoted
    assert "wave 2 of 2 admitted" in promoted.stdout

    async def completed() -> bool:
        return bool((await api.get("/plans/gated")).json()["status"] == "COMPLETED")

    await eventually(completed)
    restarted.send_signal(signal.SIGTERM)
    assert (await restarted.finish()).code == 0
    events = await store.read_events("gated", 0, 100_000)
    kinds = [e.type.value for e in events if e.task_id is None]
    assert kinds.index("PlanAwaitingApproval") < kinds.index("PlanWaveStarted")


async def test_ctrl_c_in_a_client_detaches_and_the_plan_runs_on(
    tmp_path: Path,
    fleet: Fleet,
    cli_for: Callable[..., Cli],  # noqa: F811
    client: Callable[[str, str], httpx.AsyncClient],
) -> None:
    cli = cli_for(verify=SLOW_VERIFY)
    await fleet.set_faults(fleet.gateways, lag=1.0)
    server, url = await serve(cli)
    api = client(url, token_of(tmp_path))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan_doc("detach", tenants(4), max_concurrency=2)))
    run = await cli.start("--server", url, "run", str(plan_file))

    async def running() -> bool:
        response = await api.get("/plans/detach")
        return response.status_code == 200 and response.json()["counts"]["RUNNING"] > 0

    await eventually(running)

    async def following() -> bool:
        return "run by the server" in await asyncio.to_thread(run.out_path.read_text)

    await eventually(following)
    run.send_signal(signal.SIGINT)
    detached = await run.finish()
    assert detached.code == 130, detached
    assert f"detached: plan detach keeps running on {url}" in detached.stderr
    hints = {line.split(":")[0].strip(): line for line in detached.stderr.splitlines()}
    for hint, words in (("re-attach", "watch detach"), ("pause", "pause --plan detach")):
        assert f"--server {url}" in hints[hint], detached.stderr
        assert hints[hint].endswith(words), detached.stderr
    await fleet.set_faults(fleet.gateways, lag=0.0)

    async def completed() -> bool:
        return bool((await api.get("/plans/detach")).json()["status"] == "COMPLETED")

    await eventually(completed)  # nobody paused it: the server finished it
    server.send_signal(signal.SIGTERM)
    assert (await server.finish()).code == 0
