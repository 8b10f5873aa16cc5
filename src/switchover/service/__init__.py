"""The service layer: what every front end does, whatever it is (the CLI, the HTTP API, the
dashboard through the API).

Modules, each importing only those below it:

* ``views``: the records the queries answer (``PlanDetail``, ``TaskDetail``, ``Stranded``) and
  the status orders they share.
* ``suggest``: the ids a not-found error suggests ("did you mean").
* ``protocols``: the surface, ``Views`` (what a front end reads) and ``Operations`` (what it
  asks), answered here on a store or by ``client`` over HTTP.
* ``query``: ``Queries`` answer the views (plans, a plan page, a task, a tenant's history,
  events) from the store, each with a bounded number of store calls (no call per plan or per
  task).
* ``tree``: the plan tree of ``status`` and ``watch``, with each listed task's stage timeline.
* ``progress``: ``Progress`` is a followed plan as its events tell it; ``Watch``, ``Done`` and
  ``Result`` say how to follow an accepted command and what it came to.
* ``operate``: ``Operator`` submits plans and performs commands through a ``Session`` (the live
  engine, or one of its own), refuses what cannot be done safely, and follows the resulting
  work to its outcome, making sure an engine runs it all along.

Nothing here prints, renders or picks an exit code: front ends do that with what it returns.
Names are imported on first use, so a command loads only the parts it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchover._lazy import lazy_exports

if TYPE_CHECKING:
    from switchover.service.operate import (
        PREFLIGHT_SAMPLE,
        Operator,
        Preflight,
        operator,
        preflight_of,
    )
    from switchover.service.progress import (
        Done,
        Progress,
        Result,
        TaskProgress,
        Update,
        Watch,
        plan_done,
        tasks_started_and_settled,
        tasks_stopped,
        watch_for,
    )
    from switchover.service.protocols import (
        Operations,
        Views,
    )
    from switchover.service.query import (
        Queries,
        queries,
    )
    from switchover.service.suggest import (
        SUGGESTIONS,
        closest,
        typo_variants,
    )
    from switchover.service.tree import (
        SETTLED_GROUPS,
        TIMELINE_TASKS,
        TREE_ORDER,
        PlanTree,
        StageSpan,
        StageState,
        TaskBranch,
        TaskGroup,
        plan_tree,
        stage_timeline,
        task_stages,
    )
    from switchover.service.views import (
        ATTENTION_ORDER,
        SETTLED_PLAN,
        PlanDetail,
        Stranded,
        TaskDetail,
    )

_EXPORTS = {
    "Operator": "switchover.service.operate",
    "PREFLIGHT_SAMPLE": "switchover.service.operate",
    "Preflight": "switchover.service.operate",
    "operator": "switchover.service.operate",
    "preflight_of": "switchover.service.operate",
    "Done": "switchover.service.progress",
    "Progress": "switchover.service.progress",
    "Result": "switchover.service.progress",
    "TaskProgress": "switchover.service.progress",
    "Update": "switchover.service.progress",
    "Watch": "switchover.service.progress",
    "plan_done": "switchover.service.progress",
    "tasks_started_and_settled": "switchover.service.progress",
    "tasks_stopped": "switchover.service.progress",
    "watch_for": "switchover.service.progress",
    "Operations": "switchover.service.protocols",
    "Views": "switchover.service.protocols",
    "Queries": "switchover.service.query",
    "queries": "switchover.service.query",
    "SUGGESTIONS": "switchover.service.suggest",
    "closest": "switchover.service.suggest",
    "typo_variants": "switchover.service.suggest",
    "SETTLED_GROUPS": "switchover.service.tree",
    "TIMELINE_TASKS": "switchover.service.tree",
    "TREE_ORDER": "switchover.service.tree",
    "PlanTree": "switchover.service.tree",
    "StageSpan": "switchover.service.tree",
    "StageState": "switchover.service.tree",
    "TaskBranch": "switchover.service.tree",
    "TaskGroup": "switchover.service.tree",
    "plan_tree": "switchover.service.tree",
    "stage_timeline": "switchover.service.tree",
    "task_stages": "switchover.service.tree",
    "ATTENTION_ORDER": "switchover.service.views",
    "SETTLED_PLAN": "switchover.service.views",
    "PlanDetail": "switchover.service.views",
    "Stranded": "switchover.service.views",
    "TaskDetail": "switchover.service.views",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "ATTENTION_ORDER",
    "PREFLIGHT_SAMPLE",
    "SETTLED_GROUPS",
    "SETTLED_PLAN",
    "SUGGESTIONS",
    "TIMELINE_TASKS",
    "TREE_ORDER",
    "Done",
    "Operations",
    "Operator",
    "PlanDetail",
    "PlanTree",
    "Preflight",
    "Progress",
    "Queries",
    "Result",
    "StageSpan",
    "StageState",
    "Stranded",
    "TaskBranch",
    "TaskDetail",
    "TaskGroup",
    "TaskProgress",
    "Update",
    "Views",
    "Watch",
    "closest",
    "operator",
    "plan_done",
    "plan_tree",
    "preflight_of",
    "queries",
    "stage_timeline",
    "task_stages",
    "tasks_started_and_settled",
    "tasks_stopped",
    "typo_variants",
    "watch_for",
]
