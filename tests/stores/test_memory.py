"""MemoryStore meets the same Store contract as the durable backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from switchover.stores.memory import MemoryStore
from tests.stores.contract import StoreContract


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    """A fresh, opened MemoryStore."""
    memory = MemoryStore()
    await memory.open()
    try:
        yield memory
    finally:
        await memory.close()


class TestMemoryStoreContract(StoreContract):
    """MemoryStore meets the Store contract."""
