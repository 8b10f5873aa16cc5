"""The service's surface: what a front end reads (``Views``) and asks (``Operations``),
answered on a store or, with the same types, by a server (``client``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Protocol

from switchover.domain.commands import DEFAULT_ACTOR

if TYPE_CHECKING:
    from switchover.bulk import BulkOutcome, Selection
    from switchover.domain.commands import Accepted, Command
    from switchover.domain.events import Event
    from switchover.domain.records import Plan, PlanSpec, Target, Task
    from switchover.domain.revert import Skipped
    from switchover.domain.status import TaskStatus
    from switchover.service.progress import Done, Progress, Result, Update, Watch
    from switchover.service.views import PlanDetail, TaskDetail
    from switchover.stores.protocol import PlanSummary


class Views(Protocol):
    """What a front end reads: ``Queries`` on a store, or ``client.RemoteQueries``."""

    async def plans(self) -> list[PlanSummary]: ...

    async def plan(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        tenant_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = 50,
    ) -> PlanDetail: ...

    async def tasks(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        offset: int = 0,
        limit: int | None = 50,
    ) -> list[Task]: ...

    async def task(self, target: Target) -> TaskDetail: ...

    async def tenant_history(self, tenant_id: str, *, limit: int = 100) -> list[Task]: ...

    async def task_events(
        self, task_id: str, *, since: int = 0, limit: int = 1000
    ) -> list[Event]: ...

    async def require_plan(self, plan_id: str) -> Plan: ...

    def events(
        self, plan_id: str, since: int = 0, *, follow: bool = False, poll: float = 0.3
    ) -> AsyncIterator[Event]: ...


class Operations(Protocol):
    """What a front end asks: ``Operator`` on a store, or ``client.RemoteOperator``."""

    @property
    def remote(self) -> bool: ...

    async def submit(
        self,
        spec: PlanSpec,
        *,
        source: bytes | None = None,
        actor: str = DEFAULT_ACTOR,
        reason: str | None = None,
    ) -> Plan: ...

    async def request(self, command: Command) -> Accepted: ...

    async def perform(self, command: Command, *, wait: bool = True) -> tuple[Accepted, Watch]: ...

    def follow(
        self,
        plan_id: str,
        done: Done,
        *,
        since: int = 0,
        poll: float = 0.2,
        snapshot: bool = False,
    ) -> AsyncIterator[tuple[Progress, Update]]: ...

    async def result(self, command: Command, accepted: Accepted, watch: Watch) -> Result: ...

    async def bulk(
        self, command: Command, selection: Selection, *, wait: bool = True
    ) -> BulkOutcome: ...

    async def revert(
        self,
        selection: Selection,
        *,
        new_id: str | None = None,
        actor: str = DEFAULT_ACTOR,
        reason: str | None = None,
        force: bool = False,
    ) -> tuple[Plan, list[Skipped]]: ...

    def has_other_work(self) -> bool: ...

    async def drain(self) -> None: ...
