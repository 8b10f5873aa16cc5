"""Every JSON document of a real server and of ``--json``: the schema version first, every
time RFC 3339 text (no epoch number anywhere), and the CLI's output through ``--server`` (the
client reading the server's views back into records) the same as on the store."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchover.fleet.fleet import Fleet
from tests.integration.conftest import WAIT, eventually, plan_doc, tenant_doc
from tests.integration.test_cli import Cli, Result, cli_for  # noqa: F401
from tests.integration.test_serve import client, serve, token_of  # noqa: F401
from tests.support.shapes import check_documents

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAN = "shapes"
FAILING = "j002"


def documents_of(result: Result, code: int = 0) -> list[Any]:
    """The JSON lines a command printed, after checking it exited ``code``."""
    assert result.code == code, result
    assert "Traceback" not in result.stderr
    return result.json_lines()


async def sse_documents(api: httpx.AsyncClient, plan_id: str) -> list[Any]:
    """The ``data`` of every frame of a plan's stream, up to its last event."""
    found: list[Any] = []
    headers = {"Accept": "text/event-stream"}
    async with asyncio.timeout(WAIT):
        async with api.stream("GET", f"/plans/{plan_id}/events", headers=headers) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    found.append(json.loads(line[5:]))
                    if found[-1]["type"] in ("PlanCompleted", "PlanFailed"):
                        return found
    return found


async def test_every_document_is_versioned_with_rfc3339_times_and_reads_back_the_same(
    tmp_path: Path,
    fleet: Fleet,
    cli_for: Callable[..., Cli],  # noqa: F811
    client: Callable[[str, str], httpx.AsyncClient],  # noqa: F811
) -> None:
    """A plan baking between two waves, then failing one tenant: each answer of the API, each
    stream frame, each ``--json`` line (local and through ``--server``) starts with
    ``schema`` and holds its times (plan, gate since/until, checkpoint, events, a bake's
    until) as RFC 3339 UTC text; the CLI prints the same documents either way."""
    cli = cli_for()
    server, url = await serve(cli)
    api = client(url, token_of(tmp_path))
    remote = ("--server", url)
    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=[FAILING])
    doc = plan_doc(PLAN, [tenant_doc(f"j{i:03d}", asbc=False) for i in range(3)])
    doc["plan"] |= {"waves": [1, "100%"], "bake": 3600}
    documents: list[Any] = []

    async def answer(method: str, path: str, status: int = 200, **kw: Any) -> Any:
        response = await api.request(method, path, **kw)
        assert response.status_code == status, response.text
        documents.append(response.json())
        return documents[-1]

    await answer("POST", "/plans", 201, content=json.dumps(doc))

    async def baking() -> bool:
        gate = (await api.get(f"/plans/{PLAN}")).json()["rollout"]["gate"]
        return gate is not None and gate["kind"] == "bake"

    await eventually(baking, within=WAIT)
    baked = await answer("GET", f"/plans/{PLAN}")
    assert baked["rollout"]["gate"]["until"] > baked["rollout"]["gate"]["since"]
    documents += documents_of(await cli("status", PLAN, "--json"))
    documents += documents_of(await cli(*remote, "status", PLAN, "--json"))
    documents += documents_of(await cli(*remote, "promote", "--plan", PLAN, "--json"))

    async def settled() -> bool:
        return bool((await api.get(f"/plans/{PLAN}")).json()["status"] == "FAILED")

    await eventually(settled, within=WAIT)
    for path in (
        "/healthz",
        "/readyz",
        "/plans",
        f"/plans/{PLAN}",
        f"/plans/{PLAN}/tasks/j000",
        f"/plans/{PLAN}/tasks/{FAILING}",
        "/tenants/j000",
        f"/plans/{PLAN}/events",
    ):
        await answer("GET", path)
    await answer("GET", "/plans/nothing-here", 404)
    await answer("POST", f"/plans/{PLAN}/tasks/j000/rollback", 409, json={})
    stream = await sse_documents(api, PLAN)
    assert [e["seq"] for e in stream] == list(range(1, len(stream) + 1))
    documents += stream

    # The same reads on the store and through the server: equal documents, line by line.
    for args in (
        ("status",),
        ("status", PLAN),
        ("status", "--task", f"{PLAN}/{FAILING}"),
        ("status", "--tenant", "j000", "--history"),
        ("events", "--plan", PLAN),
    ):
        local = documents_of(await cli(*args, "--json"))
        through_server = documents_of(await cli(*remote, *args, "--json"))
        assert through_server == local, args
        documents += local

    documents += documents_of(await cli("status", "nothing-here", "--json"), 3)
    documents += documents_of(await cli("validate", str(tmp_path / "missing.yaml"), "--json"), 2)
    plan_file = tmp_path / "lines.json"
    plan_file.write_text(json.dumps(plan_doc("lines", [tenant_doc("k000", asbc=False)])))
    ran = documents_of(await cli(*remote, "run", str(plan_file), "--json"))
    assert ran[-1]["status"] == "COMPLETED"
    documents += ran

    seen = check_documents(documents)
    assert {
        "created_at",
        "updated_at",
        "rollout.gate.since",
        "rollout.gate.until",
        "checkpoint.at",
        "tasks[].checkpoint.at",
        "plans[].created_at",
        "events[].at",
        "events[].data.until",
        "at",
        "data.until",
    } <= set(seen), sorted(seen)
    server.send_signal(signal.SIGTERM)
    assert (await server.finish()).code == 0
