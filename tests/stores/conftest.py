"""Store tests: the shared contract suite gets pytest's assertion messages."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.stores.contract", "tests.stores.contract_queries")
