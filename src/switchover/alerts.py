"""Webhook alerts: events of chosen types POSTed from the store's durable outbox, with retries.

The dispatcher only reads the event log and writes the outbox, beside the engine and never in
its way: a webhook that is slow, down or refusing delays no task and fails none. Every alert
is delivered at least once to every webhook configured when its event was enqueued (or given
up after ``alerts.max_attempts`` and logged), and never again once delivered, across restarts.
A receiver deduplicates on ``alert_id`` (also sent as the ``Idempotency-Key`` header).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from switchover.clock import Clock
from switchover.errors import StoreError
from switchover.secrets import Scrubber
from switchover.settings import Settings
from switchover.stores.protocol import Alert, AlertOutbox
from switchover.views import document, event_json

__all__ = ["IDEMPOTENCY_HEADER", "AlertDispatcher", "webhook_key"]

_log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
"""The request header carrying the alert id, the same on every attempt and webhook."""

# Libraries that may log a request's URL, which is a secret here: httpx logs every request.
_LIBRARY_LOGGERS = ("httpx",)


def webhook_key(url: str) -> str:
    """The name of a webhook in the store: a digest of its URL, which never is stored itself.

    A digest, not the webhook's position in the settings, so that reordering the list or
    inserting a webhook leaves every pending alert with the webhook it was meant for.
    """
    return hashlib.sha256(url.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class _Webhook:
    number: int  # 1-based position in the settings: what a log message names it by
    key: str
    url: str


class _ScrubbingFilter(logging.Filter):
    """Masks the secrets in another library's log records (a request's URL, say)."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self._scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self._scrubber.scrub(message)
        if scrubbed is not message:
            record.msg, record.args = scrubbed, None
        return True


class AlertDispatcher:
    """Enqueues the store's new events of the configured types and delivers them to webhooks.

    Each webhook has a delivery loop of its own, so a slow one holds up no other. Within a
    webhook, the alerts of different plans are delivered concurrently (at most
    ``concurrency`` at once) and a plan's alerts one after the other, in order: a plan's
    alert is tried only once every earlier one was delivered or given up.

    An attempt is a POST of the event's JSON form plus ``alert_id`` (``"{plan_id}:{seq}"``)
    that must get a 2xx answer within ``alerts.timeout``. After a failed one the alert is due
    again after a random delay of up to ``base_delay * 2 ** (attempts - 1)``, at most
    ``max_delay`` (exponential backoff, full jitter); after ``max_attempts`` it is given up
    with a warning on the ``switchover.alerts`` logger. No URL or other secret reaches a log.

    Attributes:
        enqueued: alerts written to the outbox by this dispatcher.
        delivered: alerts delivered.
        failed_attempts: attempts that failed (given-up ones included).
        given_up: alerts given up.
    """

    def __init__(
        self,
        store: AlertOutbox,
        settings: Settings,
        clock: Clock,
        client: httpx.AsyncClient | None = None,
        *,
        poll_interval: float = 0.5,
        concurrency: int = 4,
        batch: int = 100,
        rng: random.Random | None = None,
    ) -> None:
        """Configure the dispatcher; nothing runs until ``run`` or ``run_once``.

        Args:
            store: the outbox (and event log) to read and record deliveries in.
            settings: ``settings.alerts`` says where and what; every secret of ``settings``
                is masked in log messages.
            clock: wall time for due times, and sleeping between polls.
            client: the HTTP client to POST with; None: one of the dispatcher's own, made
                for each ``run`` (or ``run_once``), which ignores proxy variables.
            poll_interval: seconds between looks at the store when there is nothing to do.
            concurrency: most attempts in flight to one webhook.
            batch: most alerts read per webhook and round.
            rng: the source of the backoff's jitter.

        Raises:
            ValueError: ``poll_interval`` is not positive, or ``concurrency`` or ``batch``
                is below 1.
        """
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}")
        if concurrency < 1 or batch < 1:
            raise ValueError(f"concurrency and batch must be at least 1: {concurrency}, {batch}")
        alerts = settings.alerts
        urls = [secret.get_secret_value() for secret in alerts.webhooks]
        hooks = {webhook_key(url): (number, url) for number, url in enumerate(urls, 1)}
        self._webhooks = tuple(_Webhook(n, key, url) for key, (n, url) in hooks.items())
        self._types = tuple(alerts.events)
        self._timeout = alerts.timeout
        self._max_attempts = alerts.max_attempts
        self._base_delay = alerts.base_delay
        self._max_delay = alerts.max_delay
        self._store = store
        self._clock = clock
        self._client = client
        self._poll_interval = poll_interval
        self._concurrency = concurrency
        self._batch = batch
        self._rng = rng or random.Random()
        # httpx writes a URL as it parsed it, which may differ from the text configured.
        self._scrubber = Scrubber([*settings.secret_values(), *map(_as_parsed, urls)])
        self.enqueued = 0
        self.delivered = 0
        self.failed_attempts = 0
        self.given_up = 0

    def __repr__(self) -> str:
        return f"AlertDispatcher(<{len(self._webhooks)} webhooks>, events={list(self._types)})"

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Enqueue and deliver until cancelled; returns at once when no webhook is configured.

        A store error (the file busy, say) is logged and tried again at the next poll.
        """
        if not self._webhooks:
            return
        async with self._session() as client, asyncio.TaskGroup() as group:
            group.create_task(self._enqueue_loop())
            for hook in self._webhooks:
                group.create_task(self._deliver_loop(client, hook))

    async def run_once(self) -> int:
        """Enqueue every new event, then make one round of deliveries to every webhook.

        Returns:
            How many alerts this round delivered.

        Raises:
            StoreError: reading or enqueueing failed (a failure to record a delivery is
                logged, and the alert is tried again later).
        """
        if not self._webhooks:
            return 0
        async with self._session() as client:
            await self._enqueue()
            due = [(hook, await self._due(hook)) for hook in self._webhooks]
            async with asyncio.TaskGroup() as group:
                rounds = [group.create_task(self._deliver(client, *found)) for found in due]
        return sum(task.result() for task in rounds)

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[httpx.AsyncClient]:
        """The client to use, and the library loggers masked, for the time of one run."""
        scrubbing = _ScrubbingFilter(self._scrubber)
        loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
        for logger in loggers:
            logger.addFilter(scrubbing)
        try:
            if self._client is not None:
                yield self._client
            else:
                async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
                    yield client
        finally:
            for logger in loggers:
                logger.removeFilter(scrubbing)

    async def _enqueue_loop(self) -> None:
        while True:
            try:
                await self._enqueue()
            except StoreError as exc:
                self._warn(f"cannot enqueue alerts, trying again: {exc}")
            await self._clock.sleep(self._poll_interval)

    async def _deliver_loop(self, client: httpx.AsyncClient, hook: _Webhook) -> None:
        while True:
            delivered = 0
            try:
                due = await self._due(hook)
            except StoreError as exc:
                self._warn(f"cannot read alerts to webhook {hook.number}, trying again: {exc}")
            else:
                delivered = await self._deliver(client, hook, due)
            if not delivered:  # after a productive round, look again at once
                await self._clock.sleep(self._poll_interval)

    async def _enqueue(self) -> None:
        keys = [hook.key for hook in self._webhooks]
        while True:
            queued = await self._store.enqueue_alerts(self._types, keys, at=self._clock.now())
            self.enqueued += queued.alerts
            if not queued.more:
                return

    # -- delivering ----------------------------------------------------------------------------

    async def _due(self, hook: _Webhook) -> list[Alert]:
        return await self._store.due_alerts(hook.key, now=self._clock.now(), limit=self._batch)

    async def _deliver(self, client: httpx.AsyncClient, hook: _Webhook, due: list[Alert]) -> int:
        """Try each plan's ``due`` alerts to ``hook``, plans concurrently; how many went."""
        queues: dict[str, list[Alert]] = {}
        for alert in due:
            queues.setdefault(alert.event.plan_id, []).append(alert)
        slots = asyncio.Semaphore(self._concurrency)
        async with asyncio.TaskGroup() as group:
            done = [
                group.create_task(self._deliver_queue(client, hook, queue, slots))
                for queue in queues.values()
            ]
        return sum(task.result() for task in done)

    async def _deliver_queue(
        self,
        client: httpx.AsyncClient,
        hook: _Webhook,
        queue: Sequence[Alert],
        slots: asyncio.Semaphore,
    ) -> int:
        """Deliver one plan's alerts in order, up to the first that fails; how many went.

        A store that cannot record an outcome ends the queue too: the alert stays pending and
        is tried again (a receiver deduplicates a second delivery by its alert id).
        """
        delivered = 0
        async with slots:
            for alert in queue:
                error = await self._attempt(client, hook, alert)
                try:
                    if error is not None:
                        await self._failed(hook, alert, error)
                        break
                    await self._store.alert_delivered(alert, at=self._clock.now())
                except StoreError as exc:
                    self._warn(f"cannot record the outcome of alert {alert.alert_id}: {exc}")
                    break
                self.delivered += 1
                delivered += 1
        return delivered

    async def _attempt(self, client: httpx.AsyncClient, hook: _Webhook, alert: Alert) -> str | None:
        """POST ``alert`` to ``hook`` once; None when it was taken, else why not (scrubbed)."""
        body: dict[str, Any] = self._scrubber.scrub_data(document(event_json(alert.event)))
        body["alert_id"] = alert.alert_id
        headers = {IDEMPOTENCY_HEADER: alert.alert_id}
        try:
            # httpx bounds each phase of a request; this bounds the whole of it.
            async with asyncio.timeout(self._timeout):
                request = client.stream(
                    "POST", hook.url, json=body, headers=headers, timeout=self._timeout
                )
                async with request as response:  # the body is never read: only the status counts
                    status = response.status_code
        except TimeoutError:
            return f"no answer within {self._timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError) as exc:
            return self._scrubber.scrub(f"{type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return None
        return f"HTTP status {status}"

    async def _failed(self, hook: _Webhook, alert: Alert, error: str) -> None:
        self.failed_attempts += 1
        attempts, now = alert.attempts + 1, self._clock.now()
        if attempts >= self._max_attempts:
            await self._store.alert_failed(alert, at=now, error=error, next_at=None)
            self.given_up += 1
            self._warn(
                f"alert {alert.alert_id} ({alert.event.type}) to webhook {hook.number} given up"
                f" after {attempts} attempts: {error}"
            )
            return
        delay = self._backoff(attempts)
        await self._store.alert_failed(alert, at=now, error=error, next_at=now + delay)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                self._scrubber.scrub(
                    f"alert {alert.alert_id} to webhook {hook.number}: attempt {attempts}"
                    f" failed ({error}); next in {delay:.3f} s"
                )
            )

    def _backoff(self, attempts: int) -> float:
        """The delay after the ``attempts``-th failure: full jitter under a capped doubling."""
        cap = min(self._max_delay, self._base_delay * 2.0 ** min(attempts - 1, 64))
        return self._rng.uniform(0.0, cap)

    def _warn(self, message: str) -> None:
        _log.warning(self._scrubber.scrub(message))


def _as_parsed(url: str) -> str | None:
    """``url`` as httpx writes it once parsed, or None when httpx cannot parse it."""
    try:
        return str(httpx.URL(url))
    except httpx.InvalidURL:
        return None
