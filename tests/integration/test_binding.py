"""Settings are bound to the work: a plan records the target settings it runs with, and a
command or engine with other settings leaves it alone, naming what differs and the file to
pass. Settings and store are found the same way from any directory, and reading never
creates a store. Real processes, the real redis-server and the loopback fleet."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from switchover.domain.status import PlanStatus
from switchover.fleet.fleet import Fleet
from switchover.fleet.redis_server import RedisServer
from switchover.stores.sqlite import SqliteStore
from tests.integration.conftest import WAIT, eventually, plan_doc, settings_values, tenant_doc
from tests.integration.test_cli import Result, _env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_VERIFY = {"interval": 0.1, "max_attempts": 400, "deadline": 60.0}


async def switchover(cwd: Path, *args: str, **env: str) -> Result:
    """``python -m switchover ARGS`` in ``cwd``, with no --store or --config of its own."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchover",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=_env() | env,
    )
    async with asyncio.timeout(WAIT * 2):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def write_settings(path: Path, values: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return path


def write_plan(path: Path, plan_id: str, count: int) -> Path:
    tenants = [tenant_doc(f"b{i:03d}", asbc=False) for i in range(count)]
    path.write_text(json.dumps(plan_doc(plan_id, tenants, max_concurrency=2)))
    return path


_OPENED: set[int] = set()


async def opened(reader: SqliteStore, path: Path) -> bool:
    """Open ``reader`` once its file exists; whether it is open."""
    if id(reader) in _OPENED:
        return True
    if not await asyncio.to_thread(path.exists):
        return False
    await reader.open()
    _OPENED.add(id(reader))
    return True


@pytest.fixture
def setup(tmp_path: Path, redis_server: RedisServer, fleet: Fleet) -> Callable[..., Path]:
    """Writes ``ops/settings.yaml`` (store ``state.db`` beside it) pointing at the fleet."""

    def make(name: str = "settings.yaml", **overrides: Any) -> Path:
        values = settings_values(Path("state.db"), redis_server.url, fleet, **overrides)
        return write_settings(tmp_path / "ops" / name, values)

    return make


async def test_a_store_in_a_settings_file_is_beside_it_and_reading_creates_no_store(
    tmp_path: Path, setup: Callable[..., Path]
) -> None:
    config = setup()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plan = write_plan(tmp_path / "plan.json", "bound-1", 2)

    ran = await switchover(elsewhere, "--config", str(config), "run", str(plan))
    assert ran.code == 0, ran
    assert (tmp_path / "ops" / "state.db").is_file()  # relative to the settings file
    assert not (elsewhere / "state.db").exists()

    # The same store, found through SWITCHOVER_CONFIG, from a third directory.
    third = tmp_path / "third"
    third.mkdir()
    status = await switchover(third, "status", "bound-1", SWITCHOVER_CONFIG=str(config))
    assert status.code == 0, status
    assert "COMPLETED" in status.stdout

    # ./switchover.yaml is found too.
    write_settings(third / "switchover.yaml", yaml.safe_load(config.read_text()))
    (third / "switchover.yaml").write_text(
        config.read_text().replace("store: state.db", f"store: {tmp_path / 'ops' / 'state.db'}")
    )
    found = await switchover(third, "status", "bound-1")
    assert found.code == 0, found
    assert "COMPLETED" in found.stdout

    # A read-only command where there is no store says so and creates none.
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = await switchover(empty, "status")
    assert nothing.code == 0, nothing
    assert f"no plans yet in {empty / 'switchover.db'}" in nothing.stdout
    assert list(empty.iterdir()) == []
    missing = await switchover(empty, "events", "--plan", "nope")
    assert missing.code == 3
    assert list(empty.iterdir()) == []


async def test_resume_with_other_settings_is_refused_naming_them_and_the_file(
    tmp_path: Path, setup: Callable[..., Path], fleet: Fleet
) -> None:
    """The reproduction: a plan interrupted, then resumed with default settings, ran against
    the wrong Redis and FAILED. Now the resume is refused, and the hint names the file."""
    config = setup(verify=SLOW_VERIFY)
    store = tmp_path / "ops" / "state.db"
    plan = write_plan(tmp_path / "plan.json", "bound-2", 4)
    await fleet.set_faults(fleet.gateways, slow=0.3)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchover",
        "--config",
        str(config),
        "run",
        str(plan),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=tmp_path,
        env=_env(),
    )
    reader = SqliteStore(store)
    try:

        async def stage_done() -> bool:
            if not await opened(reader, store):
                return False
            events = await reader.read_events("bound-2", 0, 10_000)
            return any(e.type.value == "StageCompleted" for e in events)

        await eventually(stage_done, within=WAIT)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    await fleet.set_faults(fleet.gateways, slow=0.0)

    status = await switchover(tmp_path, "--config", str(config), "status", "bound-2")
    assert f"--config {config}" in status.stderr  # the hint repeats the settings file

    # Default settings (another Redis, no fleet) on the same store: refused, nothing run.
    before = len(await reader.read_events("bound-2", 0, 10_000))
    wrong = await switchover(tmp_path, "--store", str(store), "resume", "--plan", "bound-2")
    assert wrong.code == 4, wrong
    assert "runs with other settings" in wrong.stderr
    assert "redis.url" in wrong.stderr
    assert str(config) in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert len(await reader.read_events("bound-2", 0, 10_000)) == before

    right = await switchover(tmp_path, "--config", str(config), "resume", "--plan", "bound-2")
    assert right.code == 0, right
    plan_row = await reader.get_plan("bound-2")
    assert plan_row is not None
    assert plan_row.status is PlanStatus.COMPLETED
    assert plan_row.settings_file == str(config)
    assert plan_row.binding["redis.topic"] == "icc_ai_ops_srv:tenant_config:topic"
    await reader.close()


async def test_a_run_with_other_settings_than_the_live_engine_is_refused(
    tmp_path: Path, setup: Callable[..., Path], fleet: Fleet, redis_server: RedisServer
) -> None:
    config = setup(verify=SLOW_VERIFY)
    await fleet.set_faults(fleet.gateways, slow=0.5)
    first = write_plan(tmp_path / "first.json", "bound-3", 12)
    engine = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchover",
        "--config",
        str(config),
        "run",
        str(first),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=tmp_path,
        env=_env(),
    )
    try:
        reader = SqliteStore(tmp_path / "ops" / "state.db")

        async def live() -> bool:
            if not await opened(reader, tmp_path / "ops" / "state.db"):
                return False
            lease = await reader.get_lease()
            return lease is not None

        await eventually(live, within=WAIT)
        other = setup("other.yaml", verify=SLOW_VERIFY, redis={"key_prefix": "other:"})
        second = write_plan(tmp_path / "second.json", "bound-4", 1)
        refused = await switchover(tmp_path, "--config", str(other), "run", str(second))
        assert refused.code == 4, refused
        assert "works with other settings than this command" in refused.stderr
        assert "redis.key_prefix" in refused.stderr
        assert await reader.get_plan("bound-4") is None  # nothing was created
        # The live engine would do a resume right, but the command was given other settings.
        resumed = await switchover(tmp_path, "--config", str(other), "resume", "--plan", "bound-3")
        assert resumed.code == 4, resumed
        assert "runs with other settings than this command's" in resumed.stderr
        assert str(config) in resumed.stderr
        await reader.close()
    finally:
        await fleet.set_faults(fleet.gateways, slow=0.0)
        if engine.returncode is None:
            engine.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(WAIT):
                    await engine.wait()
            except TimeoutError:
                engine.kill()
                await engine.wait()
