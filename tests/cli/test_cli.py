"""The CLI's contract: exit codes, one-line refusals, JSON output, masked secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from switchover.cli.app import app
from switchover.discovery.static import StaticDiscovery
from switchover.engine.engine import Engine
from switchover.settings import Settings
from switchover.stores.sqlite import SqliteStore
from tests.support.stages import Script, ScriptedBuilder, make_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in ("SWITCHOVER_STORE", "SWITCHOVER_REDIS__URL", "SWITCHOVER_ASBC__TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def invoke(cli: CliRunner, *args: str) -> tuple[int, str, str]:
    result = cli.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_a_good_plan_exits_zero_with_a_summary(cli: CliRunner) -> None:
    code, out, _ = invoke(cli, "validate", str(EXAMPLES / "plan.yaml"))
    assert code == 0
    assert "valid" in out
    assert "demo-plan" in out


def test_validate_reports_every_problem_and_exits_two(cli: CliRunner) -> None:
    code, _, err = invoke(cli, "validate", str(EXAMPLES / "invalid.yaml"))
    assert code == 2
    assert "10 problem(s)" in err
    assert "tenant tenant-b: trunkGroup" in err
    assert "sourceTenantDeployConfig.planVersion" in err
    assert "Traceback" not in err


def test_validate_json_lists_issues_with_tenant_and_field(cli: CliRunner) -> None:
    code, out, _ = invoke(cli, "validate", str(EXAMPLES / "invalid.yaml"), "--json")
    assert code == 2
    data = json.loads(out)
    assert data["ok"] is False
    assert {"tenant": "tenant-c", "field": "deployUnitId"} in [
        {"tenant": i["tenant"], "field": i["field"]} for i in data["issues"]
    ]


def test_a_missing_plan_file_is_invalid_input(cli: CliRunner) -> None:
    code, _, err = invoke(cli, "run", "nope.yaml")
    assert code == 2
    assert "cannot read plan file 'nope.yaml'" in err


def test_status_of_an_empty_store_says_how_to_start(cli: CliRunner) -> None:
    code, out, _ = invoke(cli, "status")
    assert code == 0
    assert "no plans yet" in out


def test_unknown_plan_tenant_and_events_are_not_found(cli: CliRunner) -> None:
    assert invoke(cli, "status", "ghost")[0] == 3
    assert invoke(cli, "status", "--tenant", "ghost")[0] == 3
    assert invoke(cli, "events")[0] == 3


def test_operations_need_exactly_one_target(cli: CliRunner) -> None:
    code, _, err = invoke(cli, "pause")
    assert code == 2
    assert "name exactly one of --plan, --tenant or --task" in err
    code, _, err = invoke(cli, "pause", "--plan", "a", "--tenant", "b")
    assert code == 2


def test_config_show_masks_secrets(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHOVER_REDIS__URL", "redis://ops:hunter2@127.0.0.1:6390/0")
    monkeypatch.setenv("SWITCHOVER_ASBC__TOKEN", "tok-hunter2")
    code, out, _ = invoke(cli, "config", "show", "--json")
    assert code == 0
    assert "hunter2" not in out
    data = json.loads(out)
    assert data["redis"]["url"] == "redis://ops:***@127.0.0.1:6390/0"
    assert data["asbc"]["token"] == "**********"


def test_a_bad_settings_file_is_invalid_input(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("engine:\n  max_concurrency: zero\n")
    code, _, err = invoke(cli, "--config", str(bad), "status")
    assert code == 2
    assert "engine.max_concurrency" in err
    assert invoke(cli, "--config", "missing.yaml", "status")[0] == 2


def test_version(cli: CliRunner) -> None:
    code, out, _ = invoke(cli, "--version")
    assert code == 0
    assert out.startswith("switchover ")


async def completed_plan(path: Path) -> None:
    store = SqliteStore(path)
    await store.open()
    settings = Settings(store=path)
    engine = Engine(
        store, ScriptedBuilder(Script()), settings=settings, discovery=StaticDiscovery(settings)
    )
    try:
        await engine.start()
        await engine.submit_plan(make_spec(["t1", "t2"], previous_version=None))
        await engine.wait_idle()
    finally:
        await engine.stop()
        await store.close()


def test_refusals_are_one_line_with_exit_four(cli: CliRunner, tmp_path: Path) -> None:
    import asyncio

    asyncio.run(completed_plan(tmp_path / "switchover.db"))
    code, _, err = invoke(cli, "rollback", "--tenant", "t1")
    assert code == 4
    assert err.strip().splitlines() == [
        "error: task p1/t1 is COMPLETED; rollback needs FAILED, PAUSED or ROLLBACK_FAILED"
    ]
    code, _, err = invoke(cli, "retry", "--task", "p1/t2")
    assert code == 4
    assert "Traceback" not in err
    code, _, _ = invoke(cli, "resume", "--task", "p1/nobody")
    assert code == 3


def test_status_and_events_of_a_plan(cli: CliRunner, tmp_path: Path) -> None:
    import asyncio

    asyncio.run(completed_plan(tmp_path / "switchover.db"))
    code, out, _ = invoke(cli, "status", "p1", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "COMPLETED"
    assert {status: n for status, n in data["counts"].items() if n} == {"COMPLETED": 2}
    code, out, _ = invoke(cli, "status", "--tenant", "t1")
    assert code == 0
    assert "checkpoint: stage 2 (gamma)" in out
    code, out, _ = invoke(cli, "--json", "events", "--plan", "p1", "--since", "3")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in lines] == list(range(4, 4 + len(lines)))
    assert lines[-1]["type"] == "PlanCompleted"


def test_global_options_are_accepted_after_the_command() -> None:
    from switchover.cli import hoisted

    assert hoisted(["run", "plan.yaml", "--config", "fleet.yaml", "--json"]) == [
        "--config",
        "fleet.yaml",
        "run",
        "plan.yaml",
        "--json",
    ]
    assert hoisted(["status", "--store=s.db", "p1", "--server", "http://h:1"]) == [
        "--store=s.db",
        "--server",
        "http://h:1",
        "status",
        "p1",
    ]
    assert hoisted(["events", "--", "--config", "x"]) == ["events", "--", "--config", "x"]
    assert hoisted(["status", "--config"]) == ["status", "--config"]  # the parser complains


def test_settings_given_after_the_command_are_used(tmp_path: Path) -> None:
    """Through the real entry point: ``validate FILE --config MISSING`` reads that file."""
    import subprocess
    import sys

    plan, missing = str(EXAMPLES / "plan.yaml"), str(tmp_path / "missing.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "switchover", "validate", plan, "--config", missing],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "missing.yaml' not found" in done.stderr


def test_minus_h_is_help_everywhere(cli: CliRunner) -> None:
    for args in (["-h"], ["run", "-h"], ["status", "-h"], ["config", "show", "-h"]):
        code, out, _ = invoke(cli, *args)
        assert code == 0, args
        assert "Usage:" in out


def test_help_loads_neither_the_display_nor_the_domain_records() -> None:
    """``switchover --help`` imports what it shows, not what the commands use when they run."""
    import subprocess
    import sys

    probe = (
        "import sys\nsys.argv = ['switchover', '--help']\nfrom switchover.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None)\n"
        "heavy = ('rich.console', 'switchover.domain.records', 'switchover.domain.commands', "
        "'switchover.engine', 'pydantic', 'yaml')\n"
        "print('LOADED', *[m for m in heavy if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Commands:" in done.stdout
    assert done.stdout.splitlines()[-1] == "LOADED"


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group of commands
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_s_help_shows_an_example(cli: CliRunner) -> None:
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 15
    for command in commands:
        code, out, _ = invoke(cli, *command, "-h")
        assert code == 0, command
        shown = re.search(r"Examples?: switchover ", out)
        assert shown, f"{' '.join(command)} -h shows no example"


@pytest.mark.parametrize(
    ("command", "code", "absent"),
    [
        (
            "status",
            0,
            (
                "switchover.engine",
                "switchover.domain.commands",
                "switchover.domain.events",
                "switchover.service.views",
                "rich._emoji_codes",
                "pydantic",
                "yaml",
            ),
        ),
        ("events", 3, ("switchover.engine.lease", "rich.table", "rich.tree")),
    ],
)
def test_reading_an_empty_store_loads_only_what_it_shows(
    tmp_path: Path, command: str, code: int, absent: tuple[str, ...]
) -> None:
    """``status`` and ``events`` with no store import neither the engine (its lease, its event
    tail) nor the command records, nor the parts of rich they do not draw; nor pydantic or YAML
    (the settings are msgspec structs; typer below 0.29 converts arguments without pydantic)."""
    import os
    import subprocess
    import sys

    probe = (
        f"import sys\nsys.argv = ['switchover', {command!r}]\nfrom switchover.cli import main\n"
        f"try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == {code}, exc.code\n"
        f"print('LOADED', *[m for m in {absent!r} if m in sys.modules])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHOVER_")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "LOADED"
    assert not (tmp_path / "switchover.db").exists()


def test_data_that_looks_like_an_emoji_code_is_shown_as_written(
    cli: CliRunner, tmp_path: Path
) -> None:
    """A store path (or tenant id, or message) holding ``:smile:`` is printed as it is."""
    store = tmp_path / ":smile:" / "switchover.db"
    store.parent.mkdir()
    code, out, _ = invoke(cli, "--store", str(store), "status")
    assert code == 0
    assert ":smile:" in out.replace("\n", "")
    assert "\N{SMILING FACE WITH OPEN MOUTH AND SMILING EYES}" not in out
