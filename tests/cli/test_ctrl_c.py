"""Ctrl-C in ``switchover run`` on a real terminal: a pseudo-terminal, read back through a
terminal emulator, while the command runs a plan against the real redis-server and fleet.

The first Ctrl-C must say "pausing" at once and keep saying it (the live display is redrawn
below the message, not over it), and the display must leave exactly one frame, its last.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import re
import signal
import struct
import sys
import termios
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyte
import pytest
import yaml

from switchover.fleet.fleet import Fleet
from switchover.fleet.redis_server import RedisServer
from tests.integration.conftest import fleet, plan_doc, settings_values, tenant_doc  # noqa: F401

pytestmark = pytest.mark.integration

ROWS, COLUMNS = 60, 120
"""The terminal's size: room for everything the command prints, so nothing scrolls away."""

WAIT = 30.0


class Terminal:
    """A command running on a pseudo-terminal, its output fed to a terminal emulator."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int) -> None:
        self.proc = proc
        self.raw = b""
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self._stream = pyte.ByteStream(self.screen)
        self._master = master
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._read)

    @classmethod
    async def start(cls, argv: list[str], cwd: Path) -> Terminal:
        """Start ``argv`` with a new pseudo-terminal as its stdin, stdout and stderr."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHOVER_")}
        env |= {"TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
        env.pop("NO_COLOR", None)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(slave)
        return cls(proc, master)

    def _read(self) -> None:
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # EIO: every writer of the terminal has gone
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self._master)
            self._closed.set()
        else:
            self.raw += chunk
            self._stream.feed(chunk)
        self._changed.set()

    def lines(self) -> list[str]:
        """What the terminal shows, line by line, trailing blanks removed."""
        return [line.rstrip() for line in self.screen.display]

    async def wait_for(self, shows: Callable[[list[str]], bool]) -> None:
        """Wait until the screen ``shows`` something (at most ``WAIT`` seconds)."""
        async with asyncio.timeout(WAIT):
            while not shows(self.lines()):
                if self._closed.is_set():
                    raise AssertionError("the command ended first:\n" + "\n".join(self.lines()))
                self._changed.clear()
                await self._changed.wait()

    async def finish(self) -> int:
        """Wait for the command to exit and its output to be read to the end; its code."""
        async with asyncio.timeout(WAIT):
            code = await self.proc.wait()
            await self._closed.wait()
        return code

    def close(self) -> None:
        """Kill the command if it still runs; release the terminal."""
        if self.proc.returncode is None:
            self.proc.kill()
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self._master)
        os.close(self._master)


def frame_heads(lines: list[str], plan_id: str) -> list[int]:
    """The lines that start a frame of the live display (``plan P  STATUS  n/m settled``)."""
    head = re.compile(rf"^plan {re.escape(plan_id)}\s+[A-Z_]+\s+\d+/\d+ settled")
    return [i for i, line in enumerate(lines) if head.match(line)]


async def test_first_ctrl_c_says_pausing_at_once_and_the_display_leaves_one_frame(
    tmp_path: Path,
    redis_server: RedisServer,
    fleet: Fleet,  # noqa: F811
) -> None:
    """``run`` under a pseudo-terminal: SIGINT while tasks run shows the pausing message,
    which stays on screen above the final frame; exactly one frame is left; exit 5."""
    slow_verify = {"interval": 0.05, "max_attempts": 400, "deadline": 60.0}
    values: dict[str, Any] = settings_values(
        tmp_path / "switchover.db", redis_server.url, fleet, verify=slow_verify
    )
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    plan_file = tmp_path / "plan.yaml"
    tenants = [tenant_doc(f"c{i:02d}", asbc=False) for i in range(8)]
    plan_file.write_text(yaml.safe_dump(plan_doc("ctrl-c", tenants, max_concurrency=2)))
    # Gateways apply each notification half a second late: every task's blue-green stage
    # waits that long, so the plan runs for a few seconds.
    await fleet.set_faults(fleet.gateways, lag=0.5)
    argv = [sys.executable, "-m", "switchover", "--config", str(config), "run", str(plan_file)]
    terminal = await Terminal.start(argv, tmp_path)
    try:
        running = re.compile(r"\b\d+ RUNNING\b")
        await terminal.wait_for(lambda lines: any(running.search(line) for line in lines))
        terminal.proc.send_signal(signal.SIGINT)
        await terminal.wait_for(lambda lines: any("Ctrl-C: pausing" in ln for ln in lines))
        said_while_running = terminal.proc.returncode is None
        code = await terminal.finish()
    finally:
        terminal.close()

    lines = terminal.lines()
    shown = "\n".join(lines)
    assert code == 5, shown  # paused
    assert said_while_running, shown
    heads = frame_heads(lines, "ctrl-c")
    assert len(heads) == 1, shown  # one frame, not a frame and the remains of an older one
    assert sum("━━━━━━━━━━" in line for line in lines) == 1, shown  # one progress bar
    said = [i for i, line in enumerate(lines) if "Ctrl-C: pausing" in line]
    assert len(said) == 1, shown
    assert said[0] < heads[0], shown  # above the final frame, where it was printed
    assert "Press Ctrl-C again to exit at once." in shown
    assert "PAUSED" in lines[heads[0]], shown
    summary = [i for i, line in enumerate(lines) if line.startswith("plan ctrl-c PAUSED:")]
    assert summary, shown
    assert summary[0] > heads[0], shown
    assert "continue with: switchover" in shown
    assert "Traceback" not in terminal.raw.decode(errors="replace")


def submitted(output: Path, plan_id: str) -> bool:
    """Whether a ``run`` writing to ``output`` has said its plan was created."""
    return f"plan {plan_id}: " in output.read_text()


async def test_ctrl_c_in_watch_detaches_at_once_leaving_one_frame_of_the_tree(
    tmp_path: Path,
    redis_server: RedisServer,
    fleet: Fleet,  # noqa: F811
) -> None:
    """``watch`` under a pseudo-terminal shows the plan's tree live; SIGINT leaves its last
    frame once, says how to re-attach, exits 130, and the plan runs on to its end."""
    values: dict[str, Any] = settings_values(
        tmp_path / "switchover.db",
        redis_server.url,
        fleet,
        verify={"interval": 0.05, "max_attempts": 400, "deadline": 60.0},
    )
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    plan_file = tmp_path / "plan.yaml"
    tenants = [tenant_doc(f"w{i:02d}", asbc=False) for i in range(12)]
    plan_file.write_text(yaml.safe_dump(plan_doc("ctrl-w", tenants, max_concurrency=2)))
    await fleet.set_faults(fleet.gateways, lag=1.0)  # six rounds of a second or more
    base = [sys.executable, "-m", "switchover", "--config", str(config)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHOVER_")}
    with (tmp_path / "run.out").open("wb") as sink:
        run = await asyncio.create_subprocess_exec(
            *base, "run", str(plan_file), stdout=sink, stderr=sink, cwd=tmp_path, env=env
        )
    terminal: Terminal | None = None
    try:
        async with asyncio.timeout(WAIT):
            # What is polled is another process's output: there is no event to await.
            while not await asyncio.to_thread(submitted, tmp_path / "run.out", "ctrl-w"):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        terminal = await Terminal.start([*base, "watch", "ctrl-w"], tmp_path)
        await terminal.wait_for(lambda lines: any(ln.endswith("── RUNNING 2") for ln in lines))
        terminal.proc.send_signal(signal.SIGINT)
        code = await terminal.finish()
        async with asyncio.timeout(WAIT):
            ran = await run.wait()
    finally:
        if terminal is not None:
            terminal.close()
        if run.returncode is None:
            run.kill()
            await run.wait()

    lines = terminal.lines()
    shown = "\n".join(lines)
    assert code == 130, shown
    roots = [i for i, line in enumerate(lines) if line.startswith("plan ctrl-w  ")]
    assert len(roots) == 1, shown  # one frame of the tree
    detached = [i for i, line in enumerate(lines) if "detached from plan ctrl-w" in line]
    assert len(detached) == 1, shown
    assert detached[0] > roots[0], shown
    assert "Re-attach with" in shown
    assert ran == 0, (tmp_path / "run.out").read_text()  # the plan went on to completion
