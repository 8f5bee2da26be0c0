"""Builders for lead transitions, shared by the crm-sync unit and integration tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from peerscore.consumer import Message
from peerscore.events import LeadContact, LeadScore, LeadTransition, LineScore

BASE_TIME = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def transition(
    person_key: str = "p_ada",
    version: int = 1,
    *,
    kind: Literal["qualified", "recycled", "updated"] = "qualified",
    email: str | None = "ada@example.com",
    reasons: tuple[str, ...] = ("Visited pricing 3 times", "VP at a 500-person SaaS company"),
    total: float = 72.5,
    probability: float | None = None,
    model_version: int | None = None,
    grade: Literal["A", "B", "C", "D"] | None = None,
    level: int | None = None,
    groups: dict[str, float] | None = None,
    lines: dict[str, LineScore] | None = None,
    product_line: str | None = None,
    **contact: Any,
) -> LeadTransition:
    """A transition whose timestamps grow with ``version``, like the scoring service produces them; an
    ``updated`` one is of a lead still qualified (what scoring publishes for handed-off leads)."""
    at = BASE_TIME + timedelta(minutes=version)
    qualified = kind != "recycled"
    contact = {"first_name": "Ada", "last_name": "Lovelace", "company": "Analytical", **contact}
    return LeadTransition(
        kind=kind,
        person_key=person_key,
        contact=LeadContact(email=email, **contact),
        score=LeadScore(
            person_key=person_key,
            version=version,
            fit=40.0,
            engagement=25.0,
            intent=7.5,
            total=total,
            groups=groups or {"fit": 40.0, "engagement": 25.0, "intent": 7.5},
            grade=grade or ("A" if qualified else "C"),
            level=level or (3 if qualified else 1),
            qualified=qualified,
            reasons=list(reasons),
            conversion_probability=probability,
            model_version=model_version,
            ruleset_version="rules-7",
            as_of=at,
            lines=lines or {},
        ),
        transitioned_at=at,
        product_line=product_line,
    )


TWO_LINES = {
    "cloud": LineScore(score=65.0, activity=25.0, grade="A", level=2, qualified=True, reasons=["Attended webinars"]),
    "data": LineScore(score=40.0, activity=0.0, grade="A", level=1, qualified=False),
}
"""A lead that is an MQL for one product line (cloud) and not the other (data)."""


def two_line_transition(person_key: str = "p_ada", version: int = 1, **kwargs: Any) -> LeadTransition:
    """A lead qualified for the ``cloud`` line only (not as a whole): the transition of that line."""
    kwargs = {"kind": "qualified", "product_line": "cloud", "email": f"{person_key}@example.com", **kwargs}
    t = transition(person_key, version, lines=TWO_LINES, **kwargs)
    return t.model_copy(update={"score": t.score.model_copy(update={"qualified": False})})


def message(t: LeadTransition, offset: int = 0, topic: str = "peerscore.qualified.v1") -> Message[LeadTransition]:
    return Message(topic, 0, offset, t.person_key, t, 0)


def batch(*transitions: LeadTransition) -> list[Message[LeadTransition]]:
    return [message(t, offset) for offset, t in enumerate(transitions)]
