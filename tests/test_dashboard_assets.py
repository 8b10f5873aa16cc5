"""The dashboard's files as the server hands them out: from the package, with a strict
content security policy, every module the page imports present, nothing from another origin."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from switchover.api.dashboard import ASSETS, mount_dashboard


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    mount_dashboard(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as opened:
        yield opened


async def test_the_page_is_served_at_the_root_with_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert '<script type="module" src="/ui/app.js">' in page.text


async def test_every_module_the_page_loads_is_served_as_javascript(
    client: httpx.AsyncClient,
) -> None:
    seen: set[str] = set()
    queue = ["app.js"]
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        answer = await client.get(f"/ui/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith("text/javascript"), name
        assert "content-security-policy" in answer.headers
        queue += re.findall(r'from "\./([a-z]+\.js)"', answer.text)
    assert seen == {p.name for p in ASSETS.glob("*.js")}  # no module unused, none missing
    assert (await client.get("/ui/style.css")).headers["content-type"].startswith("text/css")
    assert (await client.get("/ui/nothing.js")).status_code == 404


def test_no_asset_refers_to_another_origin() -> None:
    for path in ASSETS.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), path.name
