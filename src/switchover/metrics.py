"""Prometheus metrics of a serving engine, in a registry of its own (no process globals).

Counters come from what the engine counts (``Engine.metrics``) and from the events it commits;
task counts by plan and status are read from the store at each scrape, in one query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switchover.domain.events import Event, EventType
from switchover.domain.status import TaskStatus
from switchover.stores.protocol import PlanSummary

_ENGINE_COUNTERS = {
    "rollback_success": "Task rollbacks that ended ROLLED_BACK.",
    "rollback_failed": "Task rollbacks that ended ROLLBACK_FAILED.",
    "tasks_completed": "Forward runs that ended COMPLETED.",
    "tasks_failed": "Forward runs that ended FAILED.",
    "stages_completed": "Stages completed.",
    "step_retries": "Retries of transient I/O errors inside steps.",
    "verify_attempts": "Verify rounds against the instances of a service.",
}
"""Engine counters exposed as ``{name}_total``; the rollback ones keep the names users know."""

_STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class AlertCounts(Protocol):
    """What the alert dispatcher counts."""

    delivered: int
    failed_attempts: int
    given_up: int


class _Snapshot(Collector):
    """Collects, at each scrape, the values the server hands it just before."""

    def __init__(self, alerts: AlertCounts | None) -> None:
        self.counters: Mapping[str, int] = {}
        self.summaries: Iterable[PlanSummary] = ()
        self._alerts = alerts

    def collect(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily(
            "switchover_tasks", "Tasks by plan and status.", labels=["plan", "status"]
        )
        for summary in self.summaries:
            for status in TaskStatus:
                count = summary.counts.get(status, 0)
                tasks.add_metric([summary.plan.plan_id, status.value], count)
        yield tasks
        plans = GaugeMetricFamily("switchover_plans", "Plans by status.", labels=["status"])
        by_status = Counter(summary.plan.status.value for summary in self.summaries)
        for plan_status, count in sorted(by_status.items()):
            plans.add_metric([plan_status], count)
        yield plans
        for name, help_text in _ENGINE_COUNTERS.items():
            family = name if name.startswith("rollback_") else f"switchover_{name}"
            yield CounterMetricFamily(family, help_text, value=self.counters.get(name, 0))
        if self._alerts is not None:
            alerts = CounterMetricFamily(
                "switchover_alerts", "Webhook alerts by outcome.", labels=["outcome"]
            )
            alerts.add_metric(["delivered"], self._alerts.delivered)
            alerts.add_metric(["failed_attempt"], self._alerts.failed_attempts)
            alerts.add_metric(["given_up"], self._alerts.given_up)
            yield alerts


class Metrics:
    """The metrics of one server: feed it committed events and commit latencies; render."""

    def __init__(self, alerts: AlertCounts | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._snapshot = _Snapshot(alerts)
        self.registry.register(self._snapshot)
        self._stage_seconds = Histogram(
            "switchover_stage_duration_seconds",
            "Seconds from a stage's start to its end, by stage, mode and outcome.",
            ["stage", "mode", "outcome"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self._commit_seconds = Histogram(
            "switchover_store_commit_seconds",
            "Seconds from queueing a change to its durable commit.",
            buckets=_COMMIT_BUCKETS,
            registry=self.registry,
        )
        self._started: dict[str, tuple[str, str, float]] = {}
        self._stage_children: dict[tuple[str, str, str], Any] = {}

    def observe_commit(self, seconds: float) -> None:
        """One store commit's latency."""
        self._commit_seconds.observe(seconds)

    def observe(self, events: list[Event]) -> None:
        """Committed events: stage starts and ends make the stage-duration histogram."""
        for event in events:
            task_id = event.task_id
            if task_id is None:
                continue
            if event.type is EventType.STAGE_STARTED and event.stage is not None:
                rolling = event.status == TaskStatus.ROLLING_BACK.value
                self._started[task_id] = (
                    event.stage,
                    "rollback" if rolling else "normal",
                    event.at,
                )
            elif event.type in (EventType.STAGE_COMPLETED, EventType.STAGE_FAILED):
                started = self._started.pop(task_id, None)
                if started is not None and started[0] == event.stage:
                    outcome = "completed" if event.type is EventType.STAGE_COMPLETED else "failed"
                    seconds = max(0.0, event.at - started[2])
                    key = (started[0], started[1], outcome)
                    child = self._stage_children.get(key)
                    if child is None:
                        child = self._stage_children[key] = self._stage_seconds.labels(*key)
                    child.observe(seconds)
            elif event.status not in (TaskStatus.RUNNING.value, TaskStatus.ROLLING_BACK.value):
                self._started.pop(task_id, None)

    def render(self, counters: Mapping[str, int], summaries: Iterable[PlanSummary]) -> bytes:
        """The text exposition, with the engine's counters and the plans' task counts."""
        self._snapshot.counters = dict(counters)
        self._snapshot.summaries = list(summaries)
        try:
            return generate_latest(self.registry)
        finally:
            self._snapshot.summaries = ()
