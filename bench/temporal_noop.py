"""The Temporal side of ``bench.temporal_compare``: a workflow of three no-op activities.

Kept apart, with nothing but temporalio imported, because the workflow sandbox re-imports the
module that defines a workflow.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

STAGE_NAMES = ("alpha", "beta", "gamma")


@activity.defn
async def noop_stage(stage: str) -> None:
    """An activity that does nothing."""
    return


@workflow.defn
class NoopTask:
    """One tenant's task: three stages, each one activity, in order."""

    @workflow.run
    async def run(self, tenant_id: str) -> None:
        for stage in STAGE_NAMES:
            await workflow.execute_activity(
                noop_stage, stage, start_to_close_timeout=timedelta(seconds=60)
            )
