"""The signal profile each person state carries for the model: bounded, ruleset-free, and backward compatible.

Both folds keep it through the same code (their parity is ``test_working_fold_parity``); here: what it counts,
that it stays bounded, that states stored before it existed still load, fold and score, and what it costs in
stored bytes per person.
"""

from __future__ import annotations

import json
from datetime import timedelta

from peerscore.scoring.domain import PersonState, apply_event, load_default_ruleset, new_person, score_person
from peerscore.scoring.domain.activity import MAX_TYPES, OTHER_TYPE, WINDOW_DAYS
from peerscore.scoring.domain.channels import channel_of
from peerscore.scoring.domain.working import WorkingPerson
from peerscore.scoring.predictive.features import feature_spec, feature_vector

from .builders import T0, days, event, small_ruleset

RULESET = small_ruleset()


def _fold(events: list, person: PersonState | None = None) -> PersonState:
    state = person or new_person("p1")
    for e in events:
        state = apply_event(state, None, e, RULESET).person
    return state


def test_counts_every_activity_type_with_windows_sessions_and_pages() -> None:
    events = [
        event("page.viewed", T0, url="https://x.io/pricing"),
        event("integration.connected", T0 + timedelta(minutes=10)),  # no rule names it
        event("identify", T0 + timedelta(minutes=11), traits={"seniority": "vp"}),  # who, not what: not counted
        event("integration.connected", T0 + timedelta(minutes=50)),  # 40 min later: a second session
        event("page.viewed", T0 + days(20), url="https://x.io/docs/api"),
    ]
    profile = _fold(events).signals
    assert {k: c.n for k, c in profile.types.items()} == {"page.viewed": 2, "integration.connected": 2}
    assert set(profile.pages) == {"pricing", "docs"}
    assert profile.sessions == 3
    assert profile.gaps == 40 * 60 + (days(20) - timedelta(minutes=50)).total_seconds()
    connected = profile.types["integration.connected"]
    as_of = int((T0 + days(20)).timestamp())
    assert connected.in_window(as_of, 7) == 0 and connected.in_window(as_of, 30) == 2


def test_the_profile_stays_bounded() -> None:
    many = [event(f"custom{i}.done", T0 + timedelta(hours=i)) for i in range(MAX_TYPES + 10)]
    profile = _fold(many).signals
    assert len(profile.types) == MAX_TYPES + 1 and profile.types[OTHER_TYPE].n == 10
    daily = [event("page.viewed", T0 + days(d)) for d in range(200)]
    counted = _fold(daily).signals.types["page.viewed"]
    assert counted.n == 200 and len(counted.days) == WINDOW_DAYS


def test_channels_from_utm_linkedin_and_referrers() -> None:
    def channel(**properties: object) -> str | None:
        return channel_of(event("page.viewed", T0, properties=dict(properties)))

    assert channel(url="https://x.io/?utm_source=linkedin&utm_medium=paid_social") == "linkedin_paid"
    assert channel(utm_source="newsletter", utm_medium="email") == "email"
    assert channel(referrer="https://www.g2.com/products/x/reviews") == "review"
    assert channel(referrer="https://www.google.com/") == "search"
    assert channel(referrer="https://www.linkedin.com/feed/") == "linkedin_organic"
    assert channel(referrer="https://someblog.example/post") == "referral"
    assert channel() == "direct"
    assert channel_of(event("trial.started", T0)) is None
    form = event("linkedin.lead_form.submitted", T0, properties={"campaign": "urn:li:sponsoredCampaign:1"})
    assert channel_of(form) == "linkedin_paid"
    profile = _fold([event("page.viewed", T0, properties={"referrer": "https://google.com"}), form]).signals
    assert (profile.first_channel, profile.last_channel) == ("search", "linkedin_paid")


def test_a_state_stored_without_a_profile_loads_folds_and_scores() -> None:
    """States written before the profile existed: they load with an empty one, keep folding (both folds) and
    score; their features are those of a person whose earlier signals are unknown (zeros), never an error."""
    ruleset = load_default_ruleset()
    person = new_person("p1")
    for n, kind in enumerate(["page.viewed", "demo.requested", "integration.connected"]):
        e = event(kind, T0 + timedelta(hours=n), url="/pricing", email="ann@acme.com", domain="acme.com")
        person = apply_event(person, None, e, ruleset).person
    stored = json.loads(person.model_dump_json())
    del stored["signals"]
    old = PersonState.model_validate(stored)
    assert old.signals.types == {} and old.rules == person.rules
    assert (
        score_person(old, None, ruleset, T0 + days(1)).total == score_person(person, None, ruleset, T0 + days(1)).total
    )
    later = event("page.viewed", T0 + days(1), url="/pricing")
    immutable = apply_event(old, None, later, ruleset).person
    working = WorkingPerson(old)
    working.fold(later, ruleset)
    assert working.state().model_dump_json() == immutable.model_dump_json()
    assert immutable.signals.types["page.viewed"].n == 1  # counted from here on
    spec = feature_spec(ruleset)
    assert feature_vector(immutable, {}, ruleset, spec, T0 + days(1)).shape == (len(spec.names),)


def test_stored_bytes_per_person_before_and_after() -> None:
    """A typical researching buyer (a month, ~25 events, 6 types): what the profile adds to the stored row."""
    ruleset = load_default_ruleset()
    kinds = ["page.viewed", "page.viewed", "webinar.attended", "content.downloaded", "integration.connected", "x.y"]
    urls = ["/pricing", "/blog/a", None, None, None, None]
    person = new_person("p1")
    for n in range(25):
        at = T0 + timedelta(days=n * 1.3, minutes=n * 7)
        props = {"referrer": "https://www.google.com/"} if n % 5 == 0 else {}
        e = event(kinds[n % 6], at, url=urls[n % 6], email="ann@acme.com", domain="acme.com", properties=props)
        person = apply_event(person, None, e, ruleset).person
    after = len(person.model_dump_json())
    before = len(person.model_copy(update={"signals": PersonState(person_key="p1").signals}).model_dump_json())
    without = len(person.model_dump_json(exclude={"signals"}))
    print(f"\nstored state bytes per person: {without} without the profile, {after} with it (+{after - without})")
    assert before <= without + 200 and after - without < 1500
