"""The Temporal side of ``bench.temporal_compare``: workflows of three no-op activities.

Kept apart, with nothing but temporalio imported, because the workflow sandbox re-imports the
module that defines a workflow.

* ``NoopTask``: each stage a regular activity — scheduled through the server, which records
  it in the workflow's history and hands it to an activity poller (or, eagerly, back to the
  worker that completed the workflow task);
* ``NoopTaskLocal``: each stage a local activity — run by the worker that runs the workflow,
  its result recorded in the history with the workflow task's completion: no activity task,
  no activity poll, fewer server round trips (Temporal's own advice for short activities).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

STAGE_NAMES = ("alpha", "beta", "gamma")
TIMEOUT = timedelta(seconds=60)


@activity.defn
async def noop_stage(stage: str) -> None:
    """An activity that does nothing."""
    return


@workflow.defn
class NoopTask:
    """One tenant's task: three stages, each one regular activity, in order."""

    @workflow.run
    async def run(self, tenant_id: str) -> None:
        for stage in STAGE_NAMES:
            await workflow.execute_activity(noop_stage, stage, start_to_close_timeout=TIMEOUT)


@workflow.defn
class NoopTaskLocal:
    """One tenant's task: three stages, each one local activity, in order."""

    @workflow.run
    async def run(self, tenant_id: str) -> None:
        for stage in STAGE_NAMES:
            await workflow.execute_local_activity(noop_stage, stage, start_to_close_timeout=TIMEOUT)
