"""Groups, grades, levels, breadth and the qualification policy: how points turn into decisions.

Kept apart from the rules so the thresholds a sales team negotiates ("MQL = grade B and activity 40") read as
one small block of YAML and one small block of code.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from peerscore.events import Grade

from .conditions import Strict

GRADES_BEST_FIRST: tuple[Grade, ...] = ("A", "B", "C", "D")
Transition = Literal["qualified", "recycled"]


def grade_rank(grade: Grade) -> int:
    """D=0 … A=3, so "at least B" is ``rank >= rank("B")``."""
    return 3 - GRADES_BEST_FIRST.index(grade)


class GroupSpec(Strict):
    """A bucket of points. ``cap`` bounds the group; ``half_life_days`` makes its points fade (null: never)."""

    cap: float | None = Field(default=None, gt=0)
    half_life_days: float | None = Field(default=None, gt=0)
    description: str | None = None


class Grades(Strict):
    """Minimum fit score for each grade; anything below C is D."""

    A: float = 60
    B: float = 40
    C: float = 20

    def grade(self, fit: float) -> Grade:
        floors: tuple[tuple[Grade, float], ...] = (("A", self.A), ("B", self.B), ("C", self.C))
        for grade, floor in floors:
            if fit >= floor:
                return grade
        return "D"


class Levels(Strict):
    """Minimum activity for level 2 and 3. Activity = the sum of ``groups`` (default: every group but fit)."""

    level_2: float = 25
    level_3: float = 60
    groups: list[str] | None = Field(default=None, min_length=1)

    def level(self, activity: float) -> int:
        if activity >= self.level_3:
            return 3
        return 2 if activity >= self.level_2 else 1


class QualifyWhen(Strict):
    min_activity: float
    min_grade: Grade | None = None
    min_probability: float | None = Field(default=None, gt=0, le=1)
    """Also qualify when the champion model's calibrated conversion probability reaches this (rules OR model).

    Applied by the worker after each batch (``peerscore.scoring.predictive.online``); without a champion model
    it never fires, so a ruleset using it still qualifies by the rules alone."""

    @model_serializer(mode="wrap")
    def _omit_unset_probability(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Rulesets that do not use ``min_probability`` keep the content hash (version) they had before it."""
        data: dict[str, Any] = handler(self)
        if data.get("min_probability") is None:
            data.pop("min_probability", None)
        return data


class RecycleWhen(Strict):
    below_activity: float
    below_grade: Grade | None = None


class QualificationPolicy(Strict):
    """Hysteresis: qualify at or above one bar, recycle only under a lower one, so a lead never flaps."""

    qualify: QualifyWhen
    recycle: RecycleWhen

    def qualifies_by_probability(self, qualified: bool, probability: float | None) -> bool:
        """Whether a not-yet-qualified lead qualifies on the model's probability (``qualify.min_probability``)."""
        bar = self.qualify.min_probability
        return not qualified and bar is not None and probability is not None and probability >= bar

    def decide(self, qualified: bool, grade: Grade, activity: float) -> Transition | None:
        """The transition this score causes, if any; ``None`` when the lead stays where it is."""
        if not qualified:
            grade_ok = self.qualify.min_grade is None or grade_rank(grade) >= grade_rank(self.qualify.min_grade)
            return "qualified" if grade_ok and activity >= self.qualify.min_activity else None
        too_quiet = activity < self.recycle.below_activity
        below = self.recycle.below_grade
        too_poor = below is not None and grade_rank(grade) < grade_rank(below)
        return "recycled" if too_quiet or too_poor else None


class BreadthPolicy(Strict):
    """The buying-committee signal: ``min_colleagues`` others of the account active within ``window_days``.

    An ACCOUNT-level fact, shown as the first reason of published scores; it never awards person points.
    Colleagues' events live on other Kafka partitions, so anything they feed into a person's stored state would
    depend on how partitions happened to interleave (``group``/``points``/``cap`` are therefore refused).
    """

    min_colleagues: int = Field(default=3, ge=1)
    window_days: float = Field(default=7, gt=0)
    reason: str | None = None
