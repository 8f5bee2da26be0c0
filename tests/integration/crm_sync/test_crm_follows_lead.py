"""After an MQL is in the CRM, new activity changes its CRM record within the configured delay: the consumer loop
on the embedded broker, both databases, the local CRM and the strict fake HubSpot and Salesforce servers. CRM calls
per lead stay within the coalescing budget and the versions a CRM receives never go backwards."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.consumer import ConsumerLoop
from peerscore.crm_sync.adapters.base import CrmAdapter, SyncResult
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.domain.freshness import UpdatePolicy
from peerscore.crm_sync.domain.mapping import CrmLeadRecord
from peerscore.crm_sync.handler import SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES, CrmLead
from peerscore.db import create_tables
from peerscore.kafka_io import KafkaPublisher, make_consumer, record
from peerscore.observability import ConsumerMetrics
from peerscore.runtime import BackgroundLoop
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.processes import wait_until
from tests.unit.crm_sync.factories import transition
from tests.unit.crm_sync.harness import harness

pytestmark = pytest.mark.integration

LEADS = 4
COALESCE_S = 1.0
STREAM_S = 3.0
UPDATES = 30


class Counting:
    """Wraps the adapter the worker uses and notes every lead version handed to the CRM, call by call."""

    def __init__(self, inner: CrmAdapter, sent: list[tuple[str, int]]) -> None:
        self.name = inner.name
        self._inner = inner
        self._sent = sent

    def upsert(self, leads: Sequence[CrmLeadRecord]) -> list[SyncResult]:
        self._sent.extend((lead.person_key, lead.version) for lead in leads)
        return self._inner.upsert(leads)


def local_reader(engine: Engine) -> Any:
    def read(key: str) -> dict[str, Any] | None:
        with Session(engine) as session:
            row = session.get(CrmLead, key)
            return None if row is None else {"version": row.version, "score": row.score, "status": row.status}

    return read


@pytest.mark.parametrize("crm", ["local", "hubspot", "salesforce"])
def test_new_activity_reaches_the_crm_record_within_the_coalescing_delay(
    crm: str, kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher, tmp_path: Path
) -> None:
    create_tables(engine, TABLES)
    keys = [f"p_{i}" for i in range(LEADS)]
    emails = {key: f"{key}@example.com" for key in keys}
    sent: list[tuple[str, int]] = []
    with harness(crm, engine, tmp_path) as crm_under_test:
        if crm == "local":
            factory = lambda session: Counting(LocalCrmAdapter(session), sent)  # noqa: E731
            read = local_reader(engine)
        else:
            factory = lambda _session: Counting(crm_under_test.adapter, sent)  # noqa: E731
            read = crm_under_test.read
        group = unique("crm-follows")
        registry = CollectorRegistry()
        policy = UpdatePolicy(coalesce_s=COALESCE_S, min_score_delta=1.0)
        loop = ConsumerLoop(
            consumer=make_consumer(kafka_settings, group),
            topics=[topics.qualified],
            handler=SyncHandler(engine, factory, CrmMetrics(registry), policy=policy),
            dlq_topic=topics.qualified_dlq,
            publisher=publisher,
            metrics=ConsumerMetrics(registry, group),
            poll_timeout_ms=100,
        )
        background = BackgroundLoop(loop, "crm-follows")
        background.start()
        try:

            def versions() -> dict[str, int | None]:
                return {k: (r["version"] if (r := read(k)) is not None else None) for k in keys}

            handoffs = [transition(k, 1, email=emails[k]) for k in keys]
            publisher.publish([record(topics.qualified, t.person_key, t) for t in handoffs], wait=True)
            wait_until(lambda: set(versions().values()) == {1}, 60, "every MQL in the CRM", interval=0.05)

            started = time.monotonic()
            for version in range(2, UPDATES + 2):  # a lead scored ten times a second, each score higher
                updates = [
                    transition(k, version, kind="updated", email=emails[k], total=70.0 + 5 * version) for k in keys
                ]
                publisher.publish([record(topics.qualified, t.person_key, t) for t in updates], wait=True)
                time.sleep(STREAM_S / UPDATES)
            last_published = time.monotonic()
            newest = UPDATES + 1
            wait_until(lambda: set(versions().values()) == {newest}, 30, "the newest version in the CRM", interval=0.05)
            lag = time.monotonic() - last_published
            stream_s = last_published - started
        finally:
            background.stop()
        assert lag <= COALESCE_S + 1.5, f"the CRM caught up {lag:.2f}s after the last update"
        record_now = read(keys[0])
        assert record_now is not None and record_now["status"] == "MQL"

    per_lead: dict[str, list[int]] = {k: [] for k in keys}
    for key, version in sent:
        per_lead[key].append(version)
    budget = 1 + math.ceil(stream_s / COALESCE_S) + 1  # the handoff, one per window, the last one after the stream
    for key, versions_sent in per_lead.items():
        assert versions_sent == sorted(set(versions_sent)), f"{key}: versions went backwards or repeated"
        assert versions_sent[0] == 1 and versions_sent[-1] == UPDATES + 1
        assert 2 < len(versions_sent) <= budget, f"{key}: {len(versions_sent)} CRM upserts for {UPDATES} updates"
    if crm_under_test.server is not None:  # what the fake CRM itself counted agrees
        assert len(crm_under_test.server.state.accepted) == len(sent)
