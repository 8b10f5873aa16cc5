"""The README's tour as a user types it: 'switchover fleet --write fleet.yaml' in one terminal,
then the plan run against it from another, with the file it wrote."""

from __future__ import annotations

import asyncio
import signal
import stat
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import WAIT, eventually
from tests.integration.test_cli import _env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = Path(__file__).parents[2] / "examples"


async def test_fleet_writes_its_settings_and_the_tour_plan_runs_with_them(tmp_path: Path) -> None:
    written = tmp_path / "fleet.yaml"
    fleet = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchover",
        "fleet",
        "--write",
        str(written),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=tmp_path,
        env=_env(),
    )
    try:

        async def ready() -> bool:
            return await asyncio.to_thread(written.exists)

        await eventually(ready, within=WAIT)
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
        values = yaml.safe_load(written.read_text())
        assert values["redis"]["url"].startswith("redis://127.0.0.1:")
        run = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "switchover",
            "run",
            str(EXAMPLES / "plan.yaml"),
            "--config",
            str(written),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
            env=_env(),
        )
        async with asyncio.timeout(WAIT * 2):
            out, err = await run.communicate()
        assert run.returncode == 0, (out.decode(), err.decode())
        assert "plan demo-plan COMPLETED: 7 COMPLETED" in out.decode()
    finally:
        fleet.send_signal(signal.SIGINT)
        async with asyncio.timeout(WAIT):
            await fleet.wait()
    assert fleet.returncode == 0
