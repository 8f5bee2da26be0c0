"""The circuit breaker's decisions, as pure functions: when a CRM counts as down, how long calls pause, when a
probe goes out and what closes it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peerscore.crm_sync.adapters.base import SyncResult
from peerscore.crm_sync.breaker import CLOSED, BreakerPolicy, BreakerState, after_call, is_outage, wait_s

NOW = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(failures_to_open=3, open_initial_s=5.0, open_max_s=60.0)
DOWN = [SyncResult("p_a", 1, "retryable", "HubSpot 503"), SyncResult("p_b", 1, "retryable", "HubSpot 503")]
THROTTLED = [SyncResult("p_a", 1, "retryable", "HubSpot 429", 1.0, throttled=True)]
MIXED = [SyncResult("p_a", 1, "ok"), SyncResult("p_b", 1, "retryable", "207 INTERNAL_ERROR")]


def test_only_a_call_failing_as_a_whole_for_the_crm_s_reasons_is_an_outage() -> None:
    assert is_outage(DOWN)
    assert not is_outage(THROTTLED)  # pacing, not an outage
    assert not is_outage(MIXED)  # the CRM took something
    assert not is_outage([SyncResult("p_a", 1, "permanent", "invalid email")])
    assert not is_outage([])


def test_the_breaker_opens_after_repeated_outages_with_a_growing_capped_pause() -> None:
    state, waits = CLOSED, []
    for _ in range(8):
        state = after_call(state, DOWN, POLICY, NOW)
        waits.append(wait_s(state, NOW))
    assert waits == [0.0, 0.0, 5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


def test_the_probe_goes_out_when_the_pause_is_over_and_success_closes_the_breaker() -> None:
    state = BreakerState(outages=4, open_until=NOW + timedelta(seconds=10))
    assert wait_s(state, NOW) == 10.0
    assert wait_s(state, NOW + timedelta(seconds=10)) == 0.0  # probe due
    assert after_call(state, MIXED, POLICY, NOW) == CLOSED
    assert after_call(state, THROTTLED, POLICY, NOW) == CLOSED
    assert after_call(state, [], POLICY, NOW) == state  # nothing was called: nothing learnt
