"""Replaying merged and opted-out people: the pure pieces, without a worker or a database.

The worker's view is built with the step it runs (``apply_step`` with the transfer carrying the source's state);
the replay only has the history (the source's own stream and a marker in the target's), under any ruleset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from peerscore.events import EngagementEvent, PersonTraits
from peerscore.scoring.backtest.person_replay import AccountJoin, fold_person
from peerscore.scoring.domain import PersonState, Ruleset, load_default_ruleset, new_person, parse_ruleset
from peerscore.scoring.domain.scorecard import compute_scorecard
from peerscore.scoring.identity.canonical import canonical_keys
from peerscore.scoring.identity.merge import Transfer, merge_id, merge_marker, transfer_event
from peerscore.scoring.identity.replay import PersonHistory, complete_markers, replay
from peerscore.scoring.identity.step import apply_step
from tests.unit.scoring.backtest.support import default_yaml

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
LIVE = load_default_ruleset()
REWEIGHED = parse_ruleset(
    default_yaml().replace("points: 10\n", "points: 14\n").replace("min_activity: 50", "min_activity: 60")
)


def event(key: str, event_id: str, hours: float, type_: str = "page.viewed", **fields: object) -> EngagementEvent:
    at = T0 + timedelta(hours=hours)
    return EngagementEvent.model_validate(
        {
            "event_id": event_id,
            "type": type_,
            "source": "test",
            "person_key": key,
            "occurred_at": at,
            "received_at": at,
            **fields,
        }
    )


ANON = [
    event("anon", "a1", 0, properties={"path": "/pricing"}),
    event("anon", "a2", 1, "demo.requested"),
    event("anon", "a3", 2, properties={"path": "/demo"}),
]
VP = PersonTraits(title="VP of Marketing", seniority="vp", function="marketing")


def live_fold(events: list[EngagementEvent], ruleset: Ruleset, person: PersonState) -> PersonState:
    for e in events:
        applied = apply_step(person, None, e, ruleset)
        if applied is not None and not applied.duplicate:
            person = applied.person
    return person


def worker_and_history(ruleset: Ruleset) -> tuple[PersonState, PersonHistory]:
    """The user's state as the worker builds it (anonymous pages merged in by a transfer, then an opt-out and
    a withheld page), and the history it stores (the transfer as a marker; the withheld page absent)."""
    anon = live_fold(ANON, ruleset, new_person("anon"))
    mid = merge_id("anon", "user")
    transfer = transfer_event(Transfer(merge_id=mid, source_key="anon", person=anon), "user", T0 + timedelta(hours=2))
    before = [event("user", "u1", 3, "identify", traits=VP)]
    after = [event("user", "u2", 4, properties={"path": "/pricing"})]
    opt_out = event("user", "u3", 5, properties={"path": "/blog"}, consent={"marketing": False})
    withheld = event("user", "u4", 6, properties={"path": "/pricing"})
    user = live_fold([*before, transfer, *after, opt_out, withheld], ruleset, new_person("user"))
    stream = [*before, merge_marker(transfer), *after, opt_out]
    return user, PersonHistory("user", {"user": stream, "anon": ANON})


@pytest.mark.parametrize("ruleset", [LIVE, REWEIGHED], ids=["live", "reweighed"])
def test_replay_merges_at_the_marker_and_applies_consent_like_the_worker(ruleset: Ruleset) -> None:
    user, history = worker_and_history(ruleset)
    assert user.opted_out and user.version == 1 + (len(ANON) + 1) + 1 + 1
    assert replay(history, ruleset) == user


def test_two_sided_fold_equals_one_replay_per_ruleset() -> None:
    _, history = worker_and_history(LIVE)
    result = fold_person(history, LIVE, REWEIGHED, {})
    assert result.events == len(ANON) + 4, "the merged key's rows and the marker count"
    assert (result.before.total, result.before.qualified) == (0.0, False), "opted out: withheld"
    assert (result.after.total, result.after.qualified) == (0.0, False), "under every ruleset"

    before_opt_out = PersonHistory("user", {"user": history.stream("user")[:-1], "anon": ANON})
    folded = fold_person(before_opt_out, LIVE, REWEIGHED, {"": AccountJoin()})
    for side, ruleset in ((folded.before, LIVE), (folded.after, REWEIGHED)):
        state = replay(before_opt_out, ruleset)
        assert state.last_event_at is not None
        assert side.qualified == state.qualified
        assert side.total == compute_scorecard(state, ruleset, state.last_event_at).total
    assert folded.before.total != folded.after.total, "the rulesets score differently"


def test_history_without_markers_merges_a_linked_key_before_the_first_later_event() -> None:
    _, history = worker_and_history(LIVE)
    legacy = PersonHistory("user", {"user": [e for e in history.stream("user") if e.source == "test"], "anon": ANON})
    completed = complete_markers(legacy, {"anon": "user"})
    assert [e.event_id for e in completed.stream("user")] == [
        f"transfer:{merge_id('anon', 'user')}",
        "u1",
        "u2",
        "u3",
    ]
    assert replay(completed, LIVE).version == replay(history, LIVE).version
    assert completed.events == legacy.events == fold_person(completed, LIVE, LIVE, {}).events, "stored rows only"


def test_a_marker_cannot_be_applied_without_the_merged_state() -> None:
    _, history = worker_and_history(LIVE)
    marker = next(e for e in history.stream("user") if e.type.startswith("system."))
    with pytest.raises(ValueError, match="without the merged key's state"):
        apply_step(new_person("user"), None, marker, LIVE)


def test_canonical_keys_follow_chains_and_settle_loops() -> None:
    links = {"anon": "email", "email": "user", "member": "email", "x": "y", "y": "x"}
    resolved = canonical_keys(["anon", "member", "user", "solo", "x", "y"], links)
    assert resolved["anon"] == resolved["member"] == resolved["user"] == resolved["email"] == "user"
    assert resolved["solo"] == "solo"
    assert resolved["x"] == resolved["y"] == "y"
