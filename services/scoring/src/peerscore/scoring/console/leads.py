"""What the lead explorer reads: search, one lead with its ledger, events and timeline, one account.

Scores are computed the way the lead API computes them (``score_person`` under the live ruleset, now), so the
console and ``/v1/leads`` never disagree. The timeline replays the lead's stored event history with the
production ``apply_event`` under the live ruleset (the score after every event, and when it qualified).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, func, or_
from sqlmodel import Session, col, select

from peerscore.events import EngagementEvent, LeadScore, PersonTraits, parse_event, utcnow
from peerscore.identity import normalise_email
from peerscore.scoring import store
from peerscore.scoring.domain import PersonState, Ruleset, apply_event, new_person, score_person
from peerscore.scoring.domain.accounts import AccountMember, AccountScore, roll_up
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.lead_routes import model_probability
from peerscore.scoring.models import LedgerRow, PersonRow

SearchBy = Literal["email", "domain", "account"]
MAX_RESULTS = 100
MAX_TIMELINE_EVENTS = 5_000
TIMELINE_SAMPLES = 120
"""Points drawn for the decay between events over the whole timeline."""
MAX_ACCOUNT_PEOPLE = 200


@dataclass(frozen=True)
class LeadSummary:
    person_key: str
    email: str | None
    account_key: str | None
    total: float
    qualified: bool
    updated_at: datetime


@dataclass(frozen=True)
class LeadDetail:
    person_key: str
    email: str | None
    traits: PersonTraits
    state: PersonState
    score: LeadScore
    ledger: list[LedgerRow]
    events: dict[str, EngagementEvent]
    timeline: list[tuple[datetime, float]]
    marks: list[tuple[datetime, str]]
    probability: float | None = None
    """The champion model's probability at the lead's last event (``None``: no model, or withheld)."""
    model_version: int | None = None


def _escaped(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (``\\`` is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(text: str) -> str:
    return f"%{_escaped(text)}%"


def search(engine: Engine, query: str, by: SearchBy, limit: int = MAX_RESULTS) -> list[LeadSummary]:
    """Leads whose email contains ``query``, whose domain (account or email) is ``query``, or whose account key
    contains it; the highest stored totals first. An empty query lists the top leads."""
    text = query.strip().lower()
    select_rows = select(PersonRow)
    if text and by == "email":
        select_rows = select_rows.where(col(PersonRow.email).like(_like(normalise_email(text)), escape="\\"))
    elif text and by == "domain":
        domain = text.removeprefix("@")
        select_rows = select_rows.where(
            or_(col(PersonRow.account_key) == domain, col(PersonRow.email).like(f"%@{_escaped(domain)}", escape="\\"))
        )
    elif text:
        select_rows = select_rows.where(col(PersonRow.account_key).like(_like(text), escape="\\"))
    with Session(engine) as session:
        rows = session.exec(select_rows.order_by(col(PersonRow.total).desc()).limit(limit)).all()
    return [LeadSummary(r.person_key, r.email, r.account_key, r.total, r.qualified, r.updated_at) for r in rows]


def account_keys(engine: Engine, query: str, limit: int = MAX_RESULTS) -> list[tuple[str, int, float]]:
    """Accounts (key, people, summed stored total) whose key contains ``query``, busiest first."""
    total = func.sum(PersonRow.total)
    stmt = (
        select(PersonRow.account_key, func.count(), total)
        .where(col(PersonRow.account_key).is_not(None))
        .group_by(col(PersonRow.account_key))
        .order_by(total.desc())
        .limit(limit)
    )
    if query.strip():
        stmt = stmt.where(col(PersonRow.account_key).like(_like(query.strip().lower()), escape="\\"))
    with Session(engine) as session:
        return [(str(k), int(n), float(t or 0)) for k, n, t in session.exec(stmt).all() if k]


def replay_timeline(
    person_key: str, events: list[EngagementEvent], ruleset: Ruleset, until: datetime, samples: int = TIMELINE_SAMPLES
) -> tuple[list[tuple[datetime, float]], list[tuple[datetime, str]]]:
    """The total over time under ``ruleset``: jumps at each event, decay in between (sampled), up to ``until``;
    and when the lead qualified or was recycled. Uses the production ``apply_event`` and ``score_person``."""
    person = new_person(person_key)
    states: list[tuple[datetime, PersonState]] = []
    marks: list[tuple[datetime, str]] = []
    for event in events:
        applied = apply_event(person, None, event, ruleset)
        if applied.duplicate:
            continue
        person = applied.person
        if applied.score is not None:
            states.append((applied.score.as_of, person))
            if applied.transition is not None:
                marks.append((applied.score.as_of, applied.transition))
    if not states:
        return [], marks
    end = max(until, states[-1][0])
    step = max((end - states[0][0]) / samples, timedelta(minutes=1))
    points: list[tuple[datetime, float]] = []
    for i, (at, state) in enumerate(states):
        next_at = states[i + 1][0] if i + 1 < len(states) else end
        t = at
        while t < next_at:
            points.append((t, score_person(state, None, ruleset, t).total))
            t += step
        points.append((next_at, score_person(state, None, ruleset, next_at).total))  # just before the next jump
    return points, marks


def lead_detail(engine: Engine, person_key: str, ruleset: Ruleset) -> LeadDetail | None:
    with Session(engine) as session:
        row = session.get(PersonRow, person_key)
        if row is None:
            return None
        state, stored = store.load_people(session, [person_key])[person_key]
        key = state.account_key
        account = store.load_accounts(session, [key]).get(key) if key else None
        now = utcnow()
        score = score_person(state, account, ruleset, as_of=now)
        probability, model_version = model_probability(stored, score)
        ledger = list(
            session.exec(
                select(LedgerRow)
                .where(LedgerRow.person_key == person_key)
                .order_by(col(LedgerRow.occurred_at).desc(), col(LedgerRow.id).desc())
                .limit(500)
            ).all()
        )
        raw = session.exec(
            select(EventHistoryRow.event)
            .where(EventHistoryRow.person_key == person_key)
            .order_by(col(EventHistoryRow.topic), col(EventHistoryRow.partition), col(EventHistoryRow.offset))
            .limit(MAX_TIMELINE_EVENTS)
        ).all()
    events = [parse_event(text) for text in raw]
    points, marks = replay_timeline(person_key, events, ruleset, until=now)
    return LeadDetail(
        person_key=person_key,
        email=row.email,
        traits=state.traits,
        state=state,
        score=score,
        ledger=ledger,
        events={e.event_id: e for e in events},
        timeline=points,
        marks=marks,
        probability=probability,
        model_version=model_version,
    )


@dataclass(frozen=True)
class AccountPerson:
    person_key: str
    email: str | None
    traits: PersonTraits
    score: LeadScore


@dataclass(frozen=True)
class AccountDetail:
    score: AccountScore
    people: list[AccountPerson]
    active: dict[str, datetime]


def account_detail(engine: Engine, account_key: str, ruleset: Ruleset) -> AccountDetail | None:
    """The account roll-up (as ``/v1/accounts`` computes it) with its people, best scores first."""
    key = account_key.strip().lower()
    with Session(engine) as session:
        account = store.load_accounts(session, [key]).get(key)
        if account is None:
            return None
        rows = session.exec(
            select(PersonRow.person_key, PersonRow.email)
            .where(PersonRow.account_key == key)
            .order_by(col(PersonRow.total).desc())
            .limit(MAX_ACCOUNT_PEOPLE)
        ).all()
        emails = dict(rows)
        people = store.load_people(session, emails)
    now = utcnow()
    members: list[AccountPerson] = []
    for state, _ in people.values():
        if state.version < 1:
            continue
        members.append(
            AccountPerson(
                state.person_key, emails.get(state.person_key), state.traits, score_person(state, None, ruleset, now)
            )
        )
    members.sort(key=lambda m: (-m.score.total, m.person_key))
    rolled = roll_up(account, [AccountMember(score=m.score, traits=m.traits) for m in members], ruleset, now)
    return AccountDetail(score=rolled, people=members, active=dict(account.active_people))
