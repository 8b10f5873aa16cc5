"""How a stage failure becomes the task's FailureInfo, forward and rolling back (SPEC §7)."""

from __future__ import annotations

from collections.abc import Sequence

from switchover.domain.failure import FailureInfo
from switchover.domain.status import ExecutionMode
from switchover.errors import ErrorType


def stage_report(names: Sequence[str], failed_index: int) -> list[dict[str, str]]:
    """Per-stage outcome of a run that failed at ``failed_index``."""
    report = []
    for index, name in enumerate(names):
        if index < failed_index:
            status = "succeeded"
        elif index == failed_index:
            status = "failed"
        else:
            status = "not_run"
        report.append({"stage": name, "status": status})
    return report


def task_failure(
    mode: ExecutionMode, cause: FailureInfo, names: Sequence[str], failed_index: int
) -> FailureInfo:
    """The FailureInfo the task records when stage ``failed_index`` failed with ``cause``.

    Forward runs record the cause as is. Rollbacks record ROLLBACK_HEALTH_CHECK_FAILED when
    the verify never observed the old version, and ROLLBACK_PARTIAL_FAILED for any other
    failure; both carry the per-stage report and the original cause in ``details``.
    """
    if mode is ExecutionMode.NORMAL:
        return cause
    health = cause.error_type in (
        ErrorType.HEALTH_CHECK_FAILED,
        ErrorType.ROLLBACK_HEALTH_CHECK_FAILED,
    )
    error_type = (
        ErrorType.ROLLBACK_HEALTH_CHECK_FAILED if health else ErrorType.ROLLBACK_PARTIAL_FAILED
    )
    prefix = "rollback health check failed" if health else "rollback partially failed"
    return FailureInfo(
        error_type=error_type,
        message=f"{prefix} at stage {cause.stage}: {cause.message}",
        stage=cause.stage,
        step=cause.step,
        retryable=True,
        details={
            "stages": stage_report(names, failed_index),
            "cause": cause.to_dict(),
        },
    )
