"""The stage catalogue: which stages a tenant config gets, and their steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchover._lazy import lazy_exports

if TYPE_CHECKING:
    from switchover.stages.base import Stage, StageBuilder, StageRequest
    from switchover.stages.catalogue import CatalogueStageBuilder
    from switchover.stages.names import STAGE_ORDER, stage_names

_EXPORTS = {
    "Stage": "switchover.stages.base",
    "StageBuilder": "switchover.stages.base",
    "StageRequest": "switchover.stages.base",
    "STAGE_ORDER": "switchover.stages.names",
    "CatalogueStageBuilder": "switchover.stages.catalogue",
    "stage_names": "switchover.stages.names",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "STAGE_ORDER",
    "CatalogueStageBuilder",
    "Stage",
    "StageBuilder",
    "StageRequest",
    "stage_names",
]
