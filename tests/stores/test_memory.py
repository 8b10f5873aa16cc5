"""MemoryStore meets the same Store contract as the durable backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from msgspec.structs import replace

from switchover.domain.status import TaskStatus
from switchover.errors import StoreError
from switchover.stores.memory import MemoryStore
from switchover.stores.protocol import Change
from tests.stores.contract import StoreContract, create, make_config, make_event
from tests.stores.contract_queries import QueryContract


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


class TestMemoryStoreQueries(QueryContract):
    """MemoryStore answers the front ends' queries as every backend does."""


async def test_a_commit_carrying_other_configs_is_refused(store: MemoryStore) -> None:
    """Configs are fixed at creation; this store refuses a change that carries others, so
    tests running on it catch the mistake a durable store would silently ignore."""
    plan, tasks = await create(store, 1)
    moved = replace(tasks[0], status=TaskStatus.RUNNING, config=make_config("x", "elsewhere"))
    with pytest.raises(StoreError, match="configs"):
        await store.commit(Change(plan.plan_id, [moved], events=[make_event(plan.plan_id)]))
    assert await store.get_task(tasks[0].task_id) == tasks[0]
    assert await store.last_seq(plan.plan_id) == 1
    same = replace(tasks[0], status=TaskStatus.RUNNING, config=replace(tasks[0].config))
    await store.commit(Change(plan.plan_id, [same]))  # an equal copy is the same config
    assert await store.get_task(tasks[0].task_id) == same
