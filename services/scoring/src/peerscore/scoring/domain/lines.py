"""Product lines: one ruleset, several scores, grades and MQL decisions per lead.

A line names some of the ruleset's groups (the fit group may be shared by every line) and may bring its own
grade and level bars and its own qualification policy; what it leaves out is the ruleset's. Per line:

* score = the sum of the line's groups (each already decayed and capped as in the overall scorecard);
* activity = the sum of the line's non-fit groups; level = the line's level bars on that activity;
* grade = the line's grade bars on the fit score (who the person is does not depend on the product);
* qualified = the line's policy, with its own hysteresis, on that grade and activity.

A ruleset without lines scores exactly as before and does no per-line work at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import Field

from peerscore.events import Grade

from .conditions import Strict
from .policy import Grades, Levels, QualificationPolicy, Transition, grade_rank
from .yaml_source import Loc

if TYPE_CHECKING:
    from .ruleset import Ruleset

FIT = "fit"
LINE_NAME = r"^[a-z][a-z0-9_]{0,31}$"
"""Line names end up in CRM property names (``peerscore_<line>_score``): lower-case, short, no spaces."""


class ProductLine(Strict):
    """One product line's groups and, optionally, its own bars and MQL policy (defaults: the ruleset's)."""

    groups: list[str] = Field(min_length=1, description="The ruleset groups this line's score sums (fit may be shared)")
    grades: Grades | None = None
    levels: Levels | None = None
    qualification: QualificationPolicy | None = None
    description: str | None = None


LineMoves = tuple[tuple[str, Transition], ...]
"""Each product line that qualified or recycled at one score, in line order."""


@dataclass(frozen=True, slots=True)
class LinePlan:
    """A line with its defaults filled in, derived once per ruleset (see ``RulesetIndex.lines``)."""

    name: str
    groups: tuple[str, ...]
    activity_groups: tuple[str, ...]
    grades: Grades
    levels: Levels
    qualification: QualificationPolicy


@dataclass(frozen=True, slots=True)
class LineCard:
    """A line's numbers at one time (qualification is state, kept on the person: see :func:`decide_lines`)."""

    score: float
    activity: float
    grade: Grade
    level: int


def line_plans(ruleset: Ruleset) -> tuple[LinePlan, ...]:
    """Every line of ``ruleset`` in declaration order; empty for a single-line ruleset."""
    return tuple(
        LinePlan(
            name=name,
            groups=tuple(line.groups),
            activity_groups=tuple(g for g in line.groups if g != FIT),
            grades=line.grades or ruleset.grades,
            levels=line.levels or ruleset.levels,
            qualification=line.qualification or ruleset.qualification,
        )
        for name, line in ruleset.product_lines.items()
    )


def line_card(plan: LinePlan, groups: Mapping[str, float]) -> LineCard:
    """The line's card from the overall card's (capped) group scores."""
    activity = round(sum(groups.get(g, 0.0) for g in plan.activity_groups), 2)
    return LineCard(
        score=round(sum(groups.get(g, 0.0) for g in plan.groups), 2),
        activity=activity,
        grade=plan.grades.grade(groups.get(FIT, 0.0)),
        level=plan.levels.level(activity),
    )


def decide_lines(
    plans: tuple[LinePlan, ...], groups: Mapping[str, float], qualified: tuple[str, ...]
) -> tuple[tuple[str, ...], LineMoves]:
    """The lines qualified after a score, and each line's transition (in line order), from those before.

    ``qualified`` lists the line names qualified before (sorted); the result is sorted too, so a person state
    that is folded twice the same way stores the same list.
    """
    moves: list[tuple[str, Transition]] = []
    after = set(qualified)
    for plan in plans:
        card = line_card(plan, groups)
        was = plan.name in after
        move = plan.qualification.decide(was, card.grade, card.activity)
        if move is None:
            continue
        moves.append((plan.name, move))
        if move == "qualified":
            after.add(plan.name)
        else:
            after.discard(plan.name)
    if not moves:
        return qualified, ()
    return tuple(sorted(after)), tuple(moves)


def policy_problems(
    at: Loc, grades: Grades | None, levels: Levels | None, qualification: QualificationPolicy | None
) -> list[tuple[Loc, str]]:
    """Ordering problems of bars and hysteresis, at ``at`` (the ruleset's root, or a line's path)."""
    problems: list[tuple[Loc, str]] = []
    if grades is not None:
        if not grades.A >= grades.B:
            problems.append(((*at, "grades", "B"), f"B ({grades.B:g}) must not be above A ({grades.A:g})"))
        if not grades.B >= grades.C:
            problems.append(((*at, "grades", "C"), f"C ({grades.C:g}) must not be above B ({grades.B:g})"))
    if levels is not None and not levels.level_3 >= levels.level_2:
        problems.append(((*at, "levels", "level_2"), "level_2 must not be above level_3"))
    if qualification is None:
        return problems
    qualify, recycle = qualification.qualify, qualification.recycle
    if not qualify.min_activity > recycle.below_activity:
        problems.append(
            (
                (*at, "qualification", "recycle", "below_activity"),
                f"must be lower than qualify.min_activity ({qualify.min_activity:g}) so leads do not flap",
            )
        )
    if recycle.below_grade is not None:
        if qualify.min_grade is None or not grade_rank(recycle.below_grade) < grade_rank(qualify.min_grade):
            problems.append(
                (
                    (*at, "qualification", "recycle", "below_grade"),
                    "must be a lower grade than qualify.min_grade so leads do not flap",
                )
            )
    return problems


def line_problems(ruleset: Ruleset) -> list[tuple[Loc, str]]:
    """References and shape of ``product_lines``: known groups, each once, at least one activity group."""
    problems: list[tuple[Loc, str]] = []
    for name, line in ruleset.product_lines.items():
        at: Loc = ("product_lines", name)
        if not re.match(LINE_NAME, name):
            problems.append((at, f"line name '{name}' must be lower-case letters, digits and _ (at most 32)"))
        seen: set[str] = set()
        for index, group in enumerate(line.groups):
            if group not in ruleset.groups:
                problems.append(
                    ((*at, "groups", index), f"unknown group '{group}'; groups are {sorted(ruleset.groups)}")
                )
            elif group in seen:
                problems.append(((*at, "groups", index), f"group '{group}' is listed twice"))
            seen.add(group)
        if all(group == FIT for group in line.groups):
            problems.append(((*at, "groups"), "a line needs at least one activity group (not only fit)"))
        if line.levels is not None and line.levels.groups is not None:
            problems.append(((*at, "levels", "groups"), "a line's activity is its own groups; drop levels.groups"))
        if line.qualification is not None and line.qualification.qualify.min_probability is not None:
            problems.append(
                ((*at, "qualification", "qualify", "min_probability"), "the model's probability is not per line")
            )
        problems.extend(policy_problems(at, line.grades, line.levels, line.qualification))
    return problems
