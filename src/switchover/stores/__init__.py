"""The Store protocol and its backends (``SqliteStore`` by default, ``MemoryStore``)."""

from switchover.stores.protocol import Change, PlanSummary, Store

__all__ = ["Change", "PlanSummary", "Store"]
