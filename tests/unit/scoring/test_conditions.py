"""Each kind of condition matches what a marketer would expect, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from peerscore.events import PersonTraits
from peerscore.scoring.domain.conditions import Conditions
from peerscore.scoring.domain.matching import Facts, matches
from peerscore.scoring.domain.state import AccountState

from .builders import T0, days, event

ACME = AccountState(
    account_key="acme.com",
    domain="acme.com",
    employees=500,
    industry="Software",
    region="EMEA",
    active_people={"p1": T0, "p2": T0 - days(1), "p3": T0 - days(3), "p4": T0 - days(20)},
)


def facts(
    evt: Any = None,
    *,
    traits: dict[str, str] | None = None,
    email_domain: str | None = None,
    account: AccountState | None = ACME,
) -> Facts:
    return Facts(
        person_key="p1",
        traits=PersonTraits(**(traits or {})),
        email_domain=email_domain,
        account=account,
        at=T0,
        event=evt,
    )


def when(**spec: Any) -> Conditions:
    return Conditions.model_validate(spec)


@pytest.mark.parametrize(
    ("spec", "evt", "expected"),
    [
        ({"type": "page.viewed"}, event("page.viewed", T0), True),
        ({"type": "page.viewed"}, event("content.downloaded", T0), False),
        ({"type": ["demo.requested", "trial.started"]}, event("trial.started", T0), True),
        ({"name": "Demo Requested"}, event("track", T0, name="demo requested"), True),
        ({"name": "Demo Requested"}, event("track", T0, name="Signed Up"), False),
        ({"url_matches": "/pricing"}, event("page.viewed", T0, url="https://x.io/Pricing?a=1"), True),
        ({"url_matches": "/pricing"}, event("page.viewed", T0, properties={"path": "/pricing/teams"}), True),
        ({"url_matches": "/pricing"}, event("page.viewed", T0, url="https://x.io/blog"), False),
        ({"url_matches": "/pricing"}, event("page.viewed", T0), False),
        ({"title_matches": "vs\\.? "}, event("page.viewed", T0, properties={"title": "Us vs. Them"}), True),
        ({"title_matches": "vs\\.? "}, event("page.viewed", T0, properties={"title": "Pricing"}), False),
    ],
)
def test_event_conditions(spec: dict[str, Any], evt: Any, expected: bool) -> None:
    assert matches(when(**spec), facts(evt)) is expected


@pytest.mark.parametrize(
    ("test", "value", "expected"),
    [
        ("comparison", "Comparison", True),
        ("comparison", "pricing", False),
        (["comparison", "alternatives"], "alternatives", True),
        (["comparison", "alternatives"], "profile", False),
        ({"min": 60}, 90, True),
        ({"min": 60}, "90", True),
        ({"min": 60}, 30, False),
        ({"min": 10, "max": 20}, 21, False),
        ({"min": 10}, "long", False),
        ({"equals": 3}, 3.0, True),
        ({"equals": True}, True, True),
        ({"equals": True}, 1, False),
        ("comparison", None, False),
    ],
)
def test_property_conditions(test: Any, value: Any, expected: bool) -> None:
    properties = {} if value is None else {"page_type": value}
    evt = event("review_site.visited", T0, properties=properties)
    assert matches(when(properties={"page_type": test}), facts(evt)) is expected


def test_all_listed_conditions_must_hold() -> None:
    spec = when(type="review_site.visited", properties={"page_type": "comparison"})
    assert matches(spec, facts(event("review_site.visited", T0, properties={"page_type": "comparison"})))
    assert not matches(spec, facts(event("page.viewed", T0, properties={"page_type": "comparison"})))


@pytest.mark.parametrize(
    ("person", "traits", "email_domain", "expected"),
    [
        ({"title_matches": r"\bvp\b"}, {"title": "VP Marketing"}, None, True),
        ({"title_matches": r"\bvp\b"}, {"title": "MVP engineer"}, None, False),
        ({"title_matches": r"\bvp\b"}, {}, None, False),
        ({"seniority": ["vp", "director"]}, {"seniority": "Director"}, None, True),
        ({"seniority": "vp"}, {"seniority": "manager"}, None, False),
        ({"function": "marketing"}, {"function": "Marketing"}, None, True),
        ({"country": ["de", "fr"]}, {"country": "DE"}, None, True),
        ({"country": ["de", "fr"]}, {}, None, False),
        ({"email_domain": ["gmail.com"]}, {}, "gmail.com", True),
        ({"email_domain": ["gmail.com"]}, {}, "acme.com", False),
    ],
)
def test_person_conditions(
    person: dict[str, Any], traits: dict[str, str], email_domain: str | None, expected: bool
) -> None:
    assert matches(when(person=person), facts(traits=traits, email_domain=email_domain)) is expected


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ({"employees": {"min": 200, "max": 1000}}, True),
        ({"employees": {"min": 501}}, False),
        ({"employees": {"max": 500}}, True),
        ({"industry": ["software", "saas"]}, True),
        ({"industry": "fintech"}, False),
        ({"region": "emea"}, True),
        ({"region": "na"}, False),
        ({"domain": ["acme.com"]}, True),
        ({"domain": ["globex.com"]}, False),
    ],
)
def test_account_conditions(account: dict[str, Any], expected: bool) -> None:
    assert matches(when(account=account), facts()) is expected


def test_account_conditions_never_match_without_an_account() -> None:
    assert not matches(when(account={"employees": {"max": 10_000}}), facts(account=None))


def test_any_offers_alternatives() -> None:
    spec = when(any=[{"type": "pricing.viewed"}, {"type": "page.viewed", "url_matches": "/pricing"}])
    assert matches(spec, facts(event("pricing.viewed", T0)))
    assert matches(spec, facts(event("page.viewed", T0, url="/pricing")))
    assert not matches(spec, facts(event("page.viewed", T0, url="/blog")))


def test_event_conditions_never_match_without_an_event() -> None:
    assert not matches(when(type="page.viewed"), facts())
    assert matches(when(person={"seniority": "vp"}), facts(traits={"seniority": "VP"}))
