"""Test doubles for steps: a fake clock, journal and discovery, and context builders."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from switchover.discovery.protocol import DiscoveryQuery
from switchover.domain.config import NetworkEndpoint, TenantConfig
from switchover.domain.status import ExecutionMode
from switchover.settings import RetrySettings, Settings
from switchover.steps.protocol import StepContext
from switchover.steps.retry import backoff_delay

EPOCH = 1_700_000_000.0
"""Wall time at which every FakeClock starts."""


class FakeClock:
    """A clock whose ``sleep`` only advances time (and yields once to the loop)."""

    def __init__(self, start: float = EPOCH) -> None:
        self._start = start
        self._elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._start + self._elapsed

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._elapsed += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without anyone sleeping."""
        self._elapsed += seconds


@dataclass
class FakeJournal:
    """Collects the warnings a step leaves."""

    warnings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def warn(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        self.warnings.append((message, dict(details or {})))


@dataclass
class FakeDiscovery:
    """Fixed instances per service key; records every query."""

    services: dict[str, list[str]] = field(default_factory=dict)
    queries: list[DiscoveryQuery] = field(default_factory=list)

    async def instances(self, query: DiscoveryQuery) -> list[str]:
        self.queries.append(query)
        return list(self.services.get(query.service_key, []))


def make_config(**overrides: Any) -> TenantConfig:
    """A tenant config with every stage's fields set (loopback-only data)."""
    values: dict[str, Any] = {
        "tenant_id": "t-1",
        "plan_id": "p-1",
        "plan_version": 20,
        "deploy_unit_id": 7,
        "deploy_unit_version": 3,
        "deploy_unit_name": "green",
        "network_endpoints": (
            NetworkEndpoint(key="r1", source_ip="127.0.0.11", target_domain="green.example.test"),
        ),
        "nacos_namespace": "ns-1",
        "called_number_rules": ("1001", "1002"),
        "trunk_group": "tg-green",
    }
    values.update(overrides)
    return TenantConfig(**values)


FAST_RETRY = RetrySettings(attempts=3, base_delay=0.5, multiplier=2.0, max_delay=8.0)


def is_backoff(sleeps: Sequence[float], policy: RetrySettings | None = None) -> bool:
    """Whether ``sleeps`` are the jittered pauses of ``policy``'s first retries, in order.

    The pause before retry ``n`` lies between ``(1 - jitter)`` and 1 times the nominal
    ``backoff_delay(policy, n)`` (the defaults: 0.5 s, 1 s, 2 s, … at half jitter).
    """
    policy = policy or RetrySettings()
    nominal = [backoff_delay(policy, n) for n in range(len(sleeps))]
    slack = 1e-9  # the two shares of a pause are computed apart
    return all(
        (1 - policy.jitter) * d - slack <= pause <= d + slack
        for pause, d in zip(sleeps, nominal, strict=True)
    )


def make_ctx(
    *,
    settings: Settings | None = None,
    mode: ExecutionMode = ExecutionMode.NORMAL,
    config: TenantConfig | None = None,
    source: TenantConfig | None = None,
    version: int | None = None,
    discovery: Any = None,
    clock: FakeClock | None = None,
    journal: FakeJournal | None = None,
    stage: str = "blue-green-gateway",
    instances: Mapping[str, Sequence[str]] | None = None,
) -> StepContext:
    """A StepContext over fakes; ``instances`` feeds a FakeDiscovery when none is given."""
    config = config or make_config()
    if discovery is None:
        discovery = FakeDiscovery({k: list(v) for k, v in (instances or {}).items()})
    return StepContext(
        plan_id=config.plan_id,
        task_id="task-1",
        tenant_id=config.tenant_id,
        stage=stage,
        mode=mode,
        config=config,
        source=source,
        version=config.plan_version if version is None else version,
        settings=settings or Settings(),
        clock=clock or FakeClock(),
        discovery=discovery,
        journal=journal or FakeJournal(),
    )


def always_ready(tenant_id: str, plan_id: str) -> bool:
    """A judge_agent that is always satisfied (importable by path in tests)."""
    return True


NOT_CALLABLE = 42
"""Something importable that is not a judge_agent."""
