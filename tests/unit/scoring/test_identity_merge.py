"""Pure identity merges: orientation, idempotent ids, and "ledger = score" after folding one person into another."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from peerscore.events import PersonIdentifiers
from peerscore.identity import identifier_keys, person_key
from peerscore.scoring.domain import PersonState, Ruleset, score_person
from peerscore.scoring.domain.engine import Award
from peerscore.scoring.identity.merge import (
    Transfer,
    apply_transfer,
    instruction,
    merge_people,
    merges_for,
)
from tests.unit.scoring.builders import T0, Fold, days, event, small_ruleset

SECRET = b"unit-secret"


def decayed_sum(awards: list[Award], group: str, ruleset: Ruleset, at: datetime) -> float:
    half_life = ruleset.groups[group].half_life_days
    total = 0.0
    for a in awards:
        if a.group != group:
            continue
        factor = 1.0 if half_life is None else 0.5 ** ((at - a.occurred_at) / timedelta(days=half_life))
        total += a.points * factor
    return total


def assert_ledger_is_score(person: PersonState, awards: list[Award], ruleset: Ruleset, at: datetime) -> None:
    score = score_person(person, None, ruleset, at)
    for group, spec in ruleset.groups.items():
        raw = decayed_sum(awards, group, ruleset, at)
        expected = max(0.0, min(raw, spec.cap)) if spec.cap is not None else max(0.0, raw)
        assert score.groups[group] == pytest.approx(expected, abs=0.011), group


def fold_person(ruleset: Ruleset, key: str, events: list[tuple[str, datetime, dict[str, object]]]) -> Fold:
    fold = Fold(ruleset)
    for type_, at, extra in events:
        fold.apply(event(type_, at, person=key, **extra))  # type: ignore[arg-type]
    return fold


def all_awards(fold: Fold) -> list[Award]:
    return [a for r in fold.results for a in r.awards]


def test_merge_keeps_ledger_equal_to_score_with_caps_and_once_only_rules() -> None:
    ruleset = small_ruleset()
    anon = fold_person(
        ruleset,
        "anon",
        [
            ("page.viewed", T0, {"url": "/pricing"}),
            ("page.viewed", T0 + days(1), {"url": "/pricing"}),
            ("signed.up", T0 + days(1), {}),
            ("webinar.attended", T0 + days(2), {}),
        ],
    )
    known = fold_person(
        ruleset,
        "known",
        [
            ("identify", T0 + days(2), {"traits": {"seniority": "vp"}, "email": "ada@acme.com"}),
            ("page.viewed", T0 + days(3), {"url": "/pricing"}),
            ("page.viewed", T0 + days(3), {"url": "/pricing"}),
            ("signed.up", T0 + days(3), {}),
        ],
    )
    source, target = anon.people["anon"], known.people["known"]
    merged, corrections = merge_people(target, source, ruleset, "m1")

    at = T0 + days(3)
    assert merged.person_key == "known" and merged.last_event_at == at
    assert merged.version == source.version + target.version + 1
    assert merged.rules["pricing"].value_at(at, 10) <= 25 + 1e-9, "the per-rule cap holds after the merge"
    assert merged.rules["pricing"].count == 4
    assert merged.rules["signup"].value_at(at, 10) == pytest.approx(5 * 0.5 ** (0 / 10)), "once-only: counted once"
    assert any(c.rule_id == "pricing" and c.points < 0 for c in corrections)
    assert all(c.event_id == "merge:m1" for c in corrections)
    ledger = all_awards(anon) + all_awards(known) + corrections
    assert_ledger_is_score(merged, ledger, ruleset, at)
    assert_ledger_is_score(merged, ledger, ruleset, at + days(20))


def test_fit_rules_held_by_both_sides_count_once() -> None:
    ruleset = small_ruleset()
    a = fold_person(ruleset, "a", [("identify", T0, {"traits": {"seniority": "vp"}})])
    b = fold_person(ruleset, "b", [("identify", T0 + days(1), {"traits": {"seniority": "vp"}, "email": "x@gmail.com"})])
    merged, corrections = merge_people(b.people["b"], a.people["a"], ruleset, "m2")

    assert [(c.rule_id, c.points) for c in corrections] == [("vp", -45)]
    ledger = all_awards(a) + all_awards(b) + corrections
    assert_ledger_is_score(merged, ledger, ruleset, T0 + days(1))


def test_target_profile_wins_and_source_fills_gaps() -> None:
    ruleset = small_ruleset()
    a = fold_person(ruleset, "a", [("identify", T0, {"traits": {"title": "CTO", "country": "FR"}, "domain": "a.io"})])
    b = fold_person(ruleset, "b", [("identify", T0 + days(1), {"traits": {"title": "VP Sales"}})])
    merged, _ = merge_people(b.people["b"], a.people["a"], ruleset, "m3")

    assert (merged.traits.title, merged.traits.country) == ("VP Sales", "FR")
    assert merged.account_key == "a.io", "the target had no company: the source's is kept"


def test_merging_an_empty_source_changes_nothing() -> None:
    ruleset = small_ruleset()
    target = fold_person(ruleset, "t", [("page.viewed", T0, {"url": "/pricing"})]).people["t"]
    merged, corrections = merge_people(target, PersonState(person_key="s"), ruleset, "m4")
    assert merged == target and corrections == []


def test_apply_transfer_carries_the_source_ledger_and_can_qualify() -> None:
    ruleset = small_ruleset()
    anon = fold_person(ruleset, "anon", [("demo.requested", T0, {})])
    known = fold_person(ruleset, "known", [("identify", T0 + days(1), {"traits": {"seniority": "vp"}})])
    transfer = Transfer(merge_id="m5", source_key="anon", person=anon.people["anon"], ledger=all_awards(anon))

    applied = apply_transfer(known.people["known"], None, transfer, ruleset)

    assert applied.transition == "qualified", "VP fit (45) + demo (40 activity) qualifies only together"
    assert applied.score is not None and applied.score.person_key == "known" and applied.person.qualified
    assert applied.awards[: len(transfer.ledger)] == transfer.ledger
    assert_ledger_is_score(applied.person, all_awards(known) + applied.awards, ruleset, T0 + days(1))


def test_instructions_always_point_from_the_weaker_to_the_stronger_key() -> None:
    weak, strong = (0, "p_anon"), (3, "p_user")
    assert instruction(weak, strong) == instruction(strong, weak)
    merge = instruction(strong, weak)
    assert (merge.source_key, merge.target_key) == ("p_anon", "p_user")
    same_rank = instruction((3, "p_b"), (3, "p_a"))
    assert (same_rank.source_key, same_rank.target_key) == ("p_a", "p_b"), "ties broken by key, deterministically"
    with pytest.raises(ValueError, match="itself"):
        instruction(weak, weak)


def test_an_identify_with_several_ids_merges_every_weaker_key_into_the_canonical_one() -> None:
    ids = PersonIdentifiers(user_id="u-1", email="Ada@Acme.com", anonymous_id="anon-1")
    key = person_key(ids, SECRET)
    identify = event("identify", T0, person=key or "").model_copy(update={"person": ids})

    merges = merges_for(identify, SECRET)

    ranked = identifier_keys(ids, SECRET)
    assert ranked[0][1] == key
    assert [(m.source_key, m.target_key) for m in merges] == [(ranked[1][1], key), (ranked[2][1], key)]
    assert merges_for(identify, SECRET) == merges, "same ids, same merge ids: idempotent"
    forwarded = identify.model_copy(update={"person_key": "p_elsewhere"})
    assert merges_for(forwarded, SECRET) == [], "only the canonical key's worker announces merges"
    single = event("page.viewed", T0).model_copy(update={"person": PersonIdentifiers(anonymous_id="a")})
    assert merges_for(single, SECRET) == []


def test_a_segment_alias_merges_the_previous_id_whichever_kind_it_was() -> None:
    ids = PersonIdentifiers(user_id="u-new")
    key = person_key(ids, SECRET) or ""
    alias = event("alias", T0, person=key, properties={"previous_id": "old-1"}).model_copy(update={"person": ids})

    merges = merges_for(alias, SECRET)

    previous = identifier_keys(PersonIdentifiers(user_id="old-1", anonymous_id="old-1"), SECRET)
    expected = {instruction(p, (3, key)).merge_id for p in previous}
    assert {m.merge_id for m in merges} == expected
    assert all(key in (m.source_key, m.target_key) for m in merges)


def test_a_redelivered_transfer_is_applied_once() -> None:
    ruleset = small_ruleset()
    anon = fold_person(ruleset, "anon", [("demo.requested", T0, {})])
    known = fold_person(ruleset, "known", [("identify", T0 + days(1), {"traits": {"seniority": "vp"}})])
    transfer = Transfer(merge_id="m6", source_key="anon", person=anon.people["anon"], ledger=all_awards(anon))
    once = apply_transfer(known.people["known"], None, transfer, ruleset)

    again = apply_transfer(once.person, None, transfer, ruleset)

    assert again.duplicate and again.person == once.person and again.awards == []
