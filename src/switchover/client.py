"""The service layer over HTTP: the same views and operations, answered by ``switchover serve``.

``RemoteQueries`` and ``RemoteOperator`` have the surface of ``service.Queries`` and
``service.Operator``, so every front end works the same against a server as against its own
store. The server's JSON is read back into the same records by ``views``; its refusals
become the same errors (same ``error_type``, same message), so exit codes do not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx

from switchover import views
from switchover.bulk import BulkOutcome, Refusal, Selection
from switchover.domain.commands import (
    Accepted,
    Command,
    Retry,
    Rollback,
    command_name,
)
from switchover.domain.events import Event
from switchover.domain.records import Plan, PlanSpec, Target, TargetKind, Task
from switchover.domain.revert import Skipped
from switchover.domain.status import EXECUTING_TASK_STATUSES, TaskStatus
from switchover.errors import (
    ConflictError,
    EngineUnavailableError,
    ErrorType,
    NotFoundError,
    OperationRefusedError,
    PlanValidationError,
    SwitchoverError,
    ValidationIssue,
)
from switchover.service import (
    Done,
    PlanDetail,
    Progress,
    Result,
    TaskDetail,
    TaskProgress,
    Update,
    Watch,
    watch_for,
)
from switchover.stores.protocol import PlanSummary

PAGE = 1000
"""Tasks or events asked for per request (the server's largest page)."""


class RemoteError(SwitchoverError):
    """A refusal or failure the server reported; ``error_type`` is the server's."""

    def __init__(self, error_type: ErrorType, message: str) -> None:
        self.error_type = error_type
        super().__init__(message)


def _error(response: httpx.Response) -> SwitchoverError:
    """The error a non-2xx response stands for, as the local service would have raised it."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, Mapping):
        body = {}
    message = str(body.get("message") or f"the server answered HTTP {response.status_code}")
    kind = str(body.get("error_type") or "")
    if response.status_code == 401:
        return RemoteError(
            ErrorType.UNAUTHORIZED,
            f"{message}: set SWITCHOVER_TOKEN (or remote.token) to a token of the server",
        )
    if response.status_code == 403:
        return RemoteError(ErrorType.FORBIDDEN, message)
    issues = body.get("issues")
    if response.status_code == 422 and isinstance(issues, list) and message.startswith("plan"):
        return PlanValidationError(
            [
                ValidationIssue(i.get("tenant"), str(i.get("field")), str(i.get("message")))
                for i in issues
                if isinstance(i, Mapping)
            ]
        )
    if kind in ErrorType.__members__:
        error_type = ErrorType(kind)
        if error_type is ErrorType.CONFLICT:
            return ConflictError(message)
        if error_type is ErrorType.SERVICE_UNAVAILABLE:
            return EngineUnavailableError(message)
        return OperationRefusedError(error_type, message)
    if response.status_code >= 500:
        return EngineUnavailableError(message)
    return RemoteError(ErrorType.SYSTEM_ERROR, message)


class Connection:
    """One HTTP client of a server, with its token; errors become ours."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The JSON a request answers.

        Raises:
            SwitchoverError: the server refused (the matching error) or cannot be reached
                (``EngineUnavailableError``).
        """
        try:
            response = await self.http.request(
                method,
                path,
                params=params,  # type: ignore[arg-type]
                json=json_body,
                content=content,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise EngineUnavailableError(
                f"cannot reach the server at {self.url}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    async def stream(self, path: str, since: int) -> AsyncIterator[Event]:
        """The SSE stream of ``path`` after ``since``; reconnects with ``Last-Event-ID`` when
        the connection drops, so nothing is missed or seen twice.

        Raises:
            SwitchoverError: the server refused the stream.
        """
        last = since
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream", "Last-Event-ID": str(last)}
            try:
                async with self.http.stream("GET", path, headers=headers, timeout=None) as reply:
                    if reply.status_code >= 400:
                        await reply.aread()
                        raise _error(reply)
                    failures = 0
                    data: list[str] = []
                    async for line in reply.aiter_lines():
                        if line.startswith("data:"):
                            data.append(line[5:].strip())
                        elif line == "" and data:
                            event = views.event_from_json(json.loads("\n".join(data)))
                            data = []
                            if event.seq > last:
                                last = event.seq
                                yield event
            except httpx.HTTPError as exc:
                failures += 1
                if failures > 5:
                    raise EngineUnavailableError(
                        f"lost the event stream of {self.url}{path}: {exc}"
                    ) from exc
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))


def _plan(data: Mapping[str, Any]) -> Plan:
    return views.plan_from_json(data)


def _counts(data: Mapping[str, Any]) -> dict[TaskStatus, int]:
    return {TaskStatus(k): int(v) for k, v in data.items() if int(v)}


class RemoteQueries:
    """``service.Queries`` answered by a server."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    async def plans(self) -> list[PlanSummary]:
        """Every plan, most recent first, with its task counts."""
        found = await self._c.call("GET", "/plans")
        return [PlanSummary(_plan(p), _counts(p["counts"])) for p in found["plans"]]

    async def plan(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        tenant_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = 50,
    ) -> PlanDetail:
        """A plan with one page of its tasks (``limit`` None: every task, page by page)."""
        params: list[tuple[str, Any]] = [("status", s.value) for s in statuses or ()]
        if tenant_prefix is not None:
            params.append(("tenant_prefix", tenant_prefix))
        tasks: list[Task] = []
        while True:
            want = PAGE if limit is None else min(PAGE, limit - len(tasks))
            page = [*params, ("offset", offset + len(tasks)), ("limit", max(want, 1))]
            data = await self._c.call("GET", f"/plans/{plan_id}", params=page)
            got = [views.task_from_json(t) for t in data["tasks"]]
            tasks += got
            done = len(got) < want or (limit is not None and len(tasks) >= limit)
            if done or len(tasks) + offset >= int(data["matching"]):
                break
        counts = _counts(data["counts"])
        failures = [
            (str(f["error_type"]), f.get("stage"), int(f["count"]))
            for f in data.get("failures") or ()
        ]
        last = int(data.get("last_seq", 0))
        return PlanDetail(_plan(data), counts, tasks, data["matching"], None, last, failures)

    async def tasks(
        self,
        plan_id: str,
        *,
        statuses: Sequence[TaskStatus] | None = None,
        offset: int = 0,
        limit: int | None = 50,
    ) -> list[Task]:
        """One page of a plan's tasks in submission order (the server's plan view's page)."""
        if statuses is None:  # the plan view's unfiltered page is in attention order
            statuses = tuple(TaskStatus)
        detail = await self.plan(plan_id, statuses=statuses, offset=offset, limit=limit)
        return list(detail.tasks)

    async def task(self, target: Target) -> TaskDetail:
        """One task, by task id or by tenant (its most recent task)."""
        if target.kind is TargetKind.TASK:
            plan_id, _, tenant_id = target.key.partition("/")
            if not tenant_id:
                raise NotFoundError("task", target.key)
            data = await self._c.call("GET", f"/plans/{plan_id}/tasks/{tenant_id}")
            return TaskDetail(views.task_from_json(data), None)
        history = await self.tenant_history(target.key, limit=1)
        return TaskDetail(history[0], None)

    async def tenant_history(self, tenant_id: str, *, limit: int = 100) -> list[Task]:
        """The tenant's tasks across plans, most recent first."""
        data = await self._c.call("GET", f"/tenants/{tenant_id}", params={"limit": limit})
        return [views.task_from_json(t) for t in data["tasks"]]

    async def task_events(self, task_id: str, *, since: int = 0, limit: int = 1000) -> list[Event]:
        """The task's events after ``since``, oldest first."""
        plan_id, _, tenant_id = task_id.partition("/")
        page = await self._c.call(
            "GET",
            f"/plans/{plan_id}/tasks/{tenant_id}/events",
            params={"since": since, "limit": limit},
        )
        return [views.event_from_json(data) for data in page["events"]]

    async def require_plan(self, plan_id: str) -> Plan:
        """The plan."""
        return (await self.plan(plan_id, limit=1)).plan

    async def events(
        self, plan_id: str, since: int = 0, *, follow: bool = False, poll: float = 0.3
    ) -> AsyncIterator[Event]:
        """The plan's events after ``since``; with ``follow``, forever (over SSE)."""
        if follow:
            async for event in self._c.stream(f"/plans/{plan_id}/events", since):
                yield event
            return
        last = since
        while True:
            page = await self._c.call(
                "GET", f"/plans/{plan_id}/events", params={"since": last, "limit": PAGE}
            )
            for data in page["events"]:
                yield views.event_from_json(data)
            if len(page["events"]) < PAGE:
                return
            last = int(page["next"])


_ROUTES = {TargetKind.PLAN: "/plans/{}", TargetKind.TENANT: "/tenants/{}"}


def _operation_path(command: Command) -> str:
    target = command.target
    if target.kind is TargetKind.TASK:
        plan_id, _, tenant_id = target.key.partition("/")
        if not tenant_id:
            raise NotFoundError("task", target.key)
        base = f"/plans/{plan_id}/tasks/{tenant_id}"
    else:
        base = _ROUTES[target.kind].format(target.key)
    return f"{base}/{command_name(command)}"


class RemoteOperator:
    """``service.Operator`` answered by a server: the server's engine does the work."""

    remote = True

    def __init__(self, connection: Connection, *, poll: float = 0.2) -> None:
        self._c = connection
        self._queries = RemoteQueries(connection)
        self._poll = poll

    async def submit(
        self,
        spec: PlanSpec,
        *,
        source: bytes | None = None,
        actor: str = "cli",
        reason: str | None = None,
    ) -> Plan:
        """Submit the plan file's content (``source``); the server validates it again.

        Raises:
            PlanValidationError, ConflictError: as the local service would.
        """
        if source is None:
            raise ValueError("a plan submitted to a server needs its file's content")
        params: dict[str, Any] = {"max_concurrency": spec.max_concurrency}
        if reason:
            params["reason"] = reason
        data = await self._c.call("POST", "/plans", content=source, params=params)
        return await self._queries.require_plan(str(data["plan_id"]))

    async def request(self, command: Command) -> Accepted:
        """Perform ``command`` on the server without following it."""
        return (await self._request(command))[0]

    async def _request(self, command: Command) -> tuple[Accepted, int]:
        data = await self._c.call("POST", _operation_path(command), json_body=self._body(command))
        accepted = Accepted(str(data["plan_id"]), tuple(data["task_ids"]), str(data["message"]))
        return accepted, int(data["since"])

    async def bulk(
        self, command: Command, selection: Selection, *, wait: bool = True
    ) -> BulkOutcome:
        """``command`` for each selected task, on the server (one request)."""
        body = self._body(command)
        body["statuses"] = [s.value for s in selection.statuses]
        body["tenants"] = list(selection.tenants)
        path = f"/plans/{selection.plan_id}/selection/{command_name(command)}"
        data = await self._c.call("POST", path, json_body=body)
        accepted = tuple(
            Accepted(str(data["plan_id"]), tuple(a["task_ids"]), str(a["message"]))
            for a in data["accepted"]
        )
        refused = tuple(
            Refusal(str(r["task_id"]), str(r["error_type"]), str(r["message"]))
            for r in data["refused"]
        )
        return BulkOutcome(str(data["plan_id"]), accepted, refused, int(data["since"]))

    async def revert(
        self,
        selection: Selection,
        *,
        new_id: str | None = None,
        actor: str = "cli",
        reason: str | None = None,
        force: bool = False,
    ) -> tuple[Plan, list[Skipped]]:
        """Put the selected tasks back with a new plan, on the server."""
        body: dict[str, Any] = {
            "statuses": [s.value for s in selection.statuses],
            "tenants": list(selection.tenants),
            "plan_id": new_id,
            "reason": reason,
            "force": force,
        }
        data = await self._c.call("POST", f"/plans/{selection.plan_id}/revert", json_body=body)
        skipped = [Skipped(str(s["task_id"]), str(s["reason"])) for s in data["skipped"]]
        return await self._queries.require_plan(str(data["plan_id"])), skipped

    def _body(self, command: Command) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": command.reason}
        if isinstance(command, Retry | Rollback):
            body["from_checkpoint"] = command.from_checkpoint
            body["force"] = command.force
        if isinstance(command, Rollback) and command.version is not None:
            body["version"] = command.version
        return body

    async def perform(self, command: Command, *, wait: bool = True) -> tuple[Accepted, Watch]:
        """Perform ``command``; what it was accepted as and how to follow it (the server's
        engine outlives this command, so ``wait`` changes nothing here)."""
        accepted, since = await self._request(command)
        detail = await self._queries.plan(
            accepted.plan_id, statuses=tuple(EXECUTING_TASK_STATUSES), limit=None
        )
        executing = {t.task_id for t in detail.tasks}
        return accepted, watch_for(command, accepted, since, detail.plan, executing)

    async def follow(
        self,
        plan_id: str,
        done: Done,
        *,
        since: int = 0,
        poll: float = 0.2,
        snapshot: bool = False,
    ) -> AsyncIterator[tuple[Progress, Update]]:
        """Follow the plan's events (over SSE) until ``done``; one update per ``poll``."""
        detail = await self._queries.plan(plan_id, limit=None)
        if snapshot:  # the tasks as they are now: the stream brings what happens next
            since = max(since, detail.last_seq)
        progress = Progress(plan_id, status=detail.plan.status, last_seq=since)
        for task in detail.tasks:
            progress.track(
                task.task_id,
                TaskProgress(task.tenant_id, task.status, task.current_stage),
            )
        queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for event in self._c.stream(f"/plans/{plan_id}/events", since):
                    await queue.put(event)
            except BaseException as exc:
                await queue.put(exc)
                raise

        reader = asyncio.create_task(pump(), name=f"follow:{plan_id}")
        try:
            while True:
                fresh: list[Event] = []
                deadline = time.monotonic() + poll
                while True:
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), timeout)
                    except TimeoutError:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    if item.seq > progress.last_seq:
                        progress.apply(item)
                        fresh.append(item)
                finished = done(progress)
                yield progress, Update(fresh, [], finished)
                if finished:
                    return
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def result(self, command: Command, accepted: Accepted, watch: Watch) -> Result:
        """What the followed command came to."""
        plan = await self._queries.require_plan(accepted.plan_id)
        tasks: list[Task] = []
        if not watch.whole_plan:
            for task_id in sorted(accepted.task_ids):
                tasks.append((await self._queries.task(Target.task(task_id))).task)
        return Result(command, plan, tasks, watch.whole_plan)

    def has_other_work(self) -> bool:
        """A server's other work is the server's: never this command's to finish."""
        return False

    async def drain(self) -> None:
        """Nothing to finish here: the server's engine keeps running."""


@asynccontextmanager
async def connect(url: str, token: str | None) -> AsyncIterator[Connection]:
    """A connection to a server, closed on exit."""
    connection = Connection(url, token)
    try:
        yield connection
    finally:
        await connection.aclose()
