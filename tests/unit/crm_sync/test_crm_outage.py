"""A real incident, in simulated time: HubSpot down for 10 minutes, then throttled at 10 requests/s (429 with
``Retry-After``) and flaky (about 10 % 502s and 10 % 207s refusing one input for now).

The worker's own clock, its rate limiter and the fake server's rate limit all follow one simulated clock, and the
driver waits the way the shared consumer loop does (its :class:`Backoff`, rewinding the batch): an hour-long
incident runs in seconds. Every lead must reach HubSpot once at its newest version, associated with its company,
with nothing dead-lettered, and the outage must cost a handful of calls (circuit breaker), not one per back-off.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.consumer import Backoff, RetryableError
from peerscore.crm_sync.adapters.hubspot import HubSpotAdapter, make_hubspot_client
from peerscore.crm_sync.adapters.limits import SlidingWindowLimiter
from peerscore.crm_sync.associations import PendingAssociation
from peerscore.crm_sync.budget import RetryBudget
from peerscore.crm_sync.crm_objects import CrmObject
from peerscore.crm_sync.domain.mapping import DEFAULT_FIELD_MAPPING
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import RetryState
from peerscore.crm_sync.worker import DeadLetterSink, SyncHandler
from peerscore.events import LeadTransition
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_servers import HUBSPOT_TOKEN, Fault, ServerState
from tests.unit.crm_sync.factories import BASE_TIME, batch, transition
from tests.unit.crm_sync.recording import RecordingPublisher

OUTAGE_S = 600.0
LEADS = 30
COMPANIES = 19


class SimClock:
    """Seconds since the start of the test; also the limiter's clock and sleep."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> datetime:
        return BASE_TIME + timedelta(days=1, seconds=self.t)

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)


def deliver(step: Callable[[], object], clock: SimClock) -> None:
    """Retry ``step`` like the consumer loop retries a rewound batch: wait its back-off (or the hint), again."""
    backoff = Backoff()
    for _ in range(5000):
        try:
            step()
            return
        except RetryableError as exc:
            clock.sleep(backoff.next_delay(exc.retry_after))
    raise AssertionError("the step never went through")


def leads() -> list[list[LeadTransition]]:
    """Handoffs first, then two updates per lead (the last one moves the score enough to be worth sending)."""
    people = [(f"p_{i}", f"lead{i}@example.com", f"co{i % COMPANIES}.example") for i in range(LEADS)]
    handoffs = [transition(k, 1, email=e, domain=d) for k, e, d in people]
    small = [transition(k, 2, kind="updated", email=e, domain=d, total=74.0) for k, e, d in people]
    newest = [transition(k, 3, kind="updated", email=e, domain=d, total=91.0) for k, e, d in people]
    stream = handoffs + small + newest
    return [stream[i : i + 10] for i in range(0, len(stream), 10)]


def test_an_outage_then_throttling_and_flaky_answers_lose_nothing(crm_engine: Engine) -> None:
    clock, rng = SimClock(), random.Random(16)
    calls = {"outage": 0, "502": 0, "207": 0}

    def refuse() -> Fault | None:
        if clock.t < OUTAGE_S:
            calls["outage"] += 1
            return Fault(503, body={"status": "error", "message": "upstream unavailable"})
        if rng.random() < 0.1:
            calls["502"] += 1
            return Fault(502, body={"message": "Bad Gateway"})
        return None

    def refuse_one() -> bool:
        flaky = clock.t >= OUTAGE_S and rng.random() < 0.1
        calls["207"] += flaky
        return flaky

    dlq = RecordingPublisher()
    with hubspot_server() as server:
        state = server.state
        state.clock, state.rate_limit, state.refuse = clock.monotonic, (10, 1.0), refuse
        state.extra["refuse_one"] = refuse_one
        limiter = SlidingWindowLimiter(190, 10.0, clock=clock.monotonic, sleep=clock.sleep)
        adapter = HubSpotAdapter(make_hubspot_client(HUBSPOT_TOKEN, server.url), DEFAULT_FIELD_MAPPING, limiter)
        handler = SyncHandler(
            crm_engine,
            lambda _s: adapter,
            CrmMetrics(CollectorRegistry()),
            clock=clock.now,
            dead_letters=DeadLetterSink(dlq, "peerscore.crm.dlq.v1", RetryBudget()),
        )
        for records in leads():
            messages = batch(*records)
            deliver(lambda: handler.handle(messages), clock)  # noqa: B023 - called before the next iteration
            clock.sleep(1.0)
        for _ in range(600):  # idle polls: coalesced updates fall due, pending associations are retried
            clock.sleep(1.0)
            deliver(handler.on_idle, clock)
            if _all_delivered(state) and _pending_associations(crm_engine) == 0:
                break

    assert dlq.records == []
    assert calls["outage"] <= 15, calls  # the breaker paused the partition instead of calling every few seconds
    assert calls["502"] > 0 and calls["207"] > 0 and state.throttled > 0, (calls, state.throttled)
    for i in range(LEADS):
        email = f"lead{i}@example.com"
        assert state.records[email]["peerscore_version"] == "3"
        assert state.accepted.count((email, "3")) == 1, email
    companies = state.extra["companies"]
    assert len(companies) == COMPANIES
    linked = {
        (state.records[f"lead{i}@example.com"]["_id"], companies[f"co{i % COMPANIES}.example"]) for i in range(LEADS)
    }
    assert linked <= state.extra["associations"]
    with Session(crm_engine) as session:
        assert session.exec(select(RetryState)).all() == []
        objects = {o.person_key: o.company_id for o in session.exec(select(CrmObject))}
    assert objects == {f"p_{i}": companies[f"co{i % COMPANIES}.example"] for i in range(LEADS)}
    assert _pending_associations(crm_engine) == 0


def _pending_associations(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(PendingAssociation)).all())


def _all_delivered(state: ServerState) -> bool:
    return all(state.records.get(f"lead{i}@example.com", {}).get("peerscore_version") == "3" for i in range(LEADS))
