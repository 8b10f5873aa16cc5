"""The plan file's shape and its ``plan`` section: the tenant list, and the rollout policy the
section states (waves, bake, failure budget, auto rollback, deadlines)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from switchover.domain.planissues import pydantic_issues, spelled
from switchover.domain.planmodels import PlanSectionInput, WaveInput, path_part
from switchover.domain.planrules import yaml11_str
from switchover.domain.rollout import Budget, Policy, Wave, resolve_waves
from switchover.errors import ValidationIssue

_SHAPES = "a list of tenant configs, or a document with 'plan' and 'tenants'"


def yaml11_section_strings(raw_section: Mapping[Any, Any]) -> bool:
    """Whether the plan section's strings (id, name, description, wave sizes) read the same."""
    strings = [raw_section.get(key) for key in ("id", "name", "description")]
    for wave in raw_section.get("waves") or ():
        strings.append(wave.get("size") if isinstance(wave, Mapping) else wave)
    return all(yaml11_str(text) for text in strings if isinstance(text, str))


def plan_policy(
    section: PlanSectionInput | None,
    raw_section: Mapping[Any, Any] | None,
    total: int,
    issues: list[ValidationIssue],
) -> Policy | None:
    """The plan's rollout policy (waves, bake, budget, auto rollback), if it states one."""
    if section is None:
        return None
    waves: tuple[Wave, ...] = ()
    if section.waves is not None:
        sizes = [w.model_dump() if isinstance(w, WaveInput) else w for w in section.waves]
        try:
            waves = resolve_waves(sizes, total)
        except ValueError as exc:
            issues.append(ValidationIssue(None, "plan.waves", str(exc)))
    budget = None
    if section.failure_budget is not None:
        given = section.failure_budget
        budget = Budget(given.max_failed, given.max_failed_ratio)
    deadlines = section.deadlines
    stage_deadline = deadlines.stage if deadlines is not None else None
    task_deadline = deadlines.task if deadlines is not None else None
    if (
        not waves
        and budget is None
        and not section.auto_rollback
        and not section.bake
        and stage_deadline is None
        and task_deadline is None
    ):
        return None
    if section.bake and section.waves is None:
        key = spelled(raw_section, "bake") if raw_section is not None else "bake"
        issues.append(
            ValidationIssue(None, f"plan.{key}", "needs waves (it is the wait between two)")
        )
    return Policy(
        waves=waves,
        bake=section.bake or 0.0,
        budget=budget,
        auto_rollback=bool(section.auto_rollback),
        stage_deadline=stage_deadline,
        task_deadline=task_deadline,
    )


def split_shape(
    data: object, issues: list[ValidationIssue]
) -> tuple[PlanSectionInput | None, Mapping[Any, Any] | None, list[Any] | None]:
    """The plan section (validated and raw, if any) and the raw tenant list.

    The tenant list is None when the data has neither accepted shape.
    """
    if isinstance(data, list):
        return None, None, data
    if not isinstance(data, Mapping):
        got = "nothing (empty file)" if data is None else type(data).__name__
        issues.append(ValidationIssue(None, "file", f"expected {_SHAPES}; got {got}"))
        return None, None, None
    if "tenants" not in data:
        issues.append(ValidationIssue(None, "file", f"expected {_SHAPES}; 'tenants' is missing"))
        return None, None, None
    for key in data:
        if key not in ("plan", "tenants"):
            message = "unknown key (expected plan, tenants)"
            issues.append(ValidationIssue(None, path_part(key), message))
    section: PlanSectionInput | None = None
    raw_section = data.get("plan")
    if raw_section is not None:
        try:
            section = PlanSectionInput.model_validate(raw_section)
        except ValidationError as exc:
            issues.extend(
                ValidationIssue(None, path, message)
                for path, message in pydantic_issues(exc, raw_section, ("plan",))
            )
    tenants = data["tenants"]
    if not isinstance(tenants, list):
        issues.append(ValidationIssue(None, "tenants", "must be a list of tenant configs"))
        tenants = None
    return section, raw_section if isinstance(raw_section, Mapping) else None, tenants
