""" "Did you mean": an unknown tenant, plan or task id gets one line naming up to three close
ids, from every command and from the HTTP API, found without reading every id."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from switchover.cli.app import app
from switchover.discovery.static import StaticDiscovery
from switchover.domain.records import TargetKind
from switchover.engine.engine import Engine
from switchover.errors import NotFoundError
from switchover.service import Queries, closest, typo_variants
from switchover.settings import Settings
from switchover.stores.memory import MemoryStore
from switchover.stores.protocol import Store
from switchover.stores.sqlite import SqliteStore
from tests.support.stages import Script, ScriptedBuilder, make_spec

TENANTS = [f"t-{i:04d}" for i in range(40, 50)] + ["t-0142", "tenant-a"]


# ----------------------------------------------------------------------------- ranking


def test_one_typo_away_covers_a_changed_dropped_added_or_swapped_character() -> None:
    variants = typo_variants("t-0O42")
    assert {"t-0042", "t-042", "t-00O42", "t-O042", "T-0O42"} <= variants
    assert "t-0O42" not in variants


def test_a_look_alike_character_is_a_sure_match_and_the_only_one_named() -> None:
    found = ["t-0042", "t-0142", "t-0242"]
    assert closest("t-0O42", found, typo_variants("t-0O42")) == ("t-0042",)
    assert closest("T-0042", found, typo_variants("T-0042")) == ("t-0042",)


def test_at_most_three_are_named_one_typo_first_then_alike_ones() -> None:
    found = ["t-0040", "t-0041", "t-0042", "t-0043", "big-move", "t-00"]
    assert closest("t-004", found, typo_variants("t-004")) == ("t-0040", "t-0041", "t-0042")
    assert closest("big-mov", ["big-move-2", "zeta"], ()) == ("big-move-2",)
    assert closest("zz", ["t-0042", "big-move"], typo_variants("zz")) == ()


def test_the_message_names_the_suggestions() -> None:
    assert str(NotFoundError("tenant", "x")) == "tenant 'x' not found"
    assert str(NotFoundError("tenant", "t-0O42", ["t-0042"])) == (
        "tenant 't-0O42' not found; did you mean t-0042?"
    )
    assert str(NotFoundError("plan", "p", ["p1", "p2", "p3"])).endswith(
        "did you mean p1, p2 or p3?"
    )


# ----------------------------------------------------------------------------- the store query


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store of each backend holding plans ``big-move`` and ``big-move-2``."""
    made: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    await made.open()
    try:
        await run_plans(made, tmp_path / "s.db")
        yield made
    finally:
        await made.close()


async def run_plans(store: Store, path: Path) -> None:
    settings = Settings(store=path)
    engine = Engine(
        store, ScriptedBuilder(Script()), settings=settings, discovery=StaticDiscovery(settings)
    )
    try:
        await engine.start()
        await engine.submit_plan(make_spec(TENANTS, plan_id="big-move", previous_version=None))
        await engine.submit_plan(make_spec(["zeta"], plan_id="big-move-2"))
        await engine.wait_idle()
    finally:
        await engine.stop()


async def test_ids_near_finds_the_candidates_that_exist_and_the_neighbours(store: Store) -> None:
    found = await store.ids_near(
        TargetKind.TENANT, "t-0045x", candidates=["t-0045", "nobody"], around=1
    )
    assert found == ["t-0045", "t-0046"]  # the candidate, one on each side in id order
    plans = await store.ids_near(TargetKind.PLAN, "big-mvoe", candidates=["big-move"], around=0)
    assert plans == ["big-move"]
    in_plan = await store.ids_near(TargetKind.TENANT, "zeta", around=5, plan_id="big-move")
    assert "zeta" not in in_plan  # that tenant is another plan's
    assert len(in_plan) == 5  # five before "zeta", none after it
    with pytest.raises(ValueError, match="plans or tenants"):
        await store.ids_near(TargetKind.TASK, "x")


async def test_the_service_suggests_tenants_plans_and_task_ids(store: Store) -> None:
    queries = Queries(store)
    missing = await queries.missing(TargetKind.TENANT, "t-0O42")
    assert missing.suggestions == ("t-0042",)
    assert (await queries.missing(TargetKind.PLAN, "big-mvoe")).suggestions[0] == "big-move"
    task = await queries.missing(TargetKind.TASK, "big-move/t-0O42")
    assert task.suggestions == ("big-move/t-0042",)
    assert (await queries.missing(TargetKind.TASK, "big-mvoe/t-0042")).suggestions == (
        "big-move/t-0042",
    )
    assert (await queries.missing(TargetKind.TASK, "t-0042")).suggestions == ("big-move/t-0042",)
    assert (await queries.missing(TargetKind.TENANT, "qqqqqqqq")).suggestions == ()


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "switchover.db"

    async def make() -> None:
        made = SqliteStore(path)
        await made.open()
        try:
            await run_plans(made, path)
        finally:
            await made.close()

    asyncio.run(make())
    return path


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWITCHOVER_STORE", raising=False)
    return CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "--tenant", "t-0O42"], "tenant 't-0O42' not found; did you mean t-0042?"),
        (
            ["status", "big-mvoe"],
            "plan 'big-mvoe' not found; did you mean big-move or big-move-2?",
        ),
        (["status", "--task", "big-move/t-0O42"], "did you mean big-move/t-0042?"),
        (["status", "--tenant", "tenant-A", "--history"], "did you mean tenant-a?"),
        (["events", "--plan", "big-mvoe"], "did you mean big-move or big-move-2?"),
        (["watch", "big-mvoe"], "did you mean big-move or big-move-2?"),
        (["rollback", "--tenant", "t-0O42"], "did you mean t-0042?"),
        (["retry", "--task", "big-move/t-0O42"], "did you mean big-move/t-0042?"),
        (["retry", "--task", "t-0042"], "task 't-0042' not found; did you mean big-move/t-0042?"),
        (["resume", "--plan", "big-mvoe"], "did you mean big-move or big-move-2?"),
        (["pause", "--tenant", "t-0O49"], "did you mean t-0049?"),
        (["cancel", "--task", "big-mvoe/t-0041"], "did you mean big-move/t-0041?"),
        (["retry", "--plan", "big-mvoe", "--status", "FAILED"], "did you mean big-move or"),
    ],
)
def test_every_command_names_close_matches_in_one_line(
    cli: CliRunner, store_file: Path, args: list[str], message: str
) -> None:
    result = cli.invoke(app, ["--store", str(store_file), *args])
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_json_errors_carry_the_suggestion(cli: CliRunner, store_file: Path) -> None:
    result = cli.invoke(app, ["--store", str(store_file), "--json", "status", "--tenant", "t-0O42"])
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["error"] == "tenant 't-0O42' not found; did you mean t-0042?"


# ----------------------------------------------------------------------------- the HTTP API


def token_beside(store: Path) -> str:
    """The operator token ``serve`` wrote beside the store."""
    return Path(f"{store}.token").read_text().strip()


async def test_the_api_and_a_client_of_it_name_the_same_suggestion(store_file: Path) -> None:
    """A real ``switchover serve`` on loopback: its 404 carries the suggestion, and the CLI
    against it prints the same line as against the store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHOVER_")}
    base = [sys.executable, "-m", "switchover", "--store", str(store_file)]
    server = await asyncio.create_subprocess_exec(
        *base, "serve", "--listen", "127.0.0.1:0",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=store_file.parent,
    )  # fmt: skip
    try:
        assert server.stderr is not None
        url = None
        async with asyncio.timeout(30):
            while url is None:
                line = (await server.stderr.readline()).decode()
                assert line, "serve ended before it listened"
                found = re.search(r"serving .* at (http://127\.0\.0\.1:\d+)", line)
                url = found.group(1) if found else None
        token = token_beside(store_file)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as api:
            tenant = await api.get("/tenants/t-0O42")
            plan = await api.get("/plans/big-mvoe")
            task = await api.get("/plans/big-move/tasks/t-0O42")
        assert tenant.status_code == 404
        assert tenant.json()["error_type"] == "NOT_FOUND"
        assert tenant.json()["message"] == "tenant 't-0O42' not found; did you mean t-0042?"
        assert plan.status_code == 404
        assert plan.json()["message"].endswith("did you mean big-move or big-move-2?")
        assert task.status_code == 404
        assert task.json()["message"].endswith("did you mean big-move/t-0042?")
        for args in (["status", "--tenant", "t-0O42"], ["rollback", "--tenant", "t-0O42"]):
            client = await asyncio.create_subprocess_exec(
                *base, "--server", url, *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=store_file.parent,
            )  # fmt: skip
            async with asyncio.timeout(30):
                _, err = await client.communicate()
            assert client.returncode == 3, err
            assert err.decode().strip() == (
                "error: tenant 't-0O42' not found; did you mean t-0042?"
            )
    finally:
        server.terminate()
        async with asyncio.timeout(30):
            await server.wait()
