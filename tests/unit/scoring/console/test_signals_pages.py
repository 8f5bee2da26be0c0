"""``/console/signals`` lists unscored signals from the report's table, and its link opens a draft rule in the
YAML editor (nothing stored until the draft is saved)."""

from __future__ import annotations

from sqlmodel import Session

from peerscore.events import EngagementEvent, utcnow
from peerscore.scoring.domain import load_default_ruleset
from peerscore.scoring.signals import record_unscored

from .test_console_pages import Console, console  # noqa: F401 - the fixture


def _seen(target: Console) -> None:
    at = utcnow()
    events = [
        EngagementEvent(
            event_id=f"e{n}",
            type="quarterly_review.booked",
            name="Quarterly Review Booked",
            source="website",
            person_key=f"p{n % 2}",
            occurred_at=at,
            received_at=at,
            properties={"webinar_id": "w1"},
        )
        for n in range(3)
    ]
    with Session(target.engine) as session, session.begin():
        record_unscored(session, load_default_ruleset(), events)


def test_the_signals_page_lists_unscored_events_and_drafts_a_rule(console: Console) -> None:  # noqa: F811
    empty = console.client.get("/console/signals")
    assert empty.status_code == 200 and "Every event in this window was scored" in empty.text
    assert 'href="/console/signals"' in empty.text  # in the navigation
    _seen(console)
    page = console.client.get("/console/signals", params={"days": 7})
    assert page.status_code == 200
    assert "quarterly_review.booked" in page.text and "properties webinar_id" in page.text
    assert "3 of 3 events" in page.text
    link = "/console/signals/draft?type=quarterly_review.booked&amp;name=Quarterly+Review+Booked"
    assert link in page.text
    draft = console.client.get(link.replace("&amp;", "&"))
    assert draft.status_code == 200
    assert (
        "id: quarterly-review-booked" in draft.text
        and "when: {type: &#x27;quarterly_review.booked&#x27;}" in draft.text
    )
    assert console.client.get("/console/signals", params={"days": 0}).status_code == 422
