"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright),
served by a real ``switchover serve`` process on the real redis-server and loopback fleet:
log in, watch a plan, promote a wave, see a tenant fail live, read its per-instance verify
detail, roll it back from the page and find v19 in Redis; a viewer sees no action buttons.
Screenshots of each page go to ``build/test-artifacts/dashboard`` (or
``$SWITCHOVER_TEST_ARTIFACTS/dashboard``)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, async_playwright, expect

from switchover.fleet.browser import CHROMIUM, CHROMIUM_ARGS, MISSING, chromium_installed
from switchover.fleet.fleet import Fleet
from tests.integration.conftest import KEY_PREFIX, eventually, plan_doc, tenant_doc
from tests.integration.test_cli import Cli, cli_for  # noqa: F401
from tests.integration.test_serve import serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPERATOR = "dash-operator-token-0123456789abcdef"
VIEWER = "dash-viewer-token-0123456789abcdef00"
TOKENS = [
    {"name": "alice", "role": "operator", "token": OPERATOR},
    {"name": "victor", "role": "viewer", "token": VIEWER},
]
FAILING = "d004"
ARTIFACTS = (
    Path(
        os.environ.get("SWITCHOVER_TEST_ARTIFACTS")
        or Path(__file__).parents[2] / "build" / "test-artifacts"
    )
    / "dashboard"
)


def waves_plan(plan_id: str) -> dict[str, Any]:
    """Six tenants in two waves; the second waits for approval and holds the failing one."""
    doc = plan_doc(plan_id, [tenant_doc(f"d{i:03d}", asbc=False) for i in range(6)])
    doc["plan"] |= {"waves": [3, {"size": "100%", "approval": True}], "bake": 0}
    return doc


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not chromium_installed():
        pytest.fail(MISSING)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def served(cli_for: Callable[..., Cli]) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:  # noqa: F811
    """A real ``switchover serve`` with an operator and a viewer token, and an API client."""
    cli = cli_for(serve={"tokens": TOKENS})
    _, url = await serve(cli)
    headers = {"Authorization": f"Bearer {OPERATOR}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as api:
        yield url, api


async def submit(api: httpx.AsyncClient, doc: dict[str, Any]) -> None:
    response = await api.post("/plans", content=json.dumps(doc))
    assert response.status_code == 201, response.text


async def awaiting_approval(api: httpx.AsyncClient, plan_id: str) -> None:
    async def waiting() -> bool:
        gate = (await api.get(f"/plans/{plan_id}")).json()["rollout"]["gate"]
        return gate is not None and gate["kind"] == "approval"

    await eventually(waiting, within=30)


async def open_page(browser: Browser, url: str, scheme: str = "light") -> Page:
    page = await browser.new_page(viewport={"width": 1300, "height": 900}, color_scheme=scheme)
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(url)
    return page


async def log_in(page: Page, token: str) -> None:
    await page.locator("#token").fill(token)
    await page.keyboard.press("Enter")
    await expect(page.locator("#who")).not_to_be_empty()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def test_an_operator_promotes_sees_a_failure_live_and_rolls_it_back(
    served: tuple[str, httpx.AsyncClient],
    browser: Browser,
    fleet: Fleet,
    redis_client: aioredis.Redis,
) -> None:
    url, api = served
    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=[FAILING])
    await submit(api, waves_plan("dash"))
    await awaiting_approval(api, "dash")

    page = await open_page(browser, url)
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await log_in(page, OPERATOR)
    await expect(page.locator("#who")).to_have_text("alice (operator)")

    # Plans page: the plan, its status, counts and wave state.
    row = page.locator('tr[data-plan="dash"]')
    await expect(row).to_contain_text("RUNNING")
    await expect(row).to_contain_text("3 of 6 settled")
    await expect(row).to_contain_text("awaiting approval of wave 2 of 2")
    await expect(row).to_contain_text("alice")
    await shot(page, "plans")

    # Plan page, waiting for approval: promote from the page.
    await row.get_by_role("link", name="dash").click()
    await expect(page.locator("#wave-text")).to_have_text("awaiting approval of wave 2 of 2")
    await expect(page.locator("#settled")).to_have_text("3 of 6 tasks settled")
    await expect(page.locator("#live")).to_have_text("● live")
    await shot(page, "plan-awaiting-approval")
    await page.evaluate("window.stillTheSamePage = true")
    await page.locator("#promote").click()
    dialog = page.locator("#confirm")
    await expect(dialog).to_contain_text("Admit wave 2 of plan dash: 3 tenants (4–6)")
    await page.locator("#confirm-reason").fill("CHG-7 canary fine")
    await page.locator("#confirm-ok").click()
    await expect(dialog).to_be_hidden()

    # The failing tenant's row turns FAILED from the event stream, with no reload.
    failed_row = page.locator(f'tr[data-task="dash/{FAILING}"]')
    await expect(failed_row.locator(".st")).to_have_text("✗FAILED", timeout=30_000)
    await expect(page.locator("#settled")).to_have_text("6 of 6 tasks settled")
    await expect(page.get_by_role("region", name="failures")).to_contain_text("HEALTH_CHECK_FAILED")
    assert await page.evaluate("window.stillTheSamePage") is True
    await shot(page, "plan-failed-tenant")

    # Task page: the per-instance verify table names every OB instance.
    await failed_row.get_by_role("link", name=FAILING).click()
    instances = page.locator("#instances tbody tr")
    await expect(instances).to_have_count(len(fleet.ob_instances))
    for instance in fleet.ob_instances:
        await expect(page.locator(f'tr[data-instance="{instance.address}"]')).to_contain_text(
            "FAILED"
        )
    await expect(page.locator("#failure")).to_contain_text("HEALTH_CHECK_FAILED")
    await expect(page.locator("#config-previous")).to_contain_text('"deploy_unit_name": "blue"')
    await expect(page.locator("#config-new")).to_contain_text('"deploy_unit_name": "green"')
    await expect(
        page.locator('section[data-run="Forward run"] tr[data-stage]').last
    ).to_contain_text("FAILED")
    await shot(page, "task-failed")

    # Roll it back from the page: the dialog says what will happen; then ROLLED_BACK and v19.
    await fleet.set_faults(list(fleet.ob_instances), stale_tenants=[])
    await page.get_by_role("button", name="Roll back").click()
    await expect(dialog).to_contain_text(
        f"Roll back tenant {FAILING} (plan dash) to its previous config: deploy unit blue v19"
    )
    await page.locator("#confirm-reason").fill("INC-9")
    await page.locator("#confirm-ok").click()
    await expect(page.locator("h1")).to_contain_text("ROLLED_BACK", timeout=30_000)
    await expect(page.locator('section[data-run="Rollback"]')).to_contain_text("by alice (INC-9)")
    await expect(page.locator("#audit")).to_contain_text("alice: rollback")
    stored = await redis_client.hgetall(KEY_PREFIX + FAILING)
    assert stored["metadata"] == '{"version":19}'
    await shot(page, "task-rolled-back")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_viewer_sees_no_action_buttons_and_the_api_refuses_them_anyway(
    served: tuple[str, httpx.AsyncClient], browser: Browser
) -> None:
    url, api = served
    await submit(api, waves_plan("viewed"))
    await awaiting_approval(api, "viewed")

    page = await open_page(browser, url, scheme="dark")
    await page.locator("#token").fill("not-a-token")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await log_in(page, VIEWER)
    await expect(page.locator("#who")).to_have_text("victor (viewer)")

    # By keyboard alone: tab to the plan's link and open it.
    link = page.get_by_role("link", name="viewed")
    for _ in range(20):
        if await link.evaluate("el => el === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.locator("#wave-text")).to_have_text("awaiting approval of wave 2 of 2")
    await expect(
        page.get_by_role("group", name="plan actions").get_by_role("button")
    ).to_have_count(0)
    await expect(page.locator("#promote")).to_have_count(0)
    await page.locator("#status-filter").select_option("COMPLETED")
    await expect(page.locator("#page-range")).to_have_text("1–3 of 3")
    await expect(
        page.get_by_role("group", name="actions on the selection").get_by_role("button")
    ).to_have_count(0)
    await shot(page, "plan-viewer-dark")

    await page.get_by_role("link", name="d000").click()
    await expect(page.locator("h1")).to_contain_text("COMPLETED")
    await expect(
        page.get_by_role("group", name="task actions").get_by_role("button")
    ).to_have_count(0)
    await shot(page, "task-viewer-dark")

    status = await page.evaluate(
        """async (token) => (await fetch('/plans/viewed/promote', {method: 'POST',
             headers: {Authorization: 'Bearer ' + token}})).status""",
        VIEWER,
    )
    assert status == 403
    assert page.errors == []  # type: ignore[attr-defined]
