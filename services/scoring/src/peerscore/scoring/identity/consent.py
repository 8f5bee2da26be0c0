"""Consent in the fold: opted-out people are not scored; opting back in restores normal scoring. Pure.

* An event that opts out (see :mod:`peerscore.consent` for the accepted forms) marks the person opted out and
  publishes a *withheld* score: every number zeroed, ``withheld="opted_out"``, one reason saying why. A lead
  that was qualified is recycled (crm-sync skips withheld scores, so nothing reaches the CRM).
* While opted out, events are not applied at all: no points, no history, no account activity (the worker
  counts them in ``peerscore_scoring_consent_withheld_events_total``).
* An event that opts back in clears the flag and is applied normally; the points earned before the opt-out are
  still in the state (decayed), because opting out of scoring is not erasure (``DELETE /v1/people/{email}`` is).

The ledger is kept while opted out, so "ledger = score" holds for the state, while the published score is 0.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from peerscore.consent import opted_out
from peerscore.events import EngagementEvent, LeadScore
from peerscore.scoring.domain.engine import Applied, apply_event, score_person
from peerscore.scoring.domain.policy import Transition
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.state import RECENT_EVENT_IDS, AccountState, PersonState

WITHHELD_OPTED_OUT = "opted_out"
WITHHELD_REASON = "Opted out: not scored or synced until they opt back in"


def withheld_score(person: PersonState, ruleset: Ruleset, as_of: datetime) -> LeadScore:
    """The score published for an opted-out person: zero everywhere, with the reason."""
    groups = dict.fromkeys(ruleset.groups, 0.0)
    return LeadScore(
        person_key=person.person_key,
        version=max(person.version, 1),
        fit=0.0,
        engagement=0.0,
        intent=0.0,
        groups=groups,
        total=0.0,
        grade=ruleset.grades.grade(0.0),
        level=ruleset.levels.level(0.0),
        qualified=False,
        reasons=[WITHHELD_REASON],
        ruleset_version=ruleset.version,
        as_of=as_of,
        account_key=person.account_key,
        withheld=WITHHELD_OPTED_OUT,
    )


def opt_out(person: PersonState, account: AccountState | None, event: EngagementEvent, ruleset: Ruleset) -> Applied:
    """Record the opt-out itself: a new version with a withheld score, recycling a qualified lead."""
    at = event.occurred_at if person.last_event_at is None else max(event.occurred_at, person.last_event_at)
    after = person.model_copy(
        update={
            "version": person.version + 1,
            "opted_out": True,
            "qualified": False,
            "qualified_lines": [],
            "last_event_at": at,
            "recent_event_ids": [*person.recent_event_ids, event.event_id][-RECENT_EVENT_IDS:],
        }
    )
    transition: Transition | None = "recycled" if person.qualified else None
    return Applied(
        person=after,
        account=account,
        awards=[],
        score=withheld_score(after, ruleset, at),
        transition=transition,
        duplicate=False,
    )


ConsentRoute = Literal["apply", "opt_in", "opt_out", "withhold", "duplicate"]


def consent_route(person: PersonState, event: EngagementEvent) -> ConsentRoute:
    """What consent does with ``event`` for ``person``. It reads neither ruleset nor score, so a replay under two
    rulesets decides it once per event."""
    said = opted_out(event.consent) if event.consent else None
    if said is True:
        return "duplicate" if event.event_id in person.recent_event_ids else "opt_out"
    if person.opted_out:
        return "opt_in" if said is False else "withhold"
    return "apply"


def apply_with_consent(
    person: PersonState, account: AccountState | None, event: EngagementEvent, ruleset: Ruleset
) -> Applied | None:
    """:func:`apply_event` unless consent says otherwise; ``None`` means the event is withheld (not applied)."""
    route = consent_route(person, event)
    if route == "withhold":
        return None
    if route == "duplicate":
        return Applied(person=person, account=account, awards=[], score=None, transition=None, duplicate=True)
    if route == "opt_out":
        return opt_out(person, account, event, ruleset)
    if route == "opt_in":
        person = person.model_copy(update={"opted_out": False})
    return apply_event(person, account, event, ruleset)


def read_score(person: PersonState, account: AccountState | None, ruleset: Ruleset, as_of: datetime) -> LeadScore:
    """:func:`score_person` for reads (lead and account APIs), withheld for people who opted out."""
    if person.opted_out:
        return withheld_score(person, ruleset, as_of)
    return score_person(person, account, ruleset, as_of)
