"""Behaviour specific to each remote CRM, on the strict local servers through the real SDKs, plus the limiter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from prometheus_client import CollectorRegistry

from peerscore.crm_sync.adapters.limits import LimiterBusy, SlidingWindowLimiter, retry_after_seconds
from peerscore.crm_sync.adapters.salesforce import LIMIT_BACKOFF_S
from peerscore.crm_sync.adapters.webhook import WebhookAdapter
from peerscore.crm_sync.domain.mapping import DEFAULT_FIELD_MAPPING, CrmLeadRecord, to_crm_record
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_salesforce import salesforce_server
from peerscore_testkit.fake_servers import WEBHOOK_SECRET, FakeServer, Fault
from peerscore_testkit.fake_webhook import webhook_server
from tests.unit.crm_sync.factories import transition
from tests.unit.crm_sync.harness import hubspot_adapter, salesforce_adapter


def lead(key: str, version: int = 1, **contact: str) -> CrmLeadRecord:
    return to_crm_record(transition(key, version, email=f"{key}@example.com", **contact))


@pytest.fixture
def hubspot() -> Iterator[FakeServer]:
    with hubspot_server() as server:
        yield server


def test_hubspot_400_for_a_whole_batch_is_narrowed_to_the_bad_lead(hubspot: FakeServer) -> None:
    bad = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid: score",
        "context": {},
        "errors": [],
        "links": {},
    }
    hubspot.state.faults.extend([Fault(400, {}, bad), Fault(400, {}, bad), Fault(400, {}, bad)])
    results = hubspot_adapter(hubspot.url).upsert([lead("p_a"), lead("p_b"), lead("p_c"), lead("p_d")])
    # [a b c d] 400 → [a b] 400 → [a] 400 (permanent) → [b] ok → [c d] ok
    assert [r.outcome for r in results] == ["permanent", "ok", "ok", "ok"]
    assert "Property values were not valid" in (results[0].message or "")
    assert hubspot.state.batch_sizes == [1, 2]


def test_hubspot_associates_contacts_with_their_company_found_or_created_by_domain(hubspot: FakeServer) -> None:
    adapter = hubspot_adapter(hubspot.url)
    hubspot.state.extra["companies"] = {"acme.example": "9001"}
    adapter.upsert([lead("p_a", domain="Acme.example"), lead("p_b", domain="new.example"), lead("p_c")])
    companies = hubspot.state.extra["companies"]
    contacts = {e: r["_id"] for e, r in hubspot.state.records.items()}
    assert set(companies) == {"acme.example", "new.example"}
    assert hubspot.state.extra["associations"] == {
        (contacts["p_a@example.com"], "9001"),
        (contacts["p_b@example.com"], companies["new.example"]),
    }


def test_hubspot_429_pauses_the_shared_limiter_for_retry_after(hubspot: FakeServer) -> None:
    waits: list[float] = []
    now = [100.0]
    limiter = SlidingWindowLimiter(
        190, 10.0, clock=lambda: now[0], sleep=lambda s: (waits.append(s), now.__setitem__(0, now[0] + s))
    )
    adapter = hubspot_adapter(hubspot.url)
    adapter._limiter = limiter
    hubspot.state.faults.append(Fault(429, {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, {"message": "slow"}))
    [result] = adapter.upsert([lead("p_a")])
    assert (result.outcome, result.retry_after) == ("retryable", 10.0)  # no Retry-After: HubSpot's window length
    assert [r.outcome for r in adapter.upsert([lead("p_a")])] == ["ok"]
    assert waits == [10.0]


def test_hubspot_server_side_limit_is_never_hit_with_the_client_limiter(hubspot: FakeServer) -> None:
    hubspot.state.rate_limit = (6, 0.5)  # the client stays one call under, like 190 of HubSpot's 200 per 10 s
    adapter = hubspot_adapter(hubspot.url, calls=5, period_s=0.5)
    results = adapter.upsert([lead(f"p_{i:03d}") for i in range(1200)])  # 12 calls: needs three windows
    assert {r.outcome for r in results} == {"ok"} and hubspot.state.throttled == 0


def test_limiter_allows_max_calls_per_window_and_waits_for_the_oldest_to_leave() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    limiter = SlidingWindowLimiter(3, 10.0, clock=lambda: now[0], sleep=sleep)
    for at in (0.0, 1.0, 2.0):
        now[0] = at
        assert limiter.acquire() == 0.0
    assert limiter.acquire() == 8.0 and now[0] == 10.0  # the call at t=0 left the window
    limiter.pause(5.0)
    assert limiter.acquire() == 5.0


def test_limiter_waits_are_exported_and_a_caller_in_a_hurry_fails_fast_instead() -> None:
    now = [0.0]
    registry = CollectorRegistry()
    metrics = CrmMetrics(registry)
    limiter = SlidingWindowLimiter(1, 10.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    limiter.observe(lambda s: metrics.limiter_waited("hubspot", s))
    limiter.acquire()
    now[0] = 4.0
    assert limiter.acquire() == 6.0
    with pytest.raises(LimiterBusy):
        limiter.acquire(max_wait_s=2.0)  # the next slot is 10 s away
    assert now[0] == 10.0  # it did not sleep
    labels = {"crm": "hubspot"}
    assert registry.get_sample_value("peerscore_crm_rate_limiter_wait_seconds_sum", labels) == 6.0
    assert registry.get_sample_value("peerscore_crm_rate_limiter_wait_seconds_count", labels) == 3.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, 10.0),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str] | None, expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


@pytest.fixture
def salesforce(tmp_path: Path) -> Iterator[tuple[FakeServer, trustme.CA]]:
    ca = trustme.CA()
    with salesforce_server(ca) as server:
        yield server, ca


def test_salesforce_usage_is_read_from_sforce_limit_info_and_backs_off_near_the_limit(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path
) -> None:
    server, ca = salesforce
    adapter = salesforce_adapter(server.url, ca, tmp_path)
    seen: list[tuple[int, int]] = []
    adapter._on_usage = lambda used, total: seen.append((used, total))
    server.state.extra.update(used=14_000, total=15_000)
    assert [r.outcome for r in adapter.upsert([lead("p_a")])] == ["ok"]
    assert seen == [(14_000, 15_000)] and adapter.usage == (14_000, 15_000)
    [held] = adapter.upsert([lead("p_b")])  # 93 % of the daily allowance: leave room for the org's other apps
    assert (held.outcome, held.retry_after) == ("retryable", LIMIT_BACKOFF_S)
    assert server.state.batch_sizes == [1]


def test_salesforce_request_limit_exceeded_is_retryable(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path
) -> None:
    server, ca = salesforce
    body = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    server.state.faults.append(Fault(403, {}, body))
    [result] = salesforce_adapter(server.url, ca, tmp_path).upsert([lead("p_a")])
    assert (result.outcome, result.retry_after) == ("retryable", LIMIT_BACKOFF_S)
    assert "REQUEST_LIMIT_EXCEEDED" in (result.message or "")


def test_salesforce_wrong_session_is_retryable_not_a_lead_failure(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path
) -> None:
    server, ca = salesforce
    [result] = salesforce_adapter(server.url, ca, tmp_path, session_id="expired").upsert([lead("p_a")])
    assert result.outcome == "retryable" and "INVALID_SESSION_ID" in (result.message or "")


def test_webhook_retries_with_backoff_then_succeeds_and_the_receiver_verifies_the_signature() -> None:
    waits: list[float] = []
    with webhook_server() as server, httpx.Client(timeout=2) as client:
        server.state.faults.extend([Fault(502), Fault(503)])
        adapter = WebhookAdapter(
            client,
            server.url + "/hook",
            WEBHOOK_SECRET,
            DEFAULT_FIELD_MAPPING,
            attempts=3,
            backoff_s=0.25,
            sleep=waits.append,
        )
        assert [r.outcome for r in adapter.upsert([lead("p_a", 3)])] == ["ok"]
        assert waits == [0.25, 0.5]
        assert server.state.accepted == [("p_a", "3")]
        wrong = WebhookAdapter(client, server.url + "/hook", b"not-the-secret", DEFAULT_FIELD_MAPPING, attempts=1)
        [refused] = wrong.upsert([lead("p_b")])
        assert refused.outcome == "retryable" and "401" in (refused.message or "")
