"""apply_event: dedup, versions, merging, purity, out-of-order events, ledger and determinism."""

from __future__ import annotations

import pytest

from peerscore.events import EngagementEvent
from peerscore.scoring.domain import AccountState, PersonState, apply_event, new_account, new_person
from peerscore.scoring.domain.decay import decay_factor

from .builders import T0, Fold, days, event, small_ruleset


def test_duplicate_event_id_is_ignored() -> None:
    fold = Fold(small_ruleset())
    first = fold.apply(event("demo.requested", T0, event_id="m-1"))
    again = fold.apply(event("demo.requested", T0 + days(1), event_id="m-1"))
    assert not first.duplicate and again.duplicate
    assert again.score is None and again.awards == [] and again.transition is None
    assert again.person == first.person and again.person.version == 1


def test_version_grows_by_one_per_applied_event_even_without_points() -> None:
    fold = Fold(small_ruleset())
    versions = [fold.apply(event(t, T0)).person.version for t in ("identify", "page.viewed", "demo.requested")]
    assert versions == [1, 2, 3]
    score = fold.results[-1].score
    assert score is not None and score.version == 3 and score.ruleset_version == fold.ruleset.version


def test_recent_event_ids_are_bounded() -> None:
    fold = Fold(small_ruleset())
    for i in range(300):
        fold.apply(event("identify", T0, event_id=f"e{i}"))
    ids = fold.people["p1"].recent_event_ids
    assert len(ids) == 256 and ids[-1] == "e299" and ids[0] == "e44"


def test_traits_email_and_account_hints_merge_newest_non_empty_wins() -> None:
    fold = Fold(small_ruleset())
    fold.apply(
        event(
            "identify",
            T0,
            email="jo@acme.com",
            traits={"title": "VP Sales", "country": "DE"},
            domain=" www.ACME.com",
            account={"name": "Acme", "employees": 300},
        )
    )
    later = fold.apply(
        event(
            "page.viewed",
            T0 + days(1),
            traits={"title": "SVP Sales"},
            domain="acme.com",
            account={"industry": "Software"},
        )
    )
    person, account = later.person, later.account
    assert (person.email, person.traits.title, person.traits.country) == ("jo@acme.com", "SVP Sales", "DE")
    assert person.account_key == "acme.com" and later.score is not None and later.score.account_key == "acme.com"
    assert account is not None
    assert (account.name, account.employees, account.industry) == ("Acme", 300, "Software")
    assert account.active_people == {"p1": T0 + days(1)}
    # An event without a domain stays with the person's account.
    third = fold.apply(event("page.viewed", T0 + days(2)))
    assert third.person.account_key == "acme.com" and third.account is not None


def test_inputs_are_not_mutated() -> None:
    ruleset = small_ruleset()
    person, account = new_person("p1"), new_account("acme.com")
    person_before, account_before = person.model_dump(), account.model_dump()
    applied = apply_event(person, account, event("page.viewed", T0, url="/pricing", domain="acme.com"), ruleset)
    assert applied.person.version == 1 and applied.person.rules
    assert person.model_dump() == person_before and account.model_dump() == account_before


def test_account_of_another_domain_is_refused() -> None:
    with pytest.raises(ValueError, match="belongs to account"):
        apply_event(
            new_person("p1"), new_account("globex.com"), event("identify", T0, domain="acme.com"), small_ruleset()
        )


def test_out_of_order_event_is_decayed_forward_to_the_latest_time() -> None:
    in_order, late = Fold(small_ruleset()), Fold(small_ruleset())
    for fold, order in ((in_order, (0, 4)), (late, (4, 0))):
        for day in order:
            fold.apply(event("page.viewed", T0 + days(day), url="/pricing"))
    expected = 10 * decay_factor(T0, T0 + days(4), 10) + 10
    for fold in (in_order, late):
        score = fold.results[-1].score
        assert score is not None and score.engagement == pytest.approx(expected, abs=0.01)
        assert score.as_of == T0 + days(4) and fold.people["p1"].last_event_at == T0 + days(4)
    # The ledger row keeps the points at the time the late event happened.
    assert [(a.points, a.occurred_at) for a in late.results[-1].awards] == [(pytest.approx(10), T0)]
    assert late.people["p1"].rules["pricing"].recent == [T0, T0 + days(4)]


def test_ledger_rows_add_up_to_the_score() -> None:
    fold = Fold(small_ruleset())
    for day, url in ((5, "/pricing"), (1, "/pricing"), (6, "/careers"), (2, "/pricing"), (7, "/pricing")):
        fold.apply(event("page.viewed", T0 + days(day), url=url))
    fold.apply(event("demo.requested", T0 + days(3)))
    as_of = T0 + days(7)
    rows = [a for r in fold.results for a in r.awards if a.group == "engagement"]
    replayed = sum(a.points * decay_factor(a.occurred_at, as_of, 10) for a in rows)
    score = fold.results[-1].score
    assert score is not None and score.engagement == pytest.approx(replayed, abs=0.01)
    assert score.engagement <= 50


def _journey() -> list[EngagementEvent]:
    events = [
        event(
            "identify",
            T0,
            person="a",
            event_id="a1",
            traits={"seniority": "VP"},
            domain="acme.com",
            account={"employees": 500},
        ),
        event("page.viewed", T0 + days(1), person="a", event_id="a2", url="/pricing"),
        event("page.viewed", T0 + days(1), person="b", event_id="b1", url="/careers", domain="acme.com"),
        event("page.viewed", T0 + days(0.5), person="a", event_id="a3", url="/pricing"),
        event("page.viewed", T0 + days(1), person="a", event_id="a2", url="/pricing"),
        event("demo.requested", T0 + days(2), person="c", event_id="c1", domain="acme.com"),
        event("demo.requested", T0 + days(3), person="a", event_id="a4"),
        event("identify", T0 + days(40), person="a", event_id="a5"),
    ]
    return events


def test_same_events_in_same_order_give_identical_states() -> None:
    events = _journey()
    runs = []
    for _ in range(2):
        fold = Fold(small_ruleset())
        for evt in events:
            fold.apply(evt)
        runs.append(fold)
    first, second = runs
    assert {k: v.model_dump(mode="json") for k, v in first.people.items()} == {
        k: v.model_dump(mode="json") for k, v in second.people.items()
    }
    assert {k: v.model_dump(mode="json") for k, v in first.accounts.items()} == {
        k: v.model_dump(mode="json") for k, v in second.accounts.items()
    }
    assert [r.dump() for r in first.results] == [r.dump() for r in second.results]
    assert first.transitions().count("qualified") == 1


def test_states_round_trip_through_json() -> None:
    fold = Fold(small_ruleset())
    for evt in _journey():
        fold.apply(evt)
    for person in fold.people.values():
        assert PersonState.model_validate(person.model_dump(mode="json")) == person
    for account in fold.accounts.values():
        assert AccountState.model_validate(account.model_dump(mode="json")) == account


@pytest.mark.parametrize("domain", ["acme.com", " WWW.Acme.COM ", "www.www.x.io", "Sub.Acme.com"])
def test_account_keys_match_the_shared_identity_rule(domain: str) -> None:
    """The worker loads accounts by ``peerscore.identity.account_key``; apply_event must agree or it refuses."""
    from peerscore.identity import account_key
    from peerscore.scoring.domain import normalise_domain

    assert normalise_domain(domain) == account_key(domain)
