"""CRM calls per lead per hour while handed-off leads keep changing: the real sync handler (intake, durable pending
table, flush) on SQLite with a simulated clock, so a whole hour of a 1,000 events/s stream runs in minutes.

How it is measured: ``BENCH_CRM_UPDATE_LEADS`` MQLs (5,000) are handed off at t=0. Then, for every simulated second,
1,000 ``updated`` transitions arrive (the worst case of a 1,000 events/s stream: every event lands on a handed-off
lead and moves its score), spread uniformly over the leads, each moving the score by 10-30 points (so every update
is noticeable and only coalescing limits the calls). They are handed to ``SyncHandler.handle`` in polls of 500,
exactly as the consumer loop would; the clock advances by the stream's time; the handler flushes after each poll.
The CRM is the in-memory fake adapter, which counts requests (calls of at most 100 leads, like HubSpot's batch
upsert) and lead upserts. Rates are taken over the steady state (after two coalescing windows), per simulated
hour; ``BENCH_CRM_UPDATE_SIM_S`` (900) sets the simulated span (3600 for a whole hour, ~10 min of wall time).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from peerscore.consumer import Message
from peerscore.crm_sync.adapters.base import upsert_in_chunks
from peerscore.crm_sync.adapters.fake import FakeCrmAdapter
from peerscore.crm_sync.domain.freshness import UpdatePolicy
from peerscore.crm_sync.domain.mapping import CrmLeadRecord
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES
from peerscore.crm_sync.worker import SyncHandler
from peerscore.db import create_tables, make_engine
from peerscore.events import LeadContact, LeadScore, LeadTransition

START = datetime(2026, 11, 1, tzinfo=UTC)
EVENTS_PER_S = 1000
POLL = 500
CALL_MAX = 100


class CountingCrm(FakeCrmAdapter):
    """The fake CRM split into requests of ``CALL_MAX`` leads, counting requests and upserts per lead."""

    def __init__(self) -> None:
        super().__init__(name="bench")
        self.requests = 0
        self.upserts: dict[str, int] = {}
        self.versions: dict[str, int] = {}
        self.backwards = 0

    def upsert(self, leads: Any) -> Any:
        return upsert_in_chunks(leads, CALL_MAX, self._request)

    def _request(self, leads: list[CrmLeadRecord]) -> Any:
        self.requests += 1
        for lead in leads:
            self.upserts[lead.person_key] = self.upserts.get(lead.person_key, 0) + 1
            if lead.version <= self.versions.get(lead.person_key, 0):
                self.backwards += 1
            self.versions[lead.person_key] = lead.version
        return super().upsert(leads)


def _template(i: int) -> LeadTransition:
    score = LeadScore(
        person_key=f"p_{i:06d}",
        version=1,
        fit=45,
        engagement=40,
        intent=10,
        total=95,
        grade="A",
        level=3,
        qualified=True,
        reasons=["Requested a demo"],
        ruleset_version="bench",
        as_of=START,
    )
    contact = LeadContact(email=f"lead{i}@bench.example", first_name="Lead", last_name=str(i))
    return LeadTransition(
        kind="qualified", person_key=score.person_key, contact=contact, score=score, transitioned_at=START
    )


def _random_updates(rng: random.Random, current: dict[str, LeadTransition], now: datetime) -> list[LeadTransition]:
    """One poll's worth of ``updated`` transitions for random leads, each moving its score by 10–30 points;
    ``current`` keeps each lead's newest transition."""
    batch = []
    for key in (f"p_{rng.randrange(len(current)):06d}" for _ in range(POLL)):
        before = current[key]
        score = before.score.model_copy(
            update={
                "version": before.score.version + 1,
                "total": before.score.total + rng.choice((-1, 1)) * rng.uniform(10, 30),
                "as_of": now,
            }
        )
        current[key] = before.model_copy(update={"kind": "updated", "score": score, "transitioned_at": now})
        batch.append(current[key])
    return batch


def measure_continuous_updates() -> dict[str, Any]:
    leads = int(os.environ.get("BENCH_CRM_UPDATE_LEADS", "5000"))
    sim_s = int(os.environ.get("BENCH_CRM_UPDATE_SIM_S", "900"))
    coalesce_s = float(os.environ.get("BENCH_CRM_UPDATE_COALESCE_S", "60"))
    warmup_s = int(2 * coalesce_s)  # the first window after the handoff sends nothing: measure the steady state
    rng = random.Random(15)
    clock = {"now": START}
    crm = CountingCrm()
    handoffs = [_template(i) for i in range(leads)]
    current = {t.person_key: t for t in handoffs}
    offset = 0
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/crm.db")
        create_tables(engine, TABLES)
        handler = SyncHandler(
            engine,
            lambda _s: crm,
            CrmMetrics(CollectorRegistry()),
            clock=lambda: clock["now"],
            policy=UpdatePolicy(coalesce_s=coalesce_s),
        )

        def poll(transitions: list[LeadTransition]) -> None:
            nonlocal offset
            handler.handle([Message("q", 0, offset + i, t.person_key, t, 0) for i, t in enumerate(transitions)])
            offset += len(transitions)

        polls = range(0, leads, POLL)
        for n, start in enumerate(polls):  # handoffs spread over the minute before the stream, as MQLs arrive
            clock["now"] = START - timedelta(seconds=coalesce_s * (len(polls) - n) / len(polls))
            poll(handoffs[start : start + POLL])
        handoff_upserts = sum(crm.upserts.values())
        started = time.perf_counter()
        at_warmup = (0, 0)
        for second in range(sim_s):
            if second == warmup_s:
                at_warmup = (sum(crm.upserts.values()), crm.requests)
            for half in range(EVENTS_PER_S // POLL):
                clock["now"] = START + timedelta(seconds=second + half * POLL / EVENTS_PER_S)
                poll(_random_updates(rng, current, clock["now"]))
        steady = (sum(crm.upserts.values()) - at_warmup[0], crm.requests - at_warmup[1])
        clock["now"] = START + timedelta(seconds=sim_s + coalesce_s)
        while handler.flush():  # the stream stopped: what is still pending goes out on the next idle polls
            pass
        elapsed = time.perf_counter() - started
        engine.dispose()
    hours = (sim_s - warmup_s) / 3600
    newest = sum(1 for key, t in current.items() if crm.versions.get(key) == t.score.version)
    # Updates a salesperson would not notice are not sent: the CRM may end a few points off, never 10 or more.
    stale = sum(1 for key, t in current.items() if abs(crm.contacts[key]["peerscore_score"] - t.score.total) >= 10)
    return {
        "updates_leads": leads,
        "updates_simulated_s": sim_s,
        "updates_offered_per_s": EVENTS_PER_S,
        "updates_offered_per_lead_per_hour": round(EVENTS_PER_S * 3600 / leads, 1),
        "updates_coalesce_s": coalesce_s,
        "updates_steady_state_s": sim_s - warmup_s,
        "updates_crm_upserts_per_lead_per_hour": round(steady[0] / leads / hours, 2),
        "updates_budget_per_lead_per_hour": round(3600 / coalesce_s, 2),
        "updates_crm_requests_per_lead_per_hour": round(steady[1] / leads / hours, 3),
        "updates_crm_requests_per_s": round(steady[1] / (hours * 3600), 3),
        "updates_handoff_upserts": handoff_upserts,
        "updates_leads_at_newest_version": newest,
        "updates_leads_noticeably_stale": stale,
        "updates_versions_backwards": crm.backwards,
        "updates_wall_s": round(elapsed, 1),
        "updates_handled_per_s_wall": round(EVENTS_PER_S * sim_s / elapsed, 0),
    }
