"""The shipped ruleset on realistic journeys: a researching VP qualifies, a job-hunting student does not."""

from __future__ import annotations

import pytest

from peerscore.events import EngagementEvent
from peerscore.scoring.domain import load_default_ruleset

from .builders import T0, Fold, days, event

VP = {"title": "VP of Marketing", "seniority": "vp", "function": "marketing", "country": "US"}
SOFTWARE_500 = {"name": "Acme", "employees": 500, "industry": "Software"}


def test_vp_researching_through_peers_qualifies_with_readable_reasons() -> None:
    fold = Fold(load_default_ruleset())
    journey = [
        event(
            "page.viewed",
            T0,
            email="jane@acme.com",
            traits=VP,
            domain="acme.com",
            account=SOFTWARE_500,
            url="https://acme-vendor.io/blog/lead-scoring-101",
        ),
        event("case_study.viewed", T0 + days(1), properties={"url": "https://acme-vendor.io/customers/globex"}),
        *[event("page.viewed", T0 + days(2 + i / 24), url="https://acme-vendor.io/pricing") for i in range(3)],
        event("review_site.visited", T0 + days(3), properties={"site": "g2", "page_type": "comparison"}),
        event("demo.requested", T0 + days(4)),
    ]
    for evt in journey:
        fold.apply(evt)
    final = fold.results[-1]
    assert final.score is not None and final.person.qualified
    assert fold.transitions().count("qualified") == 1 and "recycled" not in fold.transitions()
    score = final.score
    assert (score.grade, score.level) == ("A", 3)
    assert score.fit == 70  # VP 25 + marketing 10 + 500 employees 20 + software 15
    assert score.total == score.fit + score.engagement + score.intent
    assert score.reasons[:3] == ["Requested a demo", "Viewed pricing 3× in the last 7 days", "VP-level title"]
    review = fold.results[-2]
    assert review.transition == "qualified" and review.score is not None
    assert "Compared us with a competitor on a review site" in review.score.reasons
    assert score.account_key == "acme.com" and score.version == len(journey)


def test_student_with_gmail_reading_careers_pages_does_not_qualify() -> None:
    fold = Fold(load_default_ruleset())
    fold.apply(event("identify", T0, email="sam.student@gmail.com", traits={"title": "Marketing Student"}))
    for i in range(5):
        fold.apply(event("page.viewed", T0 + days(i), url="https://acme-vendor.io/careers/open-roles"))
    fold.apply(event("page.viewed", T0 + days(5), url="https://acme-vendor.io/blog/how-to-get-hired"))
    final = fold.results[-1]
    assert final.score is not None and not final.person.qualified
    assert set(fold.transitions()) == {None}
    assert (final.score.fit, final.score.grade) == (0, "D")
    assert final.score.reasons[-1] == "Student or intern"


def test_colleagues_at_one_account_show_in_published_reasons_without_points() -> None:
    fold = Fold(load_default_ruleset())
    for i, person in enumerate(("ann", "bob", "cy")):
        fold.apply(event("page.viewed", T0 + days(i), person=person, domain="acme.com", url="/compare/us-vs-them"))
    stored, published = fold.results[-1].score, fold.published[-1]
    assert stored is not None and published is not None
    assert [a.rule_id for a in fold.results[-1].awards] == ["comparison-page"]
    assert stored.intent == published.intent == 12
    assert published.reasons[0] == "2 colleagues at acme.com active this week"
    assert "2 colleagues at acme.com active this week" not in stored.reasons


@pytest.mark.parametrize(
    ("evt", "rule_ids"),
    [
        (event("review_site.visited", T0, properties={"page_type": "profile"}), ["review-site-visit"]),
        (
            event("review_site.visited", T0, properties={"page_type": "alternatives"}),
            ["review-site-visit", "review-site-comparison"],
        ),
        (
            event("review_site.visited", T0, properties={"page_type": "pricing"}),
            ["review-site-visit", "review-site-pricing"],
        ),
        (event("page.viewed", T0, url="https://v.io/compare/hubspot"), ["comparison-page"]),
        (event("page.viewed", T0, url="https://v.io/blog/us-vs-them"), ["blog-page", "comparison-page"]),
        (event("page.viewed", T0, url="https://v.io/canvas-tips"), []),
        (event("page.viewed", T0, url="https://v.io/vs/them"), ["comparison-page"]),
        (event("page.viewed", T0, url="https://v.io/alternatives"), ["comparison-page"]),
        (event("page.viewed", T0, properties={"path": "/case-studies/globex"}), ["case-study"]),
        (event("page.viewed", T0, url="https://v.io/customers"), ["case-study"]),
        (event("case_study.viewed", T0), ["case-study"]),
        (event("linkedin.post.engaged", T0, properties={"action": "like"}), ["linkedin-post-engaged"]),
        (
            event("linkedin.post.engaged", T0, properties={"action": "comment"}),
            ["linkedin-post-engaged", "linkedin-comment"],
        ),
        (event("linkedin.lead_form.submitted", T0), ["linkedin-lead-form"]),
        (event("webinar.question_asked", T0), ["webinar-question"]),
        (event("track", T0, name="Demo Requested"), ["demo-requested"]),
        (event("page.viewed", T0, url="https://v.io/pricing"), ["pricing-page"]),
        (event("page.viewed", T0, url="https://v.io/demo"), ["demo-page"]),
        (event("content.downloaded", T0), ["content-downloaded"]),
        (event("webinar.registered", T0), ["webinar-registered"]),
        (event("webinar.attended", T0), ["webinar-attended"]),
        (event("form.submitted", T0), ["form-submitted"]),
        (event("email_link.clicked", T0), ["email-link-clicked"]),
        (event("trial.started", T0), ["trial-started"]),
        (event("signed.up", T0), ["signed-up"]),
        (event("page.viewed", T0, url="https://v.io/blog/post"), ["blog-page"]),
    ],
)
def test_default_rules_recognise_common_events(evt: EngagementEvent, rule_ids: list[str]) -> None:
    applied = Fold(load_default_ruleset()).apply(evt)
    assert [a.rule_id for a in applied.awards] == rule_ids


@pytest.mark.parametrize("url", ["https://v.io/careers", "https://v.io/jobs/123"])
def test_default_careers_pages_take_points_back(url: str) -> None:
    fold = Fold(load_default_ruleset())
    fold.apply(event("page.viewed", T0, url="https://v.io/pricing"))
    applied = fold.apply(event("page.viewed", T0, url=url))
    assert [(a.rule_id, a.points) for a in applied.awards] == [("careers-page", -10)]


def test_default_unsubscribe_takes_points_back() -> None:
    fold = Fold(load_default_ruleset())
    fold.apply(event("demo.requested", T0))
    applied = fold.apply(event("email.unsubscribed", T0))
    assert [(a.rule_id, a.points) for a in applied.awards] == [("unsubscribed", -20)]
    assert applied.score is not None and applied.score.reasons[-1] == "Unsubscribed from our emails"
