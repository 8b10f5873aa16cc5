"""The HTTP API: routes over the service layer, with nothing of their own to decide.

Every route but the health checks needs a bearer token; reads need a viewer's, submissions
and operations an operator's. Refusals carry the same one-line message the CLI prints, with
``error_type`` (see ``errors.ErrorType``), as 404 / 409 / 422; a plan that does not validate
lists every problem (tenant, field, message).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from switchover.api.auth import Caller, Role, TokenBook
from switchover.api.dashboard import mount_dashboard
from switchover.bulk import MAX_SELECTED, Selection
from switchover.domain.commands import Cancel, Command, Pause, Promote, Resume, Retry, Rollback
from switchover.domain.documents import MAX_PLAN_SIZE
from switchover.domain.events import Event
from switchover.domain.planfile import parse_plan_bytes
from switchover.domain.records import PlanSpec, Target
from switchover.domain.status import TaskStatus
from switchover.errors import (
    ConflictError,
    EngineUnavailableError,
    ErrorType,
    NotFoundError,
    OperationRefusedError,
    PlanValidationError,
    SwitchoverError,
)
from switchover.secrets import Scrubber
from switchover.service import Operator, Queries
from switchover.settings import Settings
from switchover.views import (
    SCHEMA,
    accepted_json,
    bulk_json,
    document,
    event_json,
    events_page_json,
    history_json,
    plan_detail_json,
    plans_json,
    revert_json,
    task_json,
)

PLAN_ID = r"^[A-Za-z0-9_.-]{1,64}$"
TENANT_ID = r"^[A-Za-z0-9_-]{1,64}$"
MAX_PAGE = 1000
"""The most tasks or events one page returns."""
_SSE_BATCH = 1000
"""The most events one chunk of a stream carries."""


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the routes work with: the service layer, the tokens, and the server's probes."""

    settings: Settings
    queries: Queries
    operator: Operator
    tokens: TokenBook
    ready: Callable[[], Awaitable[Mapping[str, bool]]]
    metrics: Callable[[], Awaitable[bytes]] | None = None
    poll: float = 0.2
    """Seconds between reads of the event log while streaming."""
    keepalive: float = 15.0
    """Seconds of silence after which a stream sends a comment line."""


class Action(StrEnum):
    """The operations the API performs."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    RETRY = "retry"
    ROLLBACK = "rollback"
    PROMOTE = "promote"


class OperationBody(BaseModel):
    """Options of an operation; every field may be left out."""

    reason: str | None = Field(None, max_length=500, description="recorded with the operation")
    from_checkpoint: bool = Field(False, description="retry/rollback: from the checkpoint")
    version: int | None = Field(
        None, ge=0, le=2**63 - 1, description="rollback: write this version instead"
    )
    force: bool = Field(
        False, description="retry/rollback: even when superseded by a newer task, or drifted"
    )


class SelectionBody(BaseModel):
    """Which of a plan's tasks: those with one of ``statuses``, or those of ``tenants``."""

    statuses: list[TaskStatus] = Field(default_factory=list, max_length=len(TaskStatus))
    tenants: list[Annotated[str, Field(pattern=TENANT_ID)]] = Field(
        default_factory=list, max_length=MAX_SELECTED
    )

    def selection(self, plan_id: str) -> Selection:
        """The selection of the plan's tasks this body names.

        Raises:
            OperationRefusedError: it names both statuses and tenants, or neither.
        """
        if bool(self.statuses) == bool(self.tenants):
            raise OperationRefusedError(
                ErrorType.VALIDATION_ERROR, "select by statuses or by tenants (one of them)"
            )
        return Selection(plan_id, tuple(self.statuses), tuple(self.tenants))


class BulkBody(OperationBody, SelectionBody):
    """A bulk operation: the selected tasks (by status, or by tenant) and the options."""


class RevertBody(SelectionBody):
    """Which tasks to put back (by status, or by tenant), and the new plan's id."""

    plan_id: Annotated[str, Field(pattern=PLAN_ID)] | None = None
    reason: str | None = Field(None, max_length=500)
    force: bool = False


_STATUS_FOR: dict[ErrorType, int] = {
    ErrorType.NOT_FOUND: 404,
    ErrorType.CONFLICT: 409,
    ErrorType.TENANT_BUSY: 409,
    ErrorType.INVALID_STATE: 409,
    ErrorType.ROLLBACK_PRECONDITION_FAILED: 409,
    ErrorType.VALIDATION_ERROR: 422,
    ErrorType.SERVICE_UNAVAILABLE: 503,
}


def _problem(status: int, error_type: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(document({"error_type": error_type, "message": message, **extra}), status)


def _command(action: Action, target: Target, body: OperationBody, actor: str) -> Command:
    common: dict[str, Any] = {"target": target, "actor": actor, "reason": body.reason}
    match action:
        case Action.PAUSE:
            return Pause(**common)
        case Action.RESUME:
            return Resume(**common)
        case Action.CANCEL:
            return Cancel(**common)
        case Action.RETRY:
            return Retry(**common, from_checkpoint=body.from_checkpoint, force=body.force)
        case Action.PROMOTE:
            return Promote(**common)
        case Action.ROLLBACK:
            return Rollback(
                **common,
                version=body.version,
                from_checkpoint=body.from_checkpoint,
                force=body.force,
            )


_bearer = HTTPBearer(auto_error=False, description="a token of serve.tokens")


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    tokens: TokenBook = request.app.state.ctx.tokens
    found = tokens.identify(credentials.credentials) if credentials else None
    if found is None:
        raise StarletteHTTPException(401, "a valid bearer token is required")
    return found


def _operator(who: Annotated[Caller, Depends(_caller)]) -> Caller:
    if who.role < Role.OPERATOR:
        raise StarletteHTTPException(403, f"token {who.name!r} is a viewer's: it may only read")
    return who


Viewer = Annotated[Caller, Depends(_caller)]
"""Any valid token."""
Operating = Annotated[Caller, Depends(_operator)]
"""An operator's token."""
PlanId = Annotated[str, Path(pattern=PLAN_ID)]
TenantId = Annotated[str, Path(pattern=TENANT_ID)]


def create_app(ctx: ApiContext) -> FastAPI:
    """The API over ``ctx``."""
    app = FastAPI(
        title="switchover",
        summary="Switch tenants between deployment units, safely, and back.",
        description=(
            f"Every JSON answer (and every event of a stream) is a document whose `schema` is "
            f"`{SCHEMA}`: within it fields are only added. Times are RFC 3339 in UTC with "
            "milliseconds (`2026-12-01T13:42:14.123Z`); durations are seconds. The shapes "
            "are described in docs/json.md."
        ),
        version="1",
    )
    scrubber = Scrubber(ctx.settings.secret_values())
    app.state.ctx = ctx
    mount_dashboard(app)

    @app.exception_handler(SwitchoverError)
    async def _refused(request: Request, exc: SwitchoverError) -> JSONResponse:
        message = scrubber.scrub(str(exc))
        if isinstance(exc, PlanValidationError):
            issues = [
                {"tenant": i.tenant, "field": i.field, "message": scrubber.scrub(i.message)}
                for i in exc.issues
            ]
            return _problem(422, exc.error_type.value, message.splitlines()[0], issues=issues)
        if isinstance(exc, ConflictError):
            return _problem(409, exc.error_type.value, message)
        if isinstance(exc, NotFoundError):
            return _problem(404, exc.error_type.value, message)
        status = 503 if isinstance(exc, EngineUnavailableError) else None
        return _problem(status or _STATUS_FOR.get(exc.error_type, 500), exc.error_type, message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            {
                "field": ".".join(str(part) for part in error.get("loc", ())),
                "message": str(error.get("msg", "")),
            }
            for error in exc.errors()
        ]
        head = "; ".join(f"{i['field']}: {i['message']}" for i in issues[:3])
        return _problem(422, ErrorType.VALIDATION_ERROR.value, head, issues=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "NOT_ALLOWED"}
        response = _problem(exc.status_code, kinds.get(exc.status_code, "HTTP"), str(exc.detail))
        if exc.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    # ------------------------------------------------------------------------- health

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Alive: the process answers. Needs no token."""
        return document({"status": "ok"})

    @app.get("/readyz", tags=["health"], responses={503: {"description": "not ready"}})
    async def readyz() -> JSONResponse:
        """Ready: the store and Redis answer. Needs no token."""
        checks = dict(await ctx.ready())
        ok = all(checks.values())
        return JSONResponse(document({"ready": ok, "checks": checks}), 200 if ok else 503)

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def metrics(who: Viewer) -> Response:
        """Prometheus metrics (text format)."""
        if ctx.metrics is None:
            raise StarletteHTTPException(404, "metrics are not collected by this server")
        return Response(await ctx.metrics(), media_type="text/plain; version=0.0.4")

    @app.get("/whoami", tags=["health"])
    async def whoami(who: Viewer) -> dict[str, str]:
        """The caller's token name (the actor recorded for what it does) and role."""
        return document({"name": who.name, "role": who.role.name.lower()})

    # ------------------------------------------------------------------------- plans

    @app.get("/plans", tags=["plans"], response_description="the plans document")
    async def list_plans(who: Viewer) -> dict[str, Any]:
        """Every plan, most recent first, with its task counts (``plans``)."""
        return document(plans_json(await ctx.queries.plans()))

    @app.post(
        "/plans",
        tags=["plans"],
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "a plan file: YAML or JSON, either accepted shape",
                "content": {
                    "application/yaml": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            }
        },
    )
    async def submit_plan(
        request: Request,
        who: Operating,
        reason: Annotated[str | None, Query(max_length=500)] = None,
        max_concurrency: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    ) -> dict[str, Any]:
        """Submit a plan and start it. 422 lists every problem; 409 when the id exists.

        ``max_concurrency`` overrides the plan's."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_PLAN_SIZE:
                raise StarletteHTTPException(413, f"a plan is at most {MAX_PLAN_SIZE} bytes")
        # Parsing 10,000 tenants takes a second: off the event loop, so that running stages,
        # streams and the lease renewal go on meanwhile.
        spec = await asyncio.to_thread(
            parse_plan_bytes,
            bytes(body),
            default_max_concurrency=ctx.settings.engine.max_concurrency,
        )
        if max_concurrency is not None:
            spec = PlanSpec(spec.plan_id, spec.version, max_concurrency, spec.tenants)
        plan = await ctx.operator.submit(spec, actor=who.name, reason=reason)
        return document({"plan_id": plan.plan_id, "status": plan.status.value, "since": 0})

    @app.get("/plans/{plan_id}", tags=["plans"], response_description="the plan document")
    async def get_plan(
        plan_id: PlanId,
        who: Viewer,
        status: Annotated[list[TaskStatus] | None, Query()] = None,
        tenant_prefix: Annotated[str | None, Query(max_length=64)] = None,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> dict[str, Any]:
        """A plan: counts by status, and one page of its tasks (filtered by status, prefix)."""
        detail = await ctx.queries.plan(
            plan_id, statuses=status, tenant_prefix=tenant_prefix, offset=offset, limit=limit
        )
        return document(plan_detail_json(detail, offset=offset, limit=limit))

    @app.get(
        "/plans/{plan_id}/events",
        tags=["events"],
        responses={200: {"content": {"text/event-stream": {}}}},
        response_description="the events document, or a stream of event documents",
    )
    async def plan_events(
        request: Request,
        plan_id: PlanId,
        who: Viewer,
        since: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
        last_event_id: Annotated[str | None, Header(max_length=24)] = None,
        accept: Annotated[str | None, Header()] = None,
    ) -> Any:
        """The plan's events after ``since``: a JSON page, or (``Accept: text/event-stream``)
        a live stream whose SSE ids are the plan's gapless ``seq`` (resume with
        ``Last-Event-ID``)."""
        start = since
        if last_event_id is not None and last_event_id.strip().isdigit():
            start = max(start, int(last_event_id.strip()))
        if accept is not None and "text/event-stream" in accept:
            await ctx.queries.require_plan(plan_id)  # a missing plan is a 404, not a stream
            stream = ctx.queries.events(plan_id, start, follow=True, poll=ctx.poll)
            return StreamingResponse(
                _sse(stream, ctx.keepalive),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            )
        events: list[Event] = []
        async for event in ctx.queries.events(plan_id, start):
            events.append(event)
            if len(events) >= limit:
                break
        return document(events_page_json(plan_id, start, events))

    # ------------------------------------------------------------------------- tasks

    @app.get(
        "/plans/{plan_id}/tasks/{tenant_id}",
        tags=["tasks"],
        response_description="the task document",
    )
    async def get_task(plan_id: PlanId, tenant_id: TenantId, who: Viewer) -> dict[str, Any]:
        """One task: stages, checkpoint, failure with per-instance detail."""
        detail = await ctx.queries.task(Target.task(f"{plan_id}/{tenant_id}"))
        return document(task_json(detail.task))

    @app.get("/plans/{plan_id}/tasks/{tenant_id}/events", tags=["tasks", "events"])
    async def task_events(
        plan_id: PlanId,
        tenant_id: TenantId,
        who: Viewer,
        since: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    ) -> dict[str, Any]:
        """One task's events after ``since``, oldest first: its stage timeline, history and
        audit trail."""
        task_id = f"{plan_id}/{tenant_id}"
        events = await ctx.queries.task_events(task_id, since=since, limit=limit)
        last = events[-1].seq if events else since
        return document(
            {
                "task_id": task_id,
                "since": since,
                "events": [event_json(e) for e in events],
                "next": last,
            }
        )

    @app.get("/tenants/{tenant_id}", tags=["tasks"], response_description="the history document")
    async def tenant_history(
        tenant_id: TenantId,
        who: Viewer,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        """The tenant's tasks across plans, most recent first."""
        tasks = await ctx.queries.tenant_history(tenant_id, limit=limit)
        return document(history_json(tenant_id, tasks))

    # ------------------------------------------------------------------------- operations

    async def perform(
        target: Target, action: Action, body: OperationBody | None, who: Caller
    ) -> dict[str, Any]:
        command = _command(action, target, body or OperationBody(), who.name)
        accepted, watch = await ctx.operator.perform(command, wait=False)
        return document(accepted_json(accepted, watch.since))

    responses: dict[int | str, dict[str, Any]] = {
        404: {"description": "no such plan, tenant or task"},
        409: {"description": "refused in the current state; nothing changed"},
    }

    @app.post("/plans/{plan_id}/revert", tags=["operations"], status_code=201, responses=responses)
    async def revert_plan(plan_id: PlanId, who: Operating, body: RevertBody) -> dict[str, Any]:
        """Put COMPLETED / CANCELLED tasks back: a new plan whose configs are their previous
        ones, run forward through the same stages (the original plan is left as it is)."""
        plan, skipped = await ctx.operator.revert(
            body.selection(plan_id),
            new_id=body.plan_id,
            actor=who.name,
            reason=body.reason,
            force=body.force,
        )
        return document(revert_json(plan, plan_id, skipped))

    @app.post(
        "/plans/{plan_id}/{action}", tags=["operations"], status_code=202, responses=responses
    )
    async def operate_plan(
        plan_id: PlanId, action: Action, who: Operating, body: OperationBody | None = None
    ) -> dict[str, Any]:
        """Pause, resume or cancel a plan (retry and rollback take a tenant or task)."""
        return await perform(Target.plan(plan_id), action, body, who)

    @app.post(
        "/plans/{plan_id}/selection/{action}",
        tags=["operations"],
        status_code=202,
        responses=responses,
    )
    async def operate_selection(
        plan_id: PlanId, action: Action, who: Operating, body: BulkBody
    ) -> dict[str, Any]:
        """An operation on each selected task of the plan, on its own: the tasks with one of
        ``statuses``, or those of ``tenants``. Each outcome is listed (accepted or refused)."""
        selection = body.selection(plan_id)
        if action is Action.PROMOTE:
            raise OperationRefusedError(
                ErrorType.VALIDATION_ERROR, "promote takes the plan, not a selection"
            )
        template = _command(action, Target.plan(plan_id), body, who.name)
        outcome = await ctx.operator.bulk(template, selection, wait=False)
        return document(bulk_json(outcome))

    @app.post(
        "/tenants/{tenant_id}/{action}", tags=["operations"], status_code=202, responses=responses
    )
    async def operate_tenant(
        tenant_id: TenantId, action: Action, who: Operating, body: OperationBody | None = None
    ) -> dict[str, Any]:
        """An operation on the tenant's most recent task."""
        return await perform(Target.tenant(tenant_id), action, body, who)

    @app.post(
        "/plans/{plan_id}/tasks/{tenant_id}/{action}",
        tags=["operations"],
        status_code=202,
        responses=responses,
    )
    async def operate_task(
        plan_id: PlanId,
        tenant_id: TenantId,
        action: Action,
        who: Operating,
        body: OperationBody | None = None,
    ) -> dict[str, Any]:
        """An operation on one task."""
        target = Target.task(f"{plan_id}/{tenant_id}")
        return await perform(target, action, body, who)

    return app


async def _sse(stream: AsyncIterator[Event], keepalive: float) -> AsyncIterator[str]:
    """The events as SSE frames (``id`` = seq, ``event`` = type, ``data`` = JSON), with a
    comment line every ``keepalive`` seconds of silence so proxies keep the stream open."""
    queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=10_000)

    async def pump() -> None:
        try:
            async for event in stream:
                await queue.put(event)
        finally:
            await queue.put(None)

    reader = asyncio.create_task(pump(), name="sse-pump")
    try:
        yield "retry: 1000\n\n"
        while True:
            try:
                first = await asyncio.wait_for(queue.get(), keepalive)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            # Whatever else is waiting goes in the same chunk: one write for many events.
            batch = [first]
            while len(batch) < _SSE_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            frames = []
            for event in batch:
                if event is None:
                    break
                data = json.dumps(document(event_json(event)), separators=(",", ":"))
                frames.append(f"id: {event.seq}\nevent: {event.type.value}\ndata: {data}\n\n")
            if frames:
                yield "".join(frames)
            if batch[-1] is None or len(frames) < len(batch):
                if reader.done() and reader.exception() is not None:
                    raise reader.exception()  # type: ignore[misc]
                return
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
