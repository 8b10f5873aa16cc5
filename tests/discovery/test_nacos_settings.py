"""The ``nacos.api`` and ``nacos.clusters`` settings: defaults, sources, and refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from switchover.errors import SettingsError
from switchover.settings import NacosSettings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SWITCHOVER_* variable of the calling shell leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("SWITCHOVER_"):
            monkeypatch.delenv(name)


def test_by_default_the_api_is_found_per_server_and_every_cluster_is_used() -> None:
    assert NacosSettings().api == "auto"
    assert NacosSettings().clusters == []


def test_an_existing_nacos_section_without_the_new_keys_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("nacos: {enabled: true, server_addr: '10.0.0.1:8848'}\n", encoding="utf-8")
    assert load_settings(path).nacos.api == "auto"


def test_api_and_clusters_come_from_the_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("nacos: {api: v1, clusters: [EDGE]}\n", encoding="utf-8")
    loaded = load_settings(path)
    assert (loaded.nacos.api, loaded.nacos.clusters) == ("v1", ["EDGE"])
    monkeypatch.setenv("SWITCHOVER_NACOS__API", "v3")
    assert load_settings(path).nacos.api == "v3"


@pytest.mark.parametrize("value", ["v4", "V3", "", "latest"])
def test_an_unknown_api_is_refused_in_one_line_naming_the_field(value: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(nacos={"api": value})
    message = str(info.value)
    assert "\n" not in message
    assert "nacos.api: must be one of 'auto', 'v3', 'v2', 'v1' (got " in message
