"""StaticDiscovery: instances from settings, a clear error when none are configured."""

from __future__ import annotations

import pytest

from switchover.discovery import DiscoveryQuery, StaticDiscovery
from switchover.errors import ErrorType, StepFailedError
from switchover.settings import DiscoverySettings, Settings


def static(**instances: list[str]) -> StaticDiscovery:
    return StaticDiscovery(Settings(discovery=DiscoverySettings(fallback_instances=instances)))


async def test_configured_instances_are_returned_in_order_without_duplicates() -> None:
    discovery = static(obService=["127.0.0.1:9001", " 127.0.0.1:9002 ", "127.0.0.1:9001", ""])
    found = await discovery.instances(DiscoveryQuery("obService", "ns-1"))
    assert found == ["127.0.0.1:9001", "127.0.0.1:9002"]


async def test_missing_service_key_fails_naming_the_key() -> None:
    discovery = static(obService=["127.0.0.1:9001"])
    with pytest.raises(StepFailedError) as info:
        await discovery.instances(DiscoveryQuery("portalService"))
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE
    assert "portalService" in str(info.value)
    assert "none are configured" in str(info.value)


async def test_empty_list_fails_like_a_missing_one() -> None:
    with pytest.raises(StepFailedError, match="asbcService"):
        await static(asbcService=[]).instances(DiscoveryQuery("asbcService"))


def test_configured_never_raises() -> None:
    assert static().configured("obService") == []
