"""README.md, run as a new user would run it.

The shell blocks of the quick start, the tour and "Large plans" run as commands, one after
the other, in a fresh directory holding a copy of ``examples/`` and the ``.venv``: the
redis-server and the fleet are the ones the README's own ``switchover fleet --write
fleet.yaml`` starts. Every Python block, wherever it is, runs as a script in that directory.

An HTML comment on the line before a block (GitHub does not show it) says how to run it:

* ``<!-- readme-test: skip (why; covered by tests/PATH …) -->``: not run here; every
  ``tests/…`` path it names must exist.
* ``<!-- readme-test: background[, until the end][; ready: COMMAND] -->``: each command of the
  block starts in the background, as in another terminal. ``ready``: a shell command retried
  until it succeeds before the next block runs. ``until the end``: it runs until the README is
  done and is then stopped with Ctrl-C (SIGINT to its process group); otherwise it must end
  by itself by the end of the next block.

In a shell block, a command's trailing comment may say ``exit N`` (the exit code expected; 0
otherwise), and the ``#`` lines after a command show lines of its output. What is checked of
a shown line is what matters in it: its statuses and error types (``COMPLETED``), event types
(``PlanCompleted``), numbers and ids (``demo-plan``, ``tenant-a``) must appear in that order in
one line of what the command printed; the wording around them may change. In a Python block,
the comment after a ``print(...)`` shows a line the script prints, checked the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from switchover.settings import Settings, load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

RUN_SECTIONS = ("Set up: two commands", "A five-minute tour", "Large plans")
"""Sections whose shell blocks run; the others show commands for other setups (a server)."""

COMMAND_TIMEOUT = 90.0
"""Upper bound of one command (``resume`` follows a plan to its end): a hang fails."""

READY_TIMEOUT = 60.0
"""Upper bound of the wait for a background command to be ready."""

_MARKER = re.compile(r"^<!--\s*readme-test:\s*(?P<spec>.*?)\s*-->\s*$")
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
_EXIT = re.compile(r"\bexit (\d+)\b")
_TOKEN = re.compile(
    r"[A-Z][a-z]+(?:[A-Z][a-z]+)+"  # event types: PlanCompleted
    r"|[A-Z][A-Z_]{2,}"  # statuses and error types: COMPLETED, ROLLBACK_PRECONDITION_FAILED
    r"|[a-z][a-z0-9]*(?:-[a-z0-9]+)+"  # ids: demo-plan, tenant-a, ob-service
    r"|\d+"  # counts, versions, seconds
)


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Block:
    """A fenced block of the README, with the marker before it."""

    section: str
    lang: str
    line: int
    text: str
    marker: str | None

    @property
    def skipped(self) -> bool:
        """Marked ``skip``."""
        return self.marker is not None and self.marker.startswith("skip")

    @property
    def background(self) -> bool:
        """Marked ``background``."""
        return self.marker is not None and self.marker.startswith("background")

    @property
    def until_the_end(self) -> bool:
        """A background block that runs until the README is done."""
        return self.background and "until the end" in (self.marker or "")

    @property
    def ready(self) -> str | None:
        """The command that says a background block is ready, if any."""
        found = re.search(r"\bready:\s*(.+)$", self.marker or "")
        return found.group(1).strip() if found else None


@dataclass
class Command:
    """One command of a shell block: what to run, its exit code, the output lines shown."""

    text: str
    line: int
    exit_code: int = 0
    shown: list[str] = field(default_factory=list)


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of a README, in order."""
    blocks: list[Block] = []
    section = ""
    marker: str | None = None
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            section = line[3:].strip()
        found = _MARKER.match(line)
        fence = _FENCE.match(line)
        if found:
            marker = found.group("spec")
        elif fence:
            end = index + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            body = "\n".join(lines[index + 1 : end])
            blocks.append(Block(section, fence.group("lang"), index + 2, body, marker))
            marker = None
            index = end
        elif line.strip():
            marker = None  # a marker applies to the block right after it only
        index += 1
    return blocks


def trailing_comment(line: str) -> tuple[str, str]:
    """``(command, comment)``: the line split at its first ``#`` outside quotes after a space."""
    quote: str | None = None
    for position, char in enumerate(line):
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or line[position - 1].isspace()):
            return line[:position].rstrip(), line[position + 1 :].strip()
    return line.rstrip(), ""


def shell_commands(block: Block) -> list[Command]:
    """The commands of a shell block, each with its expected exit code and shown output."""
    commands: list[Command] = []
    pending = ""
    for offset, raw in enumerate(block.text.splitlines()):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#") and not pending:
            if commands:
                commands[-1].shown.append(line.lstrip("#").strip())
            continue
        command, comment = trailing_comment(line)
        if command.endswith("\\"):
            pending += command[:-1].rstrip() + " "
            continue
        found = _EXIT.search(comment)
        commands.append(
            Command(pending + command, block.line + offset, int(found.group(1)) if found else 0)
        )
        pending = ""
    return commands


def python_shown(block: Block) -> list[str]:
    """What a Python block's ``print(...)`` lines say they print."""
    shown = []
    for line in block.text.splitlines():
        code, comment = trailing_comment(line)
        if "print(" in code and comment:
            shown.append(comment)
    return shown


def tokens(text: str) -> list[str]:
    """The parts of a line of output that matter: statuses, event types, numbers, ids."""
    return _TOKEN.findall(text)


def shows(output: str, shown: str) -> bool:
    """Whether one line of ``output`` has the tokens of ``shown``, in order."""
    wanted = tokens(shown)
    for line in output.splitlines():
        have = iter(tokens(line))
        if all(token in have for token in wanted):
            return True
    return False


# ----------------------------------------------------------------------------- running


@dataclass
class Started:
    """A background command."""

    command: Command
    block: Block
    proc: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        """What it printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


class Terminal:
    """Where the README's commands run: a fresh directory, the project's .venv on PATH."""

    def __init__(self, workdir: Path) -> None:
        """Set up ``workdir`` as a checkout would look: ``examples/`` and ``.venv``."""
        self.workdir = workdir
        shutil.copytree(ROOT / "examples", workdir / "examples")
        (workdir / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHOVER_")}
        env |= {
            "PATH": f"{workdir / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "VIRTUAL_ENV": str(workdir / ".venv"),
            "XDG_CONFIG_HOME": str(workdir / ".config"),
            "NO_COLOR": "1",
            "TERM": "dumb",
            "COLUMNS": "200",
        }
        self.env = env
        self._count = 0

    async def run(self, text: str, *args: str) -> tuple[int, str]:
        """Run a shell command (or, with ``args``, a program) to its end: code and output."""
        argv = ("bash", "-c", text) if not args else (text, *args)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.workdir,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                out, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"{text!r} did not end within {COMMAND_TIMEOUT:.0f} s") from None
        assert proc.returncode is not None
        return proc.returncode, out.decode(errors="replace")

    async def start(self, command: Command, block: Block) -> Started:
        """Start a shell command in the background, in its own process group (a terminal)."""
        self._count += 1
        log = self.workdir.parent / f"background-{self._count}.log"
        with log.open("wb") as sink:
            proc = await asyncio.create_subprocess_exec(
                "bash",
                "-c",
                command.text,
                cwd=self.workdir,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        return Started(command, block, proc, log)

    async def wait_ready(self, started: Started, ready: str) -> None:
        """Retry ``ready`` until it succeeds; fail if the background command ends first."""
        async with asyncio.timeout(READY_TIMEOUT):
            while True:
                if started.proc.returncode is not None:
                    raise AssertionError(
                        f"README line {started.command.line}: {started.command.text!r} ended "
                        f"(exit {started.proc.returncode}) before {ready!r} held:\n"
                        + started.output()
                    )
                code, _ = await self.run(ready)
                if code == 0:
                    return
                await asyncio.sleep(0.2)


def check(command: Command, code: int, output: str) -> None:
    """The exit code and the shown output lines of a command."""
    where = f"README line {command.line}: {command.text}"
    assert code == command.exit_code, (
        f"{where}\nexit {code}, expected {command.exit_code}:\n{output}"
    )
    for shown in command.shown:
        assert tokens(shown), f"{where}\nshown output {shown!r} has nothing to check"
        assert shows(output, shown), f"{where}\nno line of the output shows {shown!r}:\n{output}"


async def finish(started: Started, *, interrupt: bool) -> None:
    """Wait for a background command (Ctrl-C first if asked) and check how it ended."""
    if interrupt and started.proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(started.proc.pid, signal.SIGINT)
    try:
        async with asyncio.timeout(COMMAND_TIMEOUT):
            code = await started.proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(started.proc.pid, signal.SIGKILL)
        await started.proc.wait()
        raise AssertionError(
            f"README line {started.command.line}: {started.command.text!r} did not end:\n"
            + started.output()
        ) from None
    check(started.command, code, started.output())


# ----------------------------------------------------------------------------- the tests


def the_readme() -> list[Block]:
    """The README's blocks."""
    return readme_blocks(README.read_text(encoding="utf-8"))


@pytest.mark.timeout(400)
async def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    """Every command of the quick start, the tour and "Large plans", and every Python block."""
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    terminal = Terminal(workdir)
    blocks = [
        b
        for b in the_readme()
        if not b.skipped and ((b.lang == "sh" and b.section in RUN_SECTIONS) or b.lang == "python")
    ]
    assert sum(b.lang == "sh" for b in blocks) >= 8, "the README's tour was not found"
    assert any(b.lang == "python" for b in blocks), "the README's Python API block was not found"
    until_the_end: list[Started] = []
    waiting: list[Started] = []  # background commands that must end by the next block's end
    try:
        for block in blocks:
            previous, waiting = waiting, []
            if block.lang == "python":
                script = workdir / f"readme_line_{block.line}.py"
                script.write_text(block.text + "\n", encoding="utf-8")
                command = Command(f"python {script.name}", block.line, 0, python_shown(block))
                check(command, *await terminal.run(sys.executable, script.name))
            elif block.background:
                for command in shell_commands(block):
                    started = await terminal.start(command, block)
                    (until_the_end if block.until_the_end else waiting).append(started)
                    if block.ready is not None:
                        await terminal.wait_ready(started, block.ready)
            else:
                for command in shell_commands(block):
                    check(command, *await terminal.run(command.text))
            for started in previous:
                await finish(started, interrupt=False)
        for started in waiting:
            await finish(started, interrupt=False)
        for started in until_the_end:
            await finish(started, interrupt=True)
        # Ctrl-C in terminal 1 stopped the fleet's redis-server too.
        url = load_settings(workdir / "fleet.yaml").redis.url.get_secret_value()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "redis-server left running"
    finally:
        for started in until_the_end + waiting:
            if started.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(started.proc.pid, signal.SIGKILL)
                await started.proc.wait()


def test_every_block_not_run_says_which_test_covers_it() -> None:
    blocks = the_readme()
    skipped = [b for b in blocks if b.skipped]
    assert skipped, "no skip marker found: the marker syntax may have changed"
    for block in skipped:
        named = re.findall(r"tests/[\w/.-]+\.py", block.marker or "")
        assert named, f"README line {block.line}: a skipped block names no covering test"
        for path in named:
            assert (ROOT / path).is_file(), f"README line {block.line}: {path} does not exist"
    unknown = [b.line for b in blocks if b.marker is not None and not (b.skipped or b.background)]
    assert not unknown, f"README lines {unknown}: unknown readme-test markers"


def test_a_shown_line_is_matched_by_its_statuses_counts_and_ids_in_order() -> None:
    shown = "plan demo-plan COMPLETED: 7 COMPLETED"
    assert tokens(shown) == ["demo-plan", "COMPLETED", "7", "COMPLETED"]
    assert shows("x\nplan demo-plan COMPLETED: 7 COMPLETED (took 0.3s)\n", shown)
    assert shows("demo-plan: done, COMPLETED — 7 tasks COMPLETED", shown)
    assert not shows("plan demo-plan FAILED: 6 COMPLETED, 1 FAILED", shown)
    assert not shows("plan demo-plan COMPLETED\n7 COMPLETED", shown), "one line, not the whole"
    assert tokens("#   waves: 1: 1; 2: 9; 3: 30 after approval, bake 5s") == [
        "1", "1", "2", "9", "3", "30", "5",
    ]  # fmt: skip
    assert tokens("… PlanCompleted COMPLETED") == ["PlanCompleted", "COMPLETED"]


def test_shell_blocks_read_exit_codes_shown_output_and_continuations() -> None:
    block = Block(
        "s",
        "sh",
        10,
        "switchover validate bad.yaml   # exit 2: every problem\n"
        "# bad.yaml: 10 problem(s)\n"
        'switchover promote --reason "canary # 1" \\\n'
        "  --plan p\n",
        None,
    )
    first, second = shell_commands(block)
    assert (first.text, first.exit_code, first.shown) == (
        "switchover validate bad.yaml",
        2,
        ["bad.yaml: 10 problem(s)"],
    )
    assert second.text == 'switchover promote --reason "canary # 1" --plan p'
    assert second.exit_code == 0


def test_load_settings_takes_the_settings_file_as_a_string_or_a_path(tmp_path: Path) -> None:
    """The README's ``load_settings("switchover.yaml")``: a str, a Path or any os.PathLike."""
    written = tmp_path / "switchover.yaml"
    written.write_text("engine: {max_concurrency: 7}\n", encoding="utf-8")

    class Located(os.PathLike[str]):
        def __fspath__(self) -> str:
            return str(written)

    for given in (str(written), written, Located()):
        assert load_settings(given).engine.max_concurrency == 7


# ----------------------------------------------------------------------------- settings table


def _settings_rows() -> Iterator[tuple[str, str]]:
    """``(setting, default as written)`` for each setting the README's table names."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| setting | default | meaning |") :]
    for row in table.splitlines()[2:]:
        if not row.startswith("|"):
            break
        names_cell, defaults_cell = (cell.strip() for cell in row.strip("|").split("|")[:2])
        names = re.findall(r"`([\w.]+)`", names_cell.split("(")[0])
        defaults = [d.strip() for d in defaults_cell.split(" / ")]
        if len(names) != len(defaults):
            continue  # a row whose defaults are not one per name: checked by eye
        section = names[0].rsplit(".", 1)[0] if "." in names[0] else ""
        for name, default in zip(names, defaults, strict=True):
            full = name if "." in name or not section else f"{section}.{name}"
            yield full, default


def _text(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value)
    if hasattr(value, "get_secret_value"):
        return str(value.get_secret_value())
    return str(getattr(value, "value", value))


def _value(settings: Settings, dotted: str) -> object:
    value: object = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def test_the_settings_table_shows_the_defaults() -> None:
    """Every number (count or duration) and every literal default the table states."""
    defaults = Settings()
    checked = 0
    for name, written in _settings_rows():
        actual = _value(defaults, name)
        number = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|h)?", written)
        literal = re.fullmatch(r"`([^`]+)`", written)
        if number is not None and not isinstance(actual, bool):
            seconds = float(number.group(1)) * (3600 if number.group(2) == "h" else 1)
            assert actual == seconds, f"{name}: README says {written}, the default is {actual}"
        elif literal is not None:
            assert _text(actual) == literal.group(1), f"{name}: README says {written}, not {actual}"
        elif written in ("true", "false"):
            assert actual is (written == "true"), f"{name}: README says {written}, not {actual}"
        else:
            continue
        checked += 1
    assert checked >= 30, f"only {checked} defaults of the settings table were checked"
