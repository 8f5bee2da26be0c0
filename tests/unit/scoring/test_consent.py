"""Consent: the accepted forms, and opted-out people neither scored nor qualified until they opt back in."""

from __future__ import annotations

import pytest

from peerscore.consent import consent_from_traits, opted_out
from peerscore.events import EngagementEvent
from peerscore.scoring.domain import PersonState, Ruleset, new_person
from peerscore.scoring.domain.engine import Applied
from peerscore.scoring.identity.consent import WITHHELD_OPTED_OUT, apply_with_consent, read_score
from tests.unit.scoring.builders import T0, days, event, small_ruleset


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ({}, None),
        ({"Analytics": True}, None),
        ({"opted_out": True}, True),
        ({"opted_out": False}, False),
        ({"unsubscribed": True}, True),
        ({"doNotTrack": True}, True),
        ({"Do-Not-Contact": False}, False),
        ({"consent": False}, True),
        ({"Marketing": True}, False),
        ({"marketing": True, "unsubscribed": True}, True),
        ({"linkedin_consent:123": False, "opted_out": True}, True),
    ],
)
def test_consent_forms(consent: dict[str, bool], expected: bool | None) -> None:
    assert opted_out(consent) is expected


def test_traits_are_read_leniently() -> None:
    traits = {"unsubscribed": "yes", "optOut": 0, "consent": "maybe", "email": "a@b.c", "marketing_consent": True}
    assert consent_from_traits(traits) == {"unsubscribed": True, "opt_out": False, "marketing_consent": True}


def with_consent(evt: EngagementEvent, **consent: bool) -> EngagementEvent:
    return evt.model_copy(update={"consent": consent})


def apply(person: PersonState, evt: EngagementEvent, ruleset: Ruleset) -> Applied | None:
    return apply_with_consent(person, None, evt, ruleset)


def qualified_vp(ruleset: Ruleset) -> PersonState:
    person = new_person("p1")
    for evt in (event("identify", T0, traits={"seniority": "vp"}), event("demo.requested", T0 + days(1))):
        applied = apply(person, evt, ruleset)
        assert applied is not None
        person = applied.person
    assert person.qualified
    return person


def test_opting_out_withholds_the_score_and_recycles_the_lead() -> None:
    ruleset = small_ruleset()
    person = qualified_vp(ruleset)

    applied = apply(person, with_consent(event("identify", T0 + days(2)), unsubscribed=True), ruleset)

    assert applied is not None and applied.score is not None
    assert applied.transition == "recycled"
    assert applied.score.withheld == WITHHELD_OPTED_OUT
    assert (applied.score.total, applied.score.fit, applied.score.qualified) == (0.0, 0.0, False)
    assert applied.score.reasons and "Opted out" in applied.score.reasons[0]
    assert applied.person.opted_out and not applied.person.qualified
    assert applied.awards == []
    assert applied.person.rules == person.rules, "opting out is not erasure: the points stay in the state"


def test_events_while_opted_out_are_not_applied_and_opting_in_restores_scoring() -> None:
    ruleset = small_ruleset()
    person = qualified_vp(ruleset)
    out = apply(person, with_consent(event("identify", T0 + days(2)), opted_out=True), ruleset)
    assert out is not None
    person = out.person

    assert apply(person, event("page.viewed", T0 + days(3), url="/pricing"), ruleset) is None
    assert apply(person, event("demo.requested", T0 + days(3)), ruleset) is None

    back = apply(person, with_consent(event("demo.requested", T0 + days(3)), opted_out=False), ruleset)
    assert back is not None and back.score is not None
    assert not back.person.opted_out and back.score.withheld is None
    assert back.transition == "qualified" and back.score.total > 0
    assert back.awards, "the opt-in event itself is scored"


def test_a_repeated_opt_out_event_is_a_duplicate() -> None:
    ruleset = small_ruleset()
    evt = with_consent(event("identify", T0, event_id="same"), opted_out=True)
    first = apply(new_person("p1"), evt, ruleset)
    assert first is not None
    again = apply(first.person, evt, ruleset)
    assert again is not None and again.duplicate


def test_reads_show_the_withheld_score_while_opted_out() -> None:
    ruleset = small_ruleset()
    person = qualified_vp(ruleset)
    assert read_score(person, None, ruleset, T0 + days(2)).total > 0
    out = apply(person, with_consent(event("identify", T0 + days(2)), opted_out=True), ruleset)
    assert out is not None
    shown = read_score(out.person, None, ruleset, T0 + days(3))
    assert (shown.total, shown.withheld) == (0.0, WITHHELD_OPTED_OUT)
