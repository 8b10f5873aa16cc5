"""AlertDispatcher: alerts from the store's outbox to real loopback webhooks, retried, once each."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from switchover.alerts import IDEMPOTENCY_HEADER, AlertDispatcher, webhook_key
from switchover.clock import SystemClock
from switchover.domain.events import Event, EventType
from switchover.fleet.redis_server import free_port
from switchover.settings import Settings
from switchover.stores.memory import MemoryStore
from switchover.stores.protocol import AlertState, Change, Store
from switchover.stores.sqlite import SqliteStore
from switchover.views import document, event_json
from tests.stores.contract import create, make_event
from tests.support.clock import FakeClock

TOKEN = "hook-token-5f1c2a9e"
ASBC_TOKEN = "asbc-token-77d0c3b1"
ALERTED = (EventType.TASK_FAILED, EventType.TASK_ROLLBACK_FAILED, EventType.PLAN_FAILED)


@dataclass
class Receiver:
    """A webhook on a free loopback port; ``answer(alert_id, attempt)`` picks each status.

    ``attempt`` counts this alert's requests from 1. ``received`` holds every request;
    ``taken`` the alert ids answered with a 2xx, in the order answered.
    """

    answer: Callable[[str, int], int] = lambda alert_id, attempt: 200
    delay: float = 0.0
    port: int = field(default_factory=free_port)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/alerts?token={TOKEN}"

    async def _handle(self, request: web.Request) -> web.Response:
        alert_id = request.headers[IDEMPOTENCY_HEADER]
        body = json.loads(await request.read())
        self.received.append((alert_id, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        attempt = sum(1 for seen, _ in self.received if seen == alert_id)
        status = self.answer(alert_id, attempt)
        if 200 <= status < 300:
            self.taken.append(alert_id)
        return web.Response(status=status, text="ok" if status < 300 else "busy")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/alerts", self._handle)
        # A short shutdown: a slow handler still waiting does not hold up the test's end.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def receivers() -> AsyncIterator[list[Receiver]]:
    """Receivers a test makes; each stopped at the end."""
    made: list[Receiver] = []
    yield made
    for receiver in made:
        await receiver.stop()


async def receiver(made: list[Receiver], *, start: bool = True, **options: Any) -> Receiver:
    """A receiver, started unless told otherwise."""
    found = Receiver(**options)
    made.append(found)
    if start:
        await found.start()
    return found


@pytest.fixture
async def clock() -> AsyncIterator[FakeClock]:
    """Virtual time; only ``advance`` moves it here (``run_once`` never sleeps)."""
    fake = FakeClock()
    yield fake
    await fake.aclose()


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    """A fresh in-memory store."""
    memory = MemoryStore()
    await memory.open()
    yield memory
    await memory.close()


def settings_for(*urls: str, **alerts: Any) -> Settings:
    """Settings with these webhooks and short delays (``alerts`` overrides)."""
    options: dict[str, Any] = {
        "webhooks": list(urls),
        "timeout": 2.0,
        "max_attempts": 10,
        "base_delay": 0.01,
        "max_delay": 0.02,
    }
    options.update(alerts)
    return Settings.of(alerts=options, asbc={"token": ASBC_TOKEN})


async def add_events(store: Store, plan_id: str, kinds: Sequence[EventType]) -> list[Event]:
    """Commit one event per kind to the plan; the events numbered."""
    events = [make_event(plan_id, kind, data={"kind": kind.value}) for kind in kinds]
    return await store.commit(Change(plan_id, events=events))


async def plans_with_events(store: Store, count: int) -> dict[str, list[Event]]:
    """Plans whose events mix alerted types with others; each plan's alerted events."""
    kinds = [EventType.TASK_FAILED, EventType.TASK_PROGRESS, EventType.PLAN_FAILED]
    alerted: dict[str, list[Event]] = {}
    for _ in range(count):
        plan, _ = await create(store, 1)
        stored = await add_events(store, plan.plan_id, [*kinds, EventType.TASK_ROLLBACK_FAILED])
        alerted[plan.plan_id] = [event for event in stored if event.type in ALERTED]
    return alerted


def alert_ids(alerted: dict[str, list[Event]]) -> list[str]:
    """The ids of every alert owed."""
    return [f"{e.plan_id}:{e.seq}" for events in alerted.values() for e in events]


def per_plan(ids: Sequence[str]) -> dict[str, list[int]]:
    """Alert ids grouped by plan: the sequence numbers, in the order given."""
    grouped: dict[str, list[int]] = {}
    for alert_id in ids:
        plan_id, seq = alert_id.rsplit(":", 1)
        grouped.setdefault(plan_id, []).append(int(seq))
    return grouped


async def drain(
    dispatcher: AlertDispatcher, store: Store, clock: FakeClock, rounds: int = 50
) -> None:
    """Run rounds, moving virtual time past every backoff, until nothing is pending."""
    for _ in range(rounds):
        await dispatcher.run_once()
        counts = await store.alert_counts()
        if not counts.get(AlertState.PENDING):
            return
        clock.advance(1.0)
    raise AssertionError(f"alerts still pending after {rounds} rounds: {counts}")


async def wait_for(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (real time, polling) until ``condition()`` holds, at most ``within`` seconds."""
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    assert condition(), f"not so within {within} s"


def file_bytes(directory: Path) -> bytes:
    """The contents of every file in ``directory`` (a SQLite file, its WAL...)."""
    return b"".join(path.read_bytes() for path in directory.iterdir() if path.is_file())


# -- delivery ---------------------------------------------------------------------------------


async def test_refused_alerts_are_retried_and_each_arrives_once_in_plan_order(
    store: MemoryStore, clock: FakeClock, receivers: list[Receiver]
) -> None:
    """A webhook answering 503 to each alert's first two attempts gets every alert, taken
    once each, a plan's in sequence order; the body is the event's document plus its alert
    id."""
    hook = await receiver(receivers, answer=lambda _, attempt: 503 if attempt <= 2 else 200)
    alerted = await plans_with_events(store, 3)
    dispatcher = AlertDispatcher(store, settings_for(hook.url), clock)
    await drain(dispatcher, store, clock)
    expected = alert_ids(alerted)
    assert sorted(hook.taken) == sorted(expected)
    assert per_plan(hook.taken) == per_plan(expected)  # in order within each plan
    assert len(hook.received) == 3 * len(expected)
    first_seen = list(dict.fromkeys(alert_id for alert_id, _ in hook.received))
    assert per_plan(first_seen) == per_plan(expected)  # never tried ahead of an earlier one
    events = {f"{e.plan_id}:{e.seq}": e for es in alerted.values() for e in es}
    for alert_id, body in hook.received:
        assert body == document(event_json(events[alert_id])) | {"alert_id": alert_id}
    assert (dispatcher.enqueued, dispatcher.delivered) == (len(expected), len(expected))
    assert (dispatcher.failed_attempts, dispatcher.given_up) == (2 * len(expected), 0)


async def test_events_of_types_not_configured_are_not_sent(
    store: MemoryStore, clock: FakeClock, receivers: list[Receiver]
) -> None:
    hook = await receiver(receivers)
    plan, _ = await create(store, 1)
    kinds = [EventType.TASK_FAILED, EventType.PLAN_COMPLETED, EventType.TASK_PROGRESS]
    stored = await add_events(store, plan.plan_id, kinds)
    settings = settings_for(hook.url, events=[EventType.PLAN_COMPLETED.value])
    assert await AlertDispatcher(store, settings, clock).run_once() == 1
    assert hook.taken == [f"{plan.plan_id}:{stored[1].seq}"]
    assert await AlertDispatcher(store, settings, clock).run_once() == 0
    assert len(hook.received) == 1


async def test_an_alert_is_given_up_after_max_attempts_and_the_next_goes_on(
    store: MemoryStore,
    clock: FakeClock,
    receivers: list[Receiver],
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan, _ = await create(store, 1)
    first, second = await add_events(store, plan.plan_id, [EventType.TASK_FAILED] * 2)
    doomed = f"{plan.plan_id}:{first.seq}"
    hook = await receiver(receivers, answer=lambda alert_id, _: 500 if alert_id == doomed else 200)
    dispatcher = AlertDispatcher(store, settings_for(hook.url, max_attempts=3), clock)
    with caplog.at_level(logging.WARNING, logger="switchover.alerts"):
        await drain(dispatcher, store, clock)
    after = f"{plan.plan_id}:{second.seq}"
    assert [alert_id for alert_id, _ in hook.received] == [doomed, doomed, doomed, after]
    assert (dispatcher.given_up, dispatcher.failed_attempts, dispatcher.delivered) == (1, 3, 1)
    assert await store.alert_counts() == {AlertState.GIVEN_UP: 1, AlertState.DELIVERED: 1}
    [warning] = [r for r in caplog.records if r.name == "switchover.alerts"]
    assert warning.levelno == logging.WARNING
    assert doomed in warning.getMessage()
    assert "3 attempts" in warning.getMessage()
    assert "HTTP status 500" in warning.getMessage()


async def test_backoff_is_exponential_with_full_jitter_up_to_max_delay(
    store: MemoryStore, clock: FakeClock, receivers: list[Receiver]
) -> None:
    hook = await receiver(receivers, answer=lambda *_: 503)
    plan, _ = await create(store, 1)
    await add_events(store, plan.plan_id, [EventType.TASK_FAILED])
    settings = settings_for(hook.url, base_delay=1.0, max_delay=5.0, max_attempts=50)
    dispatcher = AlertDispatcher(store, settings, clock, rng=random.Random(7))
    delays: list[float] = []
    for _ in range(8):
        before = clock.now()
        await dispatcher.run_once()
        [alert] = await store.due_alerts(webhook_key(hook.url), now=float("inf"))
        delays.append(alert.next_at - before)
        clock.advance(alert.next_at - before)
    caps = [min(5.0, 2.0**n) for n in range(8)]
    assert all(0 <= delay <= cap for delay, cap in zip(delays, caps, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not fixed steps
    assert max(delays[4:]) > 1.0  # and growing past the base


# -- independence of webhooks -----------------------------------------------------------------


async def test_a_slow_webhook_holds_up_no_other(
    store: MemoryStore, receivers: list[Receiver]
) -> None:
    """With ``run``, a webhook that answers after the timeout costs the others nothing: they
    get every alert while the slow one's first attempts are still waiting."""
    slow = await receiver(receivers, delay=1.0)
    fast = await receiver(receivers)
    alerted = await plans_with_events(store, 2)
    settings = settings_for(slow.url, fast.url, timeout=0.5)
    dispatcher = AlertDispatcher(store, settings, SystemClock(), poll_interval=0.01)
    async with asyncio.TaskGroup() as group:
        running = group.create_task(dispatcher.run())
        await wait_for(lambda: len(fast.taken) == len(alert_ids(alerted)))
        assert slow.received  # attempts to the slow one are in flight,
        assert dispatcher.failed_attempts == 0  # and none of them has timed out yet
        running.cancel()
    assert sorted(fast.taken) == sorted(alert_ids(alerted))
    assert slow.taken == []


async def test_a_webhook_down_at_first_gets_every_alert_once_it_is_up(
    receivers: list[Receiver], tmp_path: Path
) -> None:
    """``run`` keeps retrying a closed port; when the webhook starts, every alert arrives,
    once, a plan's in order — and the alerts of another webhook never waited."""
    sqlite_store = SqliteStore(tmp_path / "state.db")
    await sqlite_store.open()
    try:
        down = await receiver(receivers, start=False)
        up = await receiver(receivers)
        alerted = await plans_with_events(sqlite_store, 2)
        settings = settings_for(down.url, up.url, max_attempts=1000)
        dispatcher = AlertDispatcher(sqlite_store, settings, SystemClock(), poll_interval=0.01)
        expected = alert_ids(alerted)
        async with asyncio.TaskGroup() as group:
            running = group.create_task(dispatcher.run())
            await wait_for(lambda: len(up.taken) == len(expected))
            await wait_for(lambda: dispatcher.failed_attempts >= 6)
            await down.start()
            await wait_for(lambda: len(down.taken) == len(expected))
            running.cancel()
        assert down.taken == [alert_id for alert_id, _ in down.received]  # none twice
        assert per_plan(down.taken) == per_plan(expected)
        assert sorted(up.taken) == sorted(expected)
        assert dispatcher.given_up == 0
    finally:
        await sqlite_store.close()


# -- restarts ---------------------------------------------------------------------------------


async def test_a_restart_neither_loses_nor_resends_alerts(
    receivers: list[Receiver], tmp_path: Path
) -> None:
    """A new store object on the same file and a new dispatcher deliver what was pending
    (refused alerts, alerts never tried, alerts to a webhook that was down) and nothing
    that was delivered."""
    path = tmp_path / "state.db"
    clock = FakeClock()
    accepting = {"open": False}
    first_plan: list[str] = []

    def answer(alert_id: str, _: int) -> int:
        return 200 if accepting["open"] or alert_id.startswith(first_plan[0]) else 503

    hook = await receiver(receivers, answer=answer)
    down = await receiver(receivers, start=False)  # never tried before the restart
    settings = settings_for(hook.url, down.url)

    before = SqliteStore(path)
    await before.open()
    alerted = await plans_with_events(before, 2)
    first_plan.append(next(iter(alerted)))
    dispatcher = AlertDispatcher(before, settings, clock)
    await dispatcher.run_once()
    await dispatcher.run_once()
    delivered = list(hook.taken)
    assert per_plan(delivered) == {first_plan[0]: [e.seq for e in alerted[first_plan[0]]]}
    await before.close()

    accepting["open"] = True
    await down.start()
    after = SqliteStore(path)
    await after.open()
    try:
        later, _ = await create(after, 1)
        [late] = await add_events(after, later.plan_id, [EventType.PLAN_FAILED])
        clock.advance(1.0)
        await drain(AlertDispatcher(after, settings, clock), after, clock)
    finally:
        await after.close()
    expected = [*alert_ids(alerted), f"{later.plan_id}:{late.seq}"]
    for webhook in (hook, down):
        assert sorted(webhook.taken) == sorted(expected)
        assert len(webhook.taken) == len(set(webhook.taken))  # nothing delivered twice
    assert hook.taken[: len(delivered)] == delivered
    await clock.aclose()


# -- secrets ----------------------------------------------------------------------------------


async def test_no_url_or_secret_reaches_a_log_record_or_the_store(
    receivers: list[Receiver], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not in the dispatcher's records, not in httpx's (which logs each request's URL), not
    in the SQLite file, and a secret inside an event is masked in the body sent."""
    refusing = await receiver(receivers, answer=lambda *_: 503)
    taking = await receiver(receivers)
    closed = await receiver(receivers, start=False)
    sqlite_store = SqliteStore(tmp_path / "state.db")
    await sqlite_store.open()
    clock = FakeClock()
    try:
        plan, _ = await create(sqlite_store, 1)
        event = make_event(plan.plan_id, EventType.TASK_FAILED, data={"said": f"t={ASBC_TOKEN}"})
        await sqlite_store.commit(Change(plan.plan_id, events=[event]))
        urls = (refusing.url, taking.url, closed.url)
        settings = settings_for(*urls, max_attempts=2)
        dispatcher = AlertDispatcher(sqlite_store, settings, clock)
        with caplog.at_level(logging.DEBUG):
            await drain(dispatcher, sqlite_store, clock)
        assert dispatcher.given_up == 2
    finally:
        await sqlite_store.close()
        await clock.aclose()
    records = caplog.records
    assert any(r.name == "httpx" for r in records)  # its request lines were there, masked
    assert sum(r.name == "switchover.alerts" and r.levelno == logging.WARNING for r in records) == 2
    for record in records:
        text = record.getMessage()
        assert TOKEN not in text
        assert ASBC_TOKEN not in text
        assert not any(url in text for url in urls)
    [(_, body)] = taking.received
    assert body["data"] == {"said": "t=***"}
    stored = file_bytes(tmp_path)
    assert TOKEN.encode() not in stored
    assert not any(url.encode() in stored for url in urls)


def test_a_webhook_is_named_in_the_store_by_a_digest_of_its_url() -> None:
    key = webhook_key(f"http://127.0.0.1:1/x?token={TOKEN}")
    assert key == webhook_key(f"http://127.0.0.1:1/x?token={TOKEN}")
    assert key != webhook_key("http://127.0.0.1:1/x?token=other")
    assert TOKEN not in key
    assert len(key) == 32


# -- running ----------------------------------------------------------------------------------


async def test_run_returns_at_once_without_webhooks(store: MemoryStore, clock: FakeClock) -> None:
    await plans_with_events(store, 1)
    dispatcher = AlertDispatcher(store, settings_for(), clock)
    async with asyncio.timeout(1):
        await dispatcher.run()
    assert await dispatcher.run_once() == 0
    assert await store.alert_counts() == {}


async def test_store_errors_are_logged_and_the_loops_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``run`` outlives a store that fails every call (here: one never opened)."""
    closed = SqliteStore(tmp_path / "state.db")
    dispatcher = AlertDispatcher(
        closed, settings_for("http://127.0.0.1:9/x"), SystemClock(), poll_interval=0.01
    )
    with caplog.at_level(logging.WARNING, logger="switchover.alerts"):
        async with asyncio.TaskGroup() as group:
            running = group.create_task(dispatcher.run())
            await wait_for(lambda: len(caplog.records) >= 4)
            assert not running.done()
            running.cancel()
    messages = [record.getMessage() for record in caplog.records]
    assert any("cannot enqueue alerts" in message for message in messages)
    assert any("cannot read alerts to webhook 1" in message for message in messages)


async def test_a_given_client_is_used_and_left_open(
    store: MemoryStore, clock: FakeClock, receivers: list[Receiver]
) -> None:
    hook = await receiver(receivers)
    await plans_with_events(store, 1)
    async with httpx.AsyncClient(headers={"User-Agent": "switchover-test"}) as client:
        dispatcher = AlertDispatcher(store, settings_for(hook.url), clock, client)
        assert await dispatcher.run_once() == 3
        assert not client.is_closed


async def test_bad_arguments_are_refused(store: MemoryStore, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        AlertDispatcher(store, settings_for(), clock, poll_interval=0)
    with pytest.raises(ValueError, match="concurrency"):
        AlertDispatcher(store, settings_for(), clock, concurrency=0)
