"""The store-backed StepJournal handed to steps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

WarnSink = Callable[[str, Mapping[str, Any]], Awaitable[None]]


class TaskJournal:
    """Records a step's warnings as ``StepWarning`` events of its task."""

    def __init__(self, sink: WarnSink) -> None:
        self._sink = sink

    async def warn(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        """Record a warning event, durably, before returning."""
        await self._sink(message, dict(details or {}))
