"""Account roll-up: the buying committee seen as one score, exposed like a lead's.

Pure: built at read time from the account's state and its people's current scores, so it needs no stored
state of its own and never makes person scoring depend on colleagues (see the package docstring). The model
follows what account-based products show: breadth (how many people are active), roles (are decision makers
among them), the best-fitting contact, and a stage from aware to MQA (marketing-qualified account).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from peerscore.events import Grade, LeadScore, PersonTraits

from .ruleset import Ruleset
from .state import AccountState, account_breadth

DECISION_MAKERS = frozenset({"c-level", "cxo", "vp", "svp", "evp", "director", "head", "owner", "founder"})
TOP_PEOPLE = 5

Stage = Literal["aware", "engaged", "mqa"]


class AccountMember(BaseModel):
    """One person of the account as the roll-up sees them (the API adds contact details)."""

    model_config = ConfigDict(frozen=True)

    score: LeadScore
    traits: PersonTraits


class AccountScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_key: str
    name: str | None
    employees: int | None
    industry: str | None
    people: int
    active_people: int
    decision_makers: int
    qualified_people: int
    fit: float
    activity: float
    grade: Grade
    level: int
    stage: Stage
    reasons: list[str]
    top_people: list[str]
    as_of: datetime


def is_decision_maker(traits: PersonTraits) -> bool:
    seniority = (traits.seniority or "").strip().lower()
    title = (traits.title or "").lower()
    return seniority in DECISION_MAKERS or any(
        word in title for word in ("chief ", "vp ", "vice president", "director", "head of")
    )


def roll_up(account: AccountState, members: Sequence[AccountMember], ruleset: Ruleset, as_of: datetime) -> AccountScore:
    """Fit of the best-fitting member; activity of the most active members (so one loud person is not a
    committee); breadth and decision makers from who was active within the ruleset's breadth window."""
    window = ruleset.breadth.window_days if ruleset.breadth is not None else 7
    active = account_breadth(account, None, as_of, window)
    ranked = sorted(members, key=lambda m: (-m.score.total, m.score.person_key))
    fit = max((m.score.fit for m in members), default=0.0)
    activity = round(sum(m.score.engagement + m.score.intent for m in ranked[:TOP_PEOPLE]), 2)
    deciders = [m for m in members if is_decision_maker(m.traits)]
    qualified = [m for m in members if m.score.qualified]
    grade = ruleset.grades.grade(fit)
    level = ruleset.levels.level(activity)
    min_active = ruleset.breadth.min_colleagues + 1 if ruleset.breadth is not None else 3
    stage: Stage = "aware"
    if activity > 0:
        stage = "engaged"
    if qualified and (active >= min_active or deciders) and grade in ("A", "B"):
        stage = "mqa"
    return AccountScore(
        account_key=account.account_key,
        name=account.name,
        employees=account.employees,
        industry=account.industry,
        people=len(members),
        active_people=active,
        decision_makers=len(deciders),
        qualified_people=len(qualified),
        fit=fit,
        activity=activity,
        grade=grade,
        level=level,
        stage=stage,
        reasons=_reasons(account, active, window, deciders, qualified, ranked),
        top_people=[m.score.person_key for m in ranked[:TOP_PEOPLE]],
        as_of=as_of,
    )


def _reasons(
    account: AccountState,
    active: int,
    window: float,
    deciders: Sequence[AccountMember],
    qualified: Sequence[AccountMember],
    ranked: Sequence[AccountMember],
) -> list[str]:
    name = account.name or account.account_key
    reasons: list[str] = []
    if active >= 2:
        reasons.append(f"{active} people at {name} active in the last {window:g} days")
    if deciders:
        titles = sorted({m.traits.title or m.traits.seniority or "decision maker" for m in deciders})
        reasons.append(
            f"{len(deciders)} decision maker{'s' if len(deciders) > 1 else ''} engaged ({', '.join(titles[:3])})"
        )
    if qualified:
        reasons.append(f"{len(qualified)} qualified lead{'s' if len(qualified) > 1 else ''} (MQL)")
    if ranked and ranked[0].score.reasons:
        top = ranked[0]
        who = f"Top contact ({top.traits.title})" if top.traits.title else "Top contact"
        reasons.append(f"{who}: {top.score.reasons[0]}")
    return reasons[:5]
