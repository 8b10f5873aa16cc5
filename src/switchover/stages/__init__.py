"""The stage catalogue: which stages a tenant config gets, and their steps."""

from switchover.stages.base import Stage, StageBuilder, StageRequest
from switchover.stages.catalogue import STAGE_ORDER, CatalogueStageBuilder, stage_names

__all__ = [
    "STAGE_ORDER",
    "CatalogueStageBuilder",
    "Stage",
    "StageBuilder",
    "StageRequest",
    "stage_names",
]
