"""The pure decisions behind a CRM record that follows its lead: noticeable? which version? due when?"""

from __future__ import annotations

from datetime import timedelta

import pytest

from peerscore.crm_sync.domain.freshness import (
    Pending,
    SentSnapshot,
    UpdatePolicy,
    collapse,
    is_noticeable,
    lead_status,
    merge,
    plan_intake,
    update_due_at,
)
from peerscore.crm_sync.domain.mapping import to_crm_record
from tests.unit.crm_sync.factories import BASE_TIME, transition

POLICY = UpdatePolicy(coalesce_s=60, min_score_delta=10, min_probability_delta=0.05)
NOW = BASE_TIME + timedelta(hours=1)


def sent_as(version: int = 1, *, status: str = "ok", ago_s: float = 10, **kwargs: object) -> SentSnapshot:
    """What the ledger remembers after sending ``transition(version, **kwargs)``."""
    t = transition("p_a", version, **kwargs)  # type: ignore[arg-type]
    return SentSnapshot.of(t.score, status, "MQL", NOW - timedelta(seconds=ago_s))


def update(version: int, **kwargs: object) -> Pending | None:
    return Pending(transition("p_a", version, kind="updated", **kwargs), NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "noticed"),
    [
        ({"total": 80.0}, False),  # 7.5 points: below the bar
        ({"total": 82.5}, True),  # 10 points
        ({"total": 62.5}, True),  # down counts too
        ({"grade": "B"}, True),
        ({"level": 2}, True),
        ({"reasons": ("Requested a demo", "Visited pricing 3 times")}, True),  # a new top reason
        ({"reasons": ("Visited pricing 3 times", "Requested a demo")}, False),  # same top reason
        ({"probability": 0.2}, True),  # a probability appears
        ({"groups": {"fit": 40.0, "product_x": 3.0}}, False),  # group detail alone: not at a glance
    ],
)
def test_noticeable_changes_against_what_was_sent(change: dict[str, object], noticed: bool) -> None:
    score = transition("p_a", 2, kind="updated", **change).score  # type: ignore[arg-type]
    assert is_noticeable(sent_as(1), score, POLICY) is noticed


def test_probability_must_move_by_the_configured_amount() -> None:
    sent = sent_as(1, probability=0.30)
    assert not is_noticeable(sent, transition("p_a", 2, probability=0.34).score, POLICY)
    assert is_noticeable(sent, transition("p_a", 2, probability=0.35).score, POLICY)


@pytest.mark.parametrize("status", ["failed", "dlq"])
def test_anything_newer_is_worth_sending_when_the_last_send_did_not_land(status: str) -> None:
    assert is_noticeable(sent_as(1, status=status), transition("p_a", 2, kind="updated").score, POLICY)
    assert is_noticeable(None, transition("p_a", 2, kind="updated").score, POLICY)


def test_a_transition_is_due_at_once_even_right_after_a_send() -> None:
    planned = plan_intake(transition("p_a", 2, kind="recycled"), sent_as(1, ago_s=1), None, POLICY, NOW)
    assert planned is not None and (planned.transition.kind, planned.due_at) == ("recycled", NOW)


def test_an_update_waits_the_coalescing_delay_after_the_last_send() -> None:
    incoming = transition("p_a", 2, kind="updated", total=90.0)
    planned = plan_intake(incoming, sent_as(1, ago_s=10), None, POLICY, NOW)
    assert planned is not None and planned.due_at == NOW + timedelta(seconds=50)
    long_ago = plan_intake(incoming, sent_as(1, ago_s=600), None, POLICY, NOW)
    assert long_ago is not None and long_ago.due_at == NOW


def test_an_unnoticeable_update_is_dropped_unless_one_is_already_waiting() -> None:
    small = transition("p_a", 3, kind="updated", total=75.0)
    assert plan_intake(small, sent_as(1), None, POLICY, NOW) is None
    waiting = Pending(transition("p_a", 2, kind="updated", total=95.0), NOW + timedelta(seconds=30))
    planned = plan_intake(small, sent_as(1), waiting, POLICY, NOW + timedelta(seconds=5))
    # The newest version replaces the waiting one (the CRM must not end on a stale score) and keeps its slot.
    assert planned is not None and (planned.version, planned.due_at) == (3, NOW + timedelta(seconds=30))


def test_versions_never_go_backwards_in_the_queue() -> None:
    waiting = Pending(transition("p_a", 5, kind="updated", total=95.0), NOW)
    assert plan_intake(transition("p_a", 4, kind="updated", total=99.0), sent_as(1), waiting, POLICY, NOW) is None
    assert plan_intake(transition("p_a", 5, kind="updated", total=99.0), sent_as(1), waiting, POLICY, NOW) is None


def test_an_update_never_hides_a_waiting_handoff() -> None:
    handoff = transition("p_a", 2, kind="qualified")
    merged = merge(handoff, transition("p_a", 3, kind="updated", total=99.0))
    assert (merged.kind, merged.score.version, merged.score.total) == ("qualified", 3, 99.0)
    assert merged.transitioned_at == handoff.transitioned_at  # the CRM's qualified date stays the handoff's
    planned = plan_intake(transition("p_a", 3, kind="updated"), None, Pending(handoff, NOW), POLICY, NOW)
    assert planned is not None and (planned.transition.kind, planned.due_at) == ("qualified", NOW)
    # …and a newer handoff replaces a waiting update, due at once.
    assert merge(transition("p_a", 2, kind="updated"), transition("p_a", 3, kind="recycled")).kind == "recycled"


def test_which_leads_are_created_is_a_policy() -> None:
    never_sent = transition("p_a", 4, kind="updated")
    assert plan_intake(never_sent, None, None, POLICY, NOW) is None  # default: MQLs only
    known = UpdatePolicy(leads="known")
    planned = plan_intake(never_sent, None, None, known, NOW)
    assert planned is not None and planned.due_at == NOW


def test_update_due_at_without_a_send_is_now() -> None:
    assert update_due_at(None, NOW, POLICY) == NOW


@pytest.mark.parametrize(
    ("kind", "qualified", "previous", "status"),
    [
        ("qualified", True, None, "MQL"),
        ("recycled", False, "MQL", "Recycled"),
        ("updated", True, "MQL", "MQL"),
        ("updated", False, "Recycled", "Recycled"),
        ("updated", False, "MQL", "Recycled"),
        ("updated", False, None, "Open"),  # a known lead never qualified (CRM_LEADS=known)
    ],
)
def test_lead_status_shown_in_the_crm(kind: str, qualified: bool, previous: str | None, status: str) -> None:
    assert lead_status(kind, qualified, previous) == status


def test_an_update_record_keeps_the_qualification_date_the_crm_has() -> None:
    record = to_crm_record(transition("p_a", 9, kind="updated", probability=0.61, model_version=3), "MQL")
    assert (record.status, record.change, record.qualified_at) == ("MQL", "updated", None)
    assert (record.probability, record.model_version) == (0.61, 3)


def test_collapse_keeps_one_version_per_lead_and_never_loses_a_handoff() -> None:
    handoff, later = transition("p_a", 2, kind="qualified"), transition("p_a", 3, kind="updated", total=99.0)
    other = transition("p_b", 1, kind="updated")
    kept = collapse([handoff, other, later, transition("p_a", 1, kind="updated")])
    assert [(t.person_key, t.kind, t.score.version) for t in kept] == [("p_a", "qualified", 3), ("p_b", "updated", 1)]
    assert kept[0].transitioned_at == handoff.transitioned_at and kept[0].score.total == 99.0
    same_version = collapse([transition("p_a", 4, kind="updated"), transition("p_a", 4, kind="qualified")])
    assert [t.kind for t in same_version] == ["qualified"]
