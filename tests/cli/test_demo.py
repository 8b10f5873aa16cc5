"""The README's main command: ``switchover demo`` runs end to end and leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def redis_children(pid: int) -> set[int]:
    """Pids of redis-server processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and "redis-server" in cmdline:
            found.add(int(entry.name))
    return found


def still_running(pids: set[int]) -> list[int]:
    """The pids that still exist."""
    return [pid for pid in pids if os.path.exists(f"/proc/{pid}")]


async def test_demo_switches_a_plan_rolls_a_tenant_back_and_cleans_up(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchover", "demo", "--tenants", "12",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip
    seen_redis: set[int] = set()
    output = b""
    assert proc.stdout is not None
    async with asyncio.timeout(100):
        while chunk := await proc.stdout.read(4096):
            output += chunk
            seen_redis |= redis_children(proc.pid)
        code = await proc.wait()
    text = output.decode()
    assert code == 0, text
    assert "plan demo FAILED: 11 COMPLETED, 1 FAILED" in text
    assert "tenant-007 is ROLLED_BACK" in text
    assert "tenant-007: Redis metadata.version=19, targetUnit=blue" in text
    assert "demo finished" in text
    assert seen_redis, "the demo did not run its own redis-server"
    await asyncio.sleep(0.2)
    assert not still_running(seen_redis), "redis-server left running"
    assert not os.listdir(tmp_path), "the demo left files behind"
