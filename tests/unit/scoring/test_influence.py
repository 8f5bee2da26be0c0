"""Content and channel influence, the pure parts: what a stored event is as a touch (content item, channel,
earned or paid), and how touches and conversions are counted, lifted and attributed."""

from __future__ import annotations

import pytest

from peerscore.scoring.domain.attribution import influence_of as influence
from peerscore.scoring.domain.attribution import lift, position_weights, report_rows
from peerscore.scoring.domain.influence import Touch, content_item, referrer_class, touch_of, utm

AT = "2026-10-01T12:00:00Z"


def _page(path: str, **page: str) -> dict[str, object]:
    return {"type": "page.viewed", "source": "segment", "occurred_at": AT, "properties": {"path": path, **page}}


@pytest.mark.parametrize(
    ("path", "item"),
    [
        ("/pricing", "page:pricing"),
        ("/demo", "page:demo"),
        ("/compare/acme-vs-us", "page:comparison"),
        ("/customers/harbor", "page:customers"),
        ("/docs/api", "page:docs"),
        ("/careers", "page:careers"),
        ("/blog/peer-research", "page:blog"),
        ("/webinars/q4", "page:webinar"),
        ("/downloads/guide.pdf", "page:asset"),
        ("/about", "page:other"),
    ],
)
def test_pages_are_classed_by_path(path: str, item: str) -> None:
    assert content_item("page.viewed", "", {"path": path}) == item


def test_other_content_items() -> None:
    assert content_item("linkedin.post.engaged", "", {"post": "urn:li:share:1"}) == "linkedin_post:urn:li:share:1"
    assert content_item("whitepaper.downloaded", "Whitepaper Downloaded", {"title": "Guide"}) == "asset:Guide"
    assert content_item("webinar.attended", "Webinar Attended", {}) == "webinar:Webinar Attended"
    assert content_item("review_site.visited", "", {"site": "G2"}) == "review:g2"
    assert content_item("demo.requested", "Demo Requested", {}) == "event:demo.requested"
    assert content_item("page.viewed", "", {"url": "https://x.example/pricing?a=1"}) == "page:pricing"


@pytest.mark.parametrize(
    ("referrer", "kind"),
    [
        ("", "direct"),
        ("https://www.google.co.uk/search?q=x", "search"),
        ("https://www.g2.com/products/x", "review_site"),
        ("https://capterra.com/p/1", "review_site"),
        ("https://www.trustradius.com/x", "review_site"),
        ("https://www.linkedin.com/feed/", "linkedin"),
        ("https://lnkd.in/abc", "linkedin"),
        ("https://twitter.com/a", "social"),
        ("https://news.example.org/", "other"),
        ("not a url at all ::", "other"),
    ],
)
def test_referrer_classes(referrer: str, kind: str) -> None:
    assert referrer_class(referrer) == kind


def test_utm_from_properties_a_campaign_object_or_the_query_string() -> None:
    assert utm({"utm_source": "Google", "utm_medium": "CPC"}) == {"source": "google", "medium": "cpc", "campaign": ""}
    assert utm({"campaign": {"name": "Q4", "source": "news", "medium": "email"}})["campaign"] == "q4"
    assert utm({"search": "?utm_source=linkedin&utm_medium=paid-social&utm_campaign=abm"}) == {
        "source": "linkedin",
        "medium": "paid-social",
        "campaign": "abm",
    }
    assert utm({}) == {"source": "", "medium": "", "campaign": ""}


def test_earned_and_paid_touches() -> None:
    paid = touch_of(_page("/pricing", search="?utm_source=google&utm_medium=cpc&utm_campaign=brand"))
    assert paid is not None and paid.paid == 1 and paid.source == "google" and paid.campaign == "brand"
    assert paid.linkedin == "" and paid.referrer == "direct"
    earned = touch_of(_page("/pricing", referrer="https://www.g2.com/x"))
    assert earned is not None and earned.paid == 0 and earned.source == "(none)" and earned.referrer == "review_site"
    sponsored = touch_of(_page("/demo", search="?utm_source=linkedin&utm_medium=paid-social"))
    assert sponsored is not None and sponsored.linkedin == "paid" and sponsored.referrer == "linkedin"
    organic = touch_of(
        {"type": "linkedin.post.engaged", "source": "linkedin", "occurred_at": AT, "properties": {"post": "urn:p"}}
    )
    assert organic is not None and organic.linkedin == "organic" and organic.paid == 0
    form = touch_of({"type": "linkedin.lead_form.submitted", "source": "linkedin", "occurred_at": AT})
    assert form is not None and form.linkedin == "paid" and form.paid == 1


def test_profile_system_and_deletion_events_are_not_touches() -> None:
    for kind in ("identify", "group", "alias", "system.decay_check", "linkedin.lead_form.deleted"):
        assert touch_of({"type": kind, "source": "x", "occurred_at": AT}) is None


def test_position_weights() -> None:
    assert position_weights(0) == []
    assert position_weights(1) == [1.0]
    assert position_weights(2) == [0.5, 0.5]
    assert position_weights(3) == pytest.approx([0.4, 0.2, 0.4])
    assert position_weights(6) == pytest.approx([0.4, 0.05, 0.05, 0.05, 0.05, 0.4])
    assert sum(position_weights(9)) == pytest.approx(1.0)


def _touch(at: int, content: str, paid: int = 0, source: str = "(none)") -> Touch:
    return Touch(at, content, source, "(none)", "(none)", "direct", "", paid)


def _row(
    rows: list[dict[str, object]], item: str, split: str = "earned", dimension: str = "content"
) -> dict[str, object]:
    return next(r for r in rows if (r["dimension"], r["item"], r["split"]) == (dimension, item, split))


def test_counts_only_conversions_after_the_touch_and_lift_over_the_untouched() -> None:
    people = [
        ([_touch(10, "page:pricing"), _touch(20, "page:blog")], {"won": 30, "opportunity": 25}),
        ([_touch(10, "page:blog"), _touch(40, "page:pricing")], {"won": 30}),  # pricing came after the win
        ([_touch(10, "page:blog")], {}),
        ([_touch(10, "page:docs")], {"won": 50}),
    ]
    report = influence(people)
    assert report.people == 4 and report.converted["won"] == 3
    rows = report_rows(report)
    pricing = _row(rows, "page:pricing")
    assert pricing["touched"] == 2 and pricing["wins"] == 1 and pricing["opportunities"] == 1
    # touched: 1 of 2 won after pricing; the other two people: 1 of 2 won after their first touch
    assert pricing["lift_won"] == pytest.approx(1.0)
    blog = _row(rows, "page:blog")
    assert blog["touched"] == 3 and blog["wins"] == 2
    assert blog["lift_won"] == pytest.approx((2 / 3) / (1 / 1))
    assert _row(rows, "page:docs")["lift_won"] == pytest.approx(1 / (2 / 3))
    alone = report_rows(influence([([_touch(1, "x")], {"won": 2}), ([_touch(1, "y")], {})]))
    assert _row(alone, "x")["lift_won"] is None  # nobody untouched converted: no rate to compare with
    assert _row(alone, "y")["lift_won"] == 0


def test_first_last_and_position_based_credit_use_touches_before_the_conversion() -> None:
    touches = [_touch(1, "a"), _touch(2, "b", paid=1), _touch(3, "c"), _touch(4, "d"), _touch(9, "late")]
    rows = report_rows(influence([(touches, {"won": 5})]))
    assert _row(rows, "a")["first_won"] == 1 and _row(rows, "a")["last_won"] == 0
    assert _row(rows, "d")["last_won"] == 1
    assert _row(rows, "a")["position_won"] == pytest.approx(0.4)
    assert _row(rows, "b", "paid")["position_won"] == pytest.approx(0.1)
    assert _row(rows, "c")["position_won"] == pytest.approx(0.1)
    assert _row(rows, "d")["position_won"] == pytest.approx(0.4)
    assert _row(rows, "late")["position_won"] == 0 and _row(rows, "late")["wins"] == 0
    assert sum(float(r["position_won"]) for r in rows if r["dimension"] == "content") == pytest.approx(1.0)


def test_a_window_leaves_older_touches_and_their_people_out() -> None:
    report = influence([([_touch(10, "old")], {"won": 11}), ([_touch(100, "new")], {})], since=50)
    rows = report_rows(report)
    assert report.people == 1 and {r["item"] for r in rows if r["dimension"] == "content"} == {"new"}


def test_lift_needs_untouched_people() -> None:
    report = influence([([_touch(1, "a")], {"won": 2})])
    assert lift(report.rows[("content", "a", "earned")], report, "won") is None
