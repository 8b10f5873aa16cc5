"""Structured logs (structlog over the standard ``logging``): JSON lines when the output is not
a terminal, readable lines when it is. Every record passes a scrubber, so no configured secret
reaches the log; records about work carry ``plan_id``, ``task_id`` and ``tenant_id``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from switchover.domain.events import Event, EventType
from switchover.secrets import Scrubber

LOGGER = "switchover"

LOGGED_EVENTS = frozenset(
    {
        EventType.PLAN_CREATED,
        EventType.PLAN_PAUSED,
        EventType.PLAN_RESUMED,
        EventType.PLAN_COMPLETED,
        EventType.PLAN_FAILED,
        EventType.PLAN_CANCELLED,
        EventType.OPERATION_ACCEPTED,
        EventType.TASK_FAILED,
        EventType.TASK_CANCELLED,
        EventType.TASK_PAUSED,
        EventType.TASK_ROLLING_BACK,
        EventType.TASK_ROLLED_BACK,
        EventType.TASK_ROLLBACK_FAILED,
        EventType.STEP_WARNING,
    }
)
"""Events worth a log line; every other event is in the store's event log."""

_WARNINGS = frozenset(
    {EventType.TASK_FAILED, EventType.TASK_ROLLBACK_FAILED, EventType.PLAN_FAILED}
)


def _scrubbing(scrubber: Scrubber) -> Any:
    def scrub(_: Any, __: str, record: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in record.items():
            if isinstance(value, str):
                record[key] = scrubber.scrub(value)
        return record

    return scrub


def configure(
    scrubber: Scrubber, *, as_json: bool | None = None, stream: TextIO | None = None
) -> structlog.stdlib.BoundLogger:
    """Send the ``switchover`` loggers (and uvicorn's) through structlog; the logger to use.

    Args:
        scrubber: removes every configured secret from each record's values.
        as_json: JSON lines; default: when ``stream`` is not a terminal.
        stream: where records go (default: standard error).
    """
    out = stream or sys.stderr
    json_lines = not out.isatty() if as_json is None else as_json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _scrubbing(scrubber),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    for name in (LOGGER, "uvicorn", "uvicorn.error"):
        std = logging.getLogger(name)
        std.handlers[:] = [handler]
        std.setLevel(logging.INFO)
        std.propagate = False
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(LOGGER)
    return logger


def log_events(log: structlog.stdlib.BoundLogger, events: list[Event]) -> None:
    """One record per notable committed event, with its ids, cause and failure."""
    for event in events:
        if event.type not in LOGGED_EVENTS:
            continue
        fields: dict[str, Any] = {
            "plan_id": event.plan_id,
            "seq": event.seq,
            "triggered_by": event.triggered_by.value,
        }
        if event.task_id is not None:
            fields["task_id"] = event.task_id
            fields["tenant_id"] = event.tenant_id
        if event.status:
            fields["status"] = event.status
        if event.stage:
            fields["stage"] = event.stage
        for key in ("actor", "reason", "operation", "target", "message"):
            value = event.data.get(key)
            if value is not None:
                fields[key] = str(value)
        if event.failure is not None:
            fields["error_type"] = event.failure.error_type.value
            fields["error"] = event.failure.message
        level = logging.WARNING if event.type in _WARNINGS else logging.INFO
        log.log(level, event.type.value, **fields)
