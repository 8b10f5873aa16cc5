"""Faults across processes and peers: crashes mid-rollback, racing commands, frozen engines,
two operators on one Redis, trickling peers and secrets in what peers say back.

Every command is a real ``switchover`` subprocess against the test's redis-server and loopback
fleet (which run in the test's event loop); the test reads the SQLite store from its side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from switchover.domain.events import Event, EventType
from switchover.domain.status import PlanStatus, TaskStatus
from switchover.errors import ErrorType
from switchover.fleet.fleet import Fleet
from switchover.fleet.redis_server import RedisServer, free_port
from tests.integration.conftest import (
    BG_FIELD,
    NEW_VERSION,
    OB_FIELD,
    OLD_VERSION,
    bg_gateway_bytes,
    ob_campaign_pattern,
    reported_versions,
    tenant_doc,
)
from tests.integration.faults_support import (
    SWITCHOVER,
    Operator,
    Operators,
    Peer,
    all_events,
    counted,
    freeze,
    leftover,
    poll,
    quote_authorization,
    reading,
    run_argv,
    serving,
    stored_version,
    task_of,
    tenant_hash,
    trickle,
    write_plan_file,
)
from tests.integration.test_cli import Cli

pytestmark = pytest.mark.integration

PATIENT_VERIFY = {
    "interval": 0.05,
    "max_attempts": 400,
    "deadline": 30.0,
    "rollback_interval": 0.05,
    "rollback_max_attempts": 400,
}
"""Verify that waits out several seconds of gateway lag, forward and rolling back."""

HINT = re.compile(r"'(switchover [^']+)'")
"""The command a note suggests, as printed inside single quotes after "e.g."."""


@pytest.fixture
async def operators(
    tmp_path: Path, redis_server: RedisServer, fleet: Fleet
) -> AsyncIterator[Operators]:
    """Makes operators (store + settings + working directory) on the test's Redis and fleet."""
    made = Operators(tmp_path, redis_server.url, fleet)
    try:
        yield made
    finally:
        await made.close()


async def within(check: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    """Poll ``check`` every 20 ms for at most ``seconds``; whether it came to hold."""
    try:
        await poll(check, seconds, "")
    except AssertionError:
        return False
    return True


def _types(events: list[Event]) -> list[str]:
    return [f"{e.type.value}({e.tenant_id or ''} {e.stage or ''})".strip() for e in events]


# ------------------------------------------------------------------------- 1. crash mid-rollback


@pytest.mark.slow
@pytest.mark.parametrize("continue_with", ["printed-hint", "resume-plan"])
async def test_a_rollback_killed_midway_is_refused_without_change_and_can_be_continued(
    tmp_path: Path,
    fleet: Fleet,
    redis_client: aioredis.Redis,
    operators: Operators,
    continue_with: str,
) -> None:
    """After SIGKILL mid-rollback, refusals change nothing and the suggested resume finishes it."""
    op = operators.make(verify=PATIENT_VERIFY | {"max_attempts": 4})
    cli, plan_id, tenant = op.cli, "crash-rb", "rb-back"
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[tenant])
    tenants = [tenant_doc("rb-one"), tenant_doc(tenant), tenant_doc("rb-two")]
    plan_file = write_plan_file(op.workdir / "plan.yaml", plan_id, tenants)

    ran = await cli("run", str(plan_file))

    assert ran.code == 1, ran
    async with reading(op.store_path) as store:
        assert (await task_of(store, tenant)).status is TaskStatus.FAILED
        await fleet.set_faults(fleet.ob_instances, stale_tenants=[])
        await fleet.set_faults(fleet.gateways, lag=1.5)
        rolling = await cli.start("rollback", "--tenant", tenant)

        async def midway() -> bool:
            task = await store.find_task(tenant)
            if task is None or task.status is not TaskStatus.ROLLING_BACK:
                return False
            events = await all_events(store, plan_id)
            began = [e.seq for e in events if e.type is EventType.TASK_ROLLING_BACK]
            return bool(began) and any(
                e.type is EventType.STAGE_STARTED
                and e.tenant_id == tenant
                and e.stage == "blue-green-gateway"
                and e.seq >= began[-1]
                for e in events
            )

        await poll(midway, 30, "the rollback reached its blue-green-gateway stage")
        rolling.send_signal(signal.SIGKILL)
        assert (await rolling.finish()).code == -signal.SIGKILL
        await fleet.set_faults(fleet.gateways, lag=0.0)
        stranded = await task_of(store, tenant)
        assert stranded.status is TaskStatus.ROLLING_BACK

        # a. Every refusal exits 4 and leaves the store exactly as it was.
        for command in ("rollback", "retry", "cancel"):
            seq = await store.last_seq(plan_id)
            refused = await cli(command, "--tenant", tenant)
            appended = (await all_events(store, plan_id))[seq:]
            assert refused.code == 4, (command, refused)
            assert not appended, f"{command} (refused) appended {_types(appended)}"
            assert await task_of(store, tenant) == stranded, f"{command} changed the task"

        # b./c. The way on: the command the status note prints, or resume --plan.
        if continue_with == "printed-hint":
            status = await cli("status", "--tenant", tenant)
            assert status.code == 0, status
            found = HINT.search(status.stderr)
            assert found is not None, f"no suggested command in: {status.stderr!r}"
            hint = found.group(1)
            assert "resume" in hint, hint
            assert "--config" in hint, f"the hint drops the --config it was given: {hint!r}"
            argv = shlex.split(hint)
            argv[0] = str(SWITCHOVER)
            elsewhere = tmp_path / "elsewhere"
            elsewhere.mkdir()
            continued = await run_argv(argv, elsewhere)
            assert continued.code == 0, (hint, continued)
        else:
            continued = await cli("resume", "--plan", plan_id)
            assert continued.code == 0, continued

        final = await task_of(store, tenant)
        assert final.status is TaskStatus.ROLLED_BACK, final
    assert await stored_version(redis_client, tenant) == OLD_VERSION
    assert set((await reported_versions(fleet, tenant)).values()) == {OLD_VERSION}


# ----------------------------------------------------------------------------- 2. a second run


@pytest.mark.slow
async def test_a_second_run_on_the_same_store_is_never_abandoned(
    fleet: Fleet, operators: Operators
) -> None:
    """``run big`` started while ``run small`` runs: both exit 0, both plans COMPLETED."""
    op = operators.make(verify=PATIENT_VERIFY)
    cli = op.cli
    await fleet.set_faults(fleet.gateways, lag=0.6)
    raced: list[bool] = []
    async with reading(op.store_path) as store:
        for round_, delay in enumerate((0.0, 0.3)):
            small_id, big_id = f"small-{round_}", f"big-{round_}"
            small_file = write_plan_file(
                op.workdir / f"{small_id}.yaml",
                small_id,
                [tenant_doc(f"s{round_}-{n}") for n in range(5)],
                max_concurrency=1,
            )
            big_file = write_plan_file(
                op.workdir / f"{big_id}.yaml",
                big_id,
                [tenant_doc(f"b{round_}-{n:02}") for n in range(30)],
                max_concurrency=4,
            )

            small = await cli.start("run", str(small_file))

            async def small_exists(plan_id: str = small_id) -> bool:
                return await store.get_plan(plan_id) is not None

            await poll(small_exists, 30, f"plan {small_id} exists")
            if delay:
                await asyncio.sleep(delay)  # the race, a little later this round
            big = await cli.start("run", str(big_file))
            small_done, big_done = await asyncio.gather(small.finish(), big.finish())

            plans = {p: await store.get_plan(p) for p in (small_id, big_id)}
            tasks = [t for p in plans for t in await store.list_tasks(p)]
            left = leftover(await store.tasks_with_status(list(TaskStatus)))
            summary = (
                f"round {round_}: small exit {small_done.code}, big exit {big_done.code}, "
                f"plans { {p: v.status.value if v else None for p, v in plans.items()} }, "
                f"left executing/queued {len(left)}: {sorted(left.items())[:5]}; "
                f"big stderr {big_done.stderr[-300:]!r}"
            )
            assert small_done.code == 0, summary
            assert big_done.code == 0, summary
            assert all(
                p is not None and p.status is PlanStatus.COMPLETED for p in plans.values()
            ), summary
            assert {t.status for t in tasks} == {TaskStatus.COMPLETED}, summary
            assert not left, summary
            small_events = await all_events(store, small_id)
            big_events = await all_events(store, big_id)
            raced.append(big_events[0].at < max(e.at for e in small_events))
    assert any(raced), "no round submitted big while small was still running"


async def test_rollback_no_wait_without_a_running_engine_is_refused(
    fleet: Fleet, operators: Operators
) -> None:
    """``rollback --no-wait`` with no engine to run it: exit 4 naming --no-wait, nothing changed."""
    op = operators.make(verify={"max_attempts": 4})
    cli, plan_id, tenant = op.cli, "no-wait", "nw-back"
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[tenant])
    plan_file = write_plan_file(op.workdir / "plan.yaml", plan_id, [tenant_doc(tenant)])
    assert (await cli("run", str(plan_file))).code == 1
    await fleet.set_faults(fleet.ob_instances, stale_tenants=[])

    async with reading(op.store_path) as store:
        before = await task_of(store, tenant)
        seq = await store.last_seq(plan_id)
        assert before.status is TaskStatus.FAILED

        result = await cli("rollback", "--tenant", tenant, "--no-wait")

        appended = (await all_events(store, plan_id))[seq:]
        after = await task_of(store, tenant)
        rolling = await store.tasks_with_status([TaskStatus.ROLLING_BACK])
    assert result.code == 4, (result, after.status, _types(appended))
    assert "--no-wait" in result.stderr, result
    assert not appended, _types(appended)
    assert after == before
    assert rolling == []


# ----------------------------------------------------------------------------- 3. frozen engine


@pytest.mark.slow
async def test_a_frozen_engine_woken_after_a_takeover_does_not_split_the_brain(
    fleet: Fleet, operators: Operators, redis_client: aioredis.Redis
) -> None:
    """SIGSTOP past the lease, resume elsewhere, SIGCONT: no stage completes twice, all at v20."""
    op = operators.make(
        verify=PATIENT_VERIFY, engine={"lease_ttl": 1.0, "control_poll_interval": 0.05}
    )
    cli, plan_id = op.cli, "frozen"
    await fleet.set_faults(fleet.gateways, lag=0.3)
    await fleet.set_faults(fleet.ob_instances, lag=0.3)
    tenants = [f"fz-{n:02}" for n in range(30)]
    plan_file = write_plan_file(
        op.workdir / "plan.yaml", plan_id, [tenant_doc(t) for t in tenants], max_concurrency=6
    )

    async with reading(op.store_path) as store:
        first = await cli.start("run", str(plan_file))

        async def under_way() -> bool:
            events = await all_events(store, plan_id)
            return sum(e.type is EventType.STAGE_COMPLETED for e in events) >= 6

        await poll(under_way, 30, "six stages completed")
        frozen_lease = await store.get_lease()
        assert frozen_lease is not None
        await freeze(first.proc, op.store_path)
        await asyncio.sleep(2.5)  # frozen past its 1 s lease
        second = await cli.start("resume", "--plan", plan_id)

        async def taken_over() -> bool:
            lease = await store.get_lease()
            return lease is not None and lease.owner != frozen_lease.owner

        try:
            await poll(taken_over, 30, "the resumed engine took the lease")
        except AssertionError as exc:
            second.proc.kill()
            ended = await second.finish()
            raise AssertionError(
                f"{exc}; lease {await store.get_lease()}, resume exit {ended.code}, "
                f"stdout {ended.stdout[-600:]!r}, stderr {ended.stderr[-600:]!r}"
            ) from None
        await asyncio.sleep(0.5)  # and got some work going
        first.send_signal(signal.SIGCONT)
        resumed, woken = await asyncio.gather(second.finish(), first.finish())

        events = await all_events(store, plan_id)
        plan = await store.get_plan(plan_id)
        tasks = await store.list_tasks(plan_id)
    twice = {k: n for k, n in counted(events, EventType.STAGE_COMPLETED).items() if n > 1}
    statuses = {t.tenant_id: t.status.value for t in tasks}
    versions = {t: await stored_version(redis_client, t) for t in tenants}
    summary = (
        f"resume exit {resumed.code}, frozen exit {woken.code}, "
        f"plan {plan.status.value if plan else None}, "
        f"not COMPLETED { ({t: s for t, s in statuses.items() if s != 'COMPLETED'}) }, "
        f"failures { ({t.tenant_id: t.failure for t in tasks if t.failure is not None}) }, "
        f"StageCompleted twice {len(twice)}: {sorted(twice)[:4]}, "
        f"versions not 20 { ({t: v for t, v in versions.items() if v != NEW_VERSION}) }, "
        f"frozen stderr {woken.stderr[-400:]!r}"
    )
    assert not twice, summary
    assert resumed.code == 0, summary
    assert plan is not None, summary
    assert plan.status is PlanStatus.COMPLETED, summary
    assert set(statuses.values()) == {"COMPLETED"}, summary
    assert "Traceback" not in woken.stderr, summary
    assert "ExceptionGroup" not in woken.stderr, summary
    assert "lease" in woken.stderr.lower(), summary
    assert woken.code == 0, summary
    assert set(versions.values()) == {NEW_VERSION}, summary


# ----------------------------------------------------------------------------- 4. two stores


def _window(events: list[Event], tenant: str) -> tuple[float, float, str] | None:
    """``(TaskStarted.at, end.at, how it ended)`` of the tenant's task in one store."""
    starts = [e.at for e in events if e.tenant_id == tenant and e.type is EventType.TASK_STARTED]
    ends = [
        e
        for e in events
        if e.tenant_id == tenant and e.type in (EventType.TASK_COMPLETED, EventType.TASK_FAILED)
    ]
    if not starts or not ends:
        return None
    return starts[0], ends[-1].at, ends[-1].type.value


@pytest.mark.slow
async def test_two_operators_on_two_stores_take_turns_on_each_tenant(
    fleet: Fleet, operators: Operators, redis_client: aioredis.Redis
) -> None:
    """Plans at v20 and v21 from two stores over 50 tenants: one task at a time per tenant."""
    verify = {"interval": 0.05, "max_attempts": 40}
    alpha, beta = operators.make("alpha", verify=verify), operators.make("beta", verify=verify)
    await fleet.set_faults(fleet.gateways, lag=0.3)  # tasks long enough to meet
    tenants = [f"duo-{n:02}" for n in range(50)]
    docs = [tenant_doc(t) for t in tenants]
    a_file = write_plan_file(alpha.workdir / "a.yaml", "duo-a", docs, max_concurrency=8)
    # Beta takes the tenants in the opposite order, so that the two runs meet whichever starts
    # first: in the same order, the one that started later could trail the other by more than
    # a batch all the way and never ask for a tenant the other holds.
    b_file = write_plan_file(
        beta.workdir / "b.yaml", "duo-b", docs[::-1], version=NEW_VERSION + 1, max_concurrency=8
    )

    a_run, b_run = await asyncio.gather(
        alpha.cli.start("run", str(a_file)), beta.cli.start("run", str(b_file))
    )
    a_done, b_done = await asyncio.gather(a_run.finish(), b_run.finish())

    async with reading(alpha.store_path) as a_store, reading(beta.store_path) as b_store:
        a_events = await all_events(a_store, "duo-a")
        b_events = await all_events(b_store, "duo-b")
    waiting = [e for e in (*a_events, *b_events) if e.type is EventType.TASK_WAITING]
    windows = {t: (_window(a_events, t), _window(b_events, t)) for t in tenants}
    overlapping = [t for t, (a, b) in windows.items() if a and b and a[0] < b[1] and b[0] < a[1]]
    unfinished = {t: (a and a[2], b and b[2]) for t, (a, b) in windows.items()}
    unfinished = {t: v for t, v in unfinished.items() if v != ("TaskCompleted", "TaskCompleted")}
    summary = (
        f"alpha exit {a_done.code}, beta exit {b_done.code}; "
        f"{len(overlapping)} tenant(s) run by both at once, e.g. {overlapping[:3]}; "
        f"not completed in both {len(unfinished)}: {sorted(unfinished.items())[:3]}; "
        f"{len(waiting)} TaskWaiting event(s)"
    )
    assert a_done.code == 0, summary
    assert b_done.code == 0, summary
    assert not unfinished, summary
    assert not overlapping, summary
    assert waiting, f"the runs never contended: {summary}"
    for event in waiting:
        holder = event.data.get("holder")
        assert isinstance(holder, str), event
        assert holder, event
    for tenant, (a, b) in windows.items():
        assert a is not None
        assert b is not None
        last, version = (a, NEW_VERSION) if a[1] > b[1] else (b, NEW_VERSION + 1)
        stored = await tenant_hash(redis_client, tenant)
        assert json.loads(stored["metadata"]) == {"version": version}, (tenant, stored)
        routes = [(f"{tenant}-web", f"{tenant}.example.com", f"{tenant}.green.internal")]
        assert stored[BG_FIELD] == bg_gateway_bytes(tenant, "blue", "green", routes), tenant
        ob = re.match(ob_campaign_pattern(tenant, "blue", "green"), stored[OB_FIELD])
        assert ob is not None, (tenant, stored[OB_FIELD])
        written_at = int(ob.group(1)) / 1000
        assert last[0] - 0.002 <= written_at <= last[1] + 0.002, (
            f"{tenant}: ob-campaign written at {written_at}, "
            f"not within the last run {last[0]}..{last[1]} (v{version})"
        )


# ----------------------------------------------------------------------------- 5. trickling peer

PORTAL_TENANT = "trickled"


def _portal_plan(op_dir: Path, plan_id: str) -> Path:
    # deployUnitName only: stages portal, then ob-service.
    doc = tenant_doc(PORTAL_TENANT, asbc=False, routes=False)
    return write_plan_file(op_dir / "plan.yaml", plan_id, [doc])


def _behind_trickling_portal(
    operators: Operators, portal: Peer, *, total: float, attempts: int, deadline: float
) -> Operator:
    """An operator whose portal is ``portal``: reads time out at 1 s, calls at ``total``."""
    return operators.make(
        http={"read_timeout": 1.0, "total_timeout": total},
        retry={"attempts": attempts},
        engine={"stage_deadline": deadline},
        discovery={"fallback_instances": {"portalService": [portal.address]}},
    )


@pytest.mark.slow
async def test_a_trickling_portal_times_the_stage_out(operators: Operators) -> None:
    """A portal trickling its answer for ever: the task FAILS with TIMEOUT_ERROR at portal."""
    async with serving(trickle) as portal:
        op = _behind_trickling_portal(operators, portal, total=2.0, attempts=1, deadline=5.0)
        plan_file = _portal_plan(op.workdir, "trickle")
        async with reading(op.store_path) as store:
            run = await op.cli.start("run", str(plan_file))
            code: int | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    code = await run.proc.wait()
            if code is None:
                task = await store.find_task(PORTAL_TENANT)
                pytest.fail(
                    f"run still going after 15 s; task "
                    f"{task.status.value if task else None} at stage "
                    f"{task.current_stage if task else None}, portal asked {portal.requests}x"
                )
            task = await task_of(store, PORTAL_TENANT)
    assert code == 1, await run.finish()
    assert task.status is TaskStatus.FAILED, task
    assert task.failure is not None
    assert task.failure.error_type is ErrorType.TIMEOUT_ERROR, task.failure
    assert task.failure.stage == "portal", task.failure


@pytest.mark.slow
async def test_cancel_reaches_a_task_stuck_on_a_trickling_portal(operators: Operators) -> None:
    """``cancel`` while the portal trickles: CANCELLED within stage_deadline + 4 s; run exits 1."""
    async with serving(trickle) as portal:
        op = _behind_trickling_portal(operators, portal, total=60.0, attempts=0, deadline=3.0)
        plan_file = _portal_plan(op.workdir, "trickle-cancel")
        async with reading(op.store_path) as store:
            run = await op.cli.start("run", str(plan_file))

            async def at_portal() -> bool:
                task = await store.find_task(PORTAL_TENANT)
                return (
                    task is not None
                    and task.status is TaskStatus.RUNNING
                    and task.current_stage == "portal"
                    and portal.requests > 0
                )

            await poll(at_portal, 30, "the task is waiting on the portal")
            asked = time.monotonic()
            await op.cli.start("cancel", "--tenant", PORTAL_TENANT)

            async def cancelled() -> bool:
                return (await task_of(store, PORTAL_TENANT)).status is TaskStatus.CANCELLED

            reached = await within(cancelled, 3.0 + 4.0)
            task = await task_of(store, PORTAL_TENANT)
            assert reached, (
                f"{time.monotonic() - asked:.1f}s after cancel the task is still "
                f"{task.status.value} at {task.current_stage} (requested {task.requested})"
            )
            code: int | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    code = await run.proc.wait()
            if code is None:
                pytest.fail("run did not exit within 15 s of its only task being cancelled")
    assert code == 1


# ----------------------------------------------------------------------------- 6. secrets

TOKEN = "tok-Zq8-very-secret"
REDIS_PASSWORD = "pw-QQ-secret"


async def test_the_asbc_token_never_leaks_into_output_events_or_the_store(
    operators: Operators,
) -> None:
    """An ASBC quoting the bearer token back: the token is in no output and no store byte."""
    async with serving(quote_authorization) as asbc:
        op = operators.make(
            asbc={"token": TOKEN, "scheme": "http"},
            retry={"attempts": 0},
            discovery={"fallback_instances": {"asbcService": [asbc.address]}},
        )
        plan_file = write_plan_file(op.workdir / "plan.yaml", "leak", [tenant_doc("leak-t")])
        cli = op.cli

        ran = await cli("run", str(plan_file))

        assert f"Bearer {TOKEN}" in asbc.authorizations, "the ASBC was never sent the token"
        shown = await asyncio.gather(
            cli("status", "--tenant", "leak-t"),
            cli("status", "--tenant", "leak-t", "--json"),
            cli("status", "leak"),
            cli("events", "--plan", "leak", "--json"),
            cli("events", "--plan", "leak"),
        )
    async with reading(op.store_path) as store:
        task = await task_of(store, "leak-t")
    assert task.status is TaskStatus.FAILED, task
    assert task.failure is not None
    assert task.failure.stage == "asbc-gateway", task.failure
    texts: dict[str, str] = {"run stdout": ran.stdout, "run stderr": ran.stderr}
    names = ["status --tenant", "status --tenant --json", "status PLAN", "events --json", "events"]
    for name, result in zip(names, shown, strict=True):
        assert result.code == 0, (name, result)
        texts[f"{name} stdout"] = result.stdout
        texts[f"{name} stderr"] = result.stderr
    leaks = [name for name, text in texts.items() if TOKEN in text]
    files = sorted(op.workdir.glob(op.store_path.name + "*"))
    assert op.store_path in files
    leaks += [path.name for path in files if TOKEN.encode() in path.read_bytes()]
    assert not leaks, f"the token appears in: {leaks}"


async def test_config_show_never_prints_the_redis_password(tmp_path: Path) -> None:
    """``config show`` (text and --json) masks a password given as a redis.url query parameter."""
    url = f"redis://127.0.0.1:{free_port()}/0?password={REDIS_PASSWORD}"
    values: dict[str, Any] = {"store": str(tmp_path / "unused.db"), "redis": {"url": url}}
    config = tmp_path / "secret.yaml"
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    cli = Cli(tmp_path, tmp_path / "unused.db", config)
    try:
        text, as_json = await asyncio.gather(cli("config", "show"), cli("config", "show", "--json"))
    finally:
        await cli.close()

    assert text.code == 0, text
    assert as_json.code == 0, as_json
    assert "redis" in text.stdout
    for name, result in (("config show", text), ("config show --json", as_json)):
        assert REDIS_PASSWORD not in result.stdout + result.stderr, (name, result.stdout)
