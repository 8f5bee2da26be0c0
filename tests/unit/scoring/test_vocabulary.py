"""The default ruleset knows the common B2B vocabulary, and a ruleset's aliases score other wordings alike.

The spec event names are written out here from Segment's published specs (B2B SaaS and Email), not derived from
the ruleset, so a rule dropped from the default ruleset fails this test.
"""

from __future__ import annotations

import pytest

from peerscore.events import event_type_for
from peerscore.scoring.domain import Applied, Ruleset, RulesetError, apply_event, load_default_ruleset, new_person

from .builders import T0, event, small_ruleset

SEGMENT_B2B_SAAS = [
    "Account Created",
    "Account Deleted",
    "Signed Up",
    "Signed In",
    "Signed Out",
    "Invite Sent",
    "Account Added User",
    "Account Removed User",
    "Trial Started",
    "Trial Ended",
]
SEGMENT_EMAIL = [
    "Email Bounced",
    "Email Delivered",
    "Email Link Clicked",
    "Email Marked as Spam",
    "Email Opened",
    "Unsubscribed",
]
SALES_AND_PRODUCT = [
    "Meeting Booked",
    "Call Completed",
    "Email Replied",
    "Trial Activated",
    "Requested a Demo",
    "Contact Sales",
    "Feature Used",
    "Integration Connected",
]


def _applied(ruleset: Ruleset, name: str) -> Applied:
    """A first event of this track name, typed the way ingest types track calls."""
    return apply_event(new_person("p1"), None, event(event_type_for(name) or "", T0, name=name), ruleset)


def _awards(ruleset: Ruleset, name: str) -> list[tuple[str, float]]:
    return [(award.rule_id, award.points) for award in _applied(ruleset, name).awards]


def _matched(ruleset: Ruleset, name: str) -> set[str]:
    """The rules that counted the event (a negative rule on an empty group counts it and awards nothing)."""
    return set(_applied(ruleset, name).person.rules)


@pytest.mark.parametrize("name", SEGMENT_B2B_SAAS + SEGMENT_EMAIL + SALES_AND_PRODUCT)
def test_every_spec_event_is_scored_or_deliberately_neutral(name: str) -> None:
    ruleset = load_default_ruleset()
    matched = _matched(ruleset, name)
    neutral = event_type_for(name) in ruleset.index().neutral
    assert bool(matched) != neutral, f"{name!r}: rules {matched}, neutral {neutral}"


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("Requested a Demo", "Demo Requested"),
        ("Request Demo", "Demo Requested"),
        ("Account Created", "Signed Up"),
        ("Meeting Scheduled", "Meeting Booked"),
    ],
)
def test_an_alias_scores_exactly_like_its_rule(alias: str, canonical: str) -> None:
    ruleset = load_default_ruleset()
    assert _awards(ruleset, alias) == _awards(ruleset, canonical) != []
    assert _matched(ruleset, alias) == _matched(ruleset, canonical)


def test_without_the_alias_the_wording_is_unscored() -> None:
    plain = small_ruleset()
    aliased = small_ruleset(**{"rules:\n": "aliases:\n  demo.requested: [Requested a Demo]\nrules:\n"})
    assert _awards(plain, "Requested a Demo") == []
    assert _awards(aliased, "Requested a Demo") == [("demo", 40.0)]
    assert aliased.index().scoring_key != plain.index().scoring_key  # backtests see aliases as a scoring change


def _problems(section: str) -> list[tuple[str, str]]:
    with pytest.raises(RulesetError) as caught:
        small_ruleset(**{"rules:\n": section + "rules:\n"})
    return [(problem.path, problem.message) for problem in caught.value.errors]


def test_aliases_that_cannot_work_are_refused_with_their_path() -> None:
    found = _problems(
        "aliases:\n"
        "  quote.requested: [Request a Quote]\n"
        "  demo.requested: [Demo Requested, '---', Book a Demo]\n"
        "  signed.up: [book_a.demo]\n"
        "neutral: [Demo Requested]\n"
    )
    messages = "\n".join(f"{path}: {message}" for path, message in found)
    assert "no rule scores events of type 'quote.requested'" in messages
    assert "already is type 'demo.requested'" in messages
    assert "at least one letter or digit" in messages
    assert "already an alias of 'demo.requested'" in messages
    assert "it is not neutral" in messages
