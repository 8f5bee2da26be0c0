"""A draft rule for an unscored signal parses, goes first under ``rules:`` and scores that kind of event only."""

from __future__ import annotations

from importlib.resources import files

from peerscore.scoring.console.signal_drafts import with_draft_rule
from peerscore.scoring.domain import load_default_ruleset, parse_ruleset
from peerscore.scoring.domain.signals import is_unscored

from ..builders import T0, event

DEFAULT = files("peerscore.scoring.domain").joinpath("default_ruleset.yaml").read_text(encoding="utf-8")


def test_a_track_event_draft_scores_its_type() -> None:
    text = with_draft_rule(
        DEFAULT, load_default_ruleset(), type_="meeting.rescheduled", name="Meeting Rescheduled", page=""
    )
    ruleset = parse_ruleset(text)
    first = ruleset.rules[0]
    assert (first.id, first.group, first.points) == ("meeting-rescheduled", "engagement", 5)
    assert text.index("id: meeting-rescheduled") > text.index("\nrules:")
    assert not is_unscored(event("meeting.rescheduled", T0, name="Meeting Rescheduled"), ruleset)


def test_a_page_draft_names_the_page_or_its_class_not_every_page() -> None:
    named = parse_ruleset(
        with_draft_rule(DEFAULT, load_default_ruleset(), type_="page.viewed", name="About us", page="other")
    )
    assert not is_unscored(event("page.viewed", T0, name="About us", url="/about"), named)
    assert is_unscored(event("page.viewed", T0, name="Team", url="/team"), named)
    ruleset = load_default_ruleset()
    classed = parse_ruleset(with_draft_rule(DEFAULT, ruleset, type_="page.viewed", name="", page="careers"))
    assert classed.rules[0].when.url_matches == "/careers"
    assert classed.rules[0].reason == "Viewed a careers page"


def test_ids_stay_unique_and_reasons_hold_no_placeholders() -> None:
    ruleset = load_default_ruleset()
    taken = ruleset.rules[-1].when.type
    assert taken
    text = with_draft_rule(DEFAULT, ruleset, type_=taken[0], name="Odd {name}", page="")
    parsed = parse_ruleset(text)
    assert len({r.id for r in parsed.rules}) == len(parsed.rules)
    assert parsed.rules[0].reason == "Odd (name)"
