"""``DELETE /v1/people/{email}`` end to end: scoring erases state, ledger, history, seen ids, redirects and account
membership; crm-sync erases its CRM row and sync ledger; both log it without the email; later events start a new
person. Real embedded broker, both databases (scoring and crm-sync tables side by side in one)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, func, select

from peerscore.api import ApiAccess
from peerscore.consumer import ConsumerLoop
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.consumers import erasure_loop
from peerscore.crm_sync.erasure_models import CrmErasureLog
from peerscore.crm_sync.handler import SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES as CRM_TABLES
from peerscore.crm_sync.models import CrmLead, SyncLedger
from peerscore.db import create_tables
from peerscore.events import LEAD_FORM_DELETED, EngagementEvent, PersonIdentifiers, utcnow
from peerscore.identity import identifier_keys
from peerscore.ingest.normalise import normalise_batch
from peerscore.kafka_io import KafkaPublisher, make_consumer, make_publisher
from peerscore.observability import ConsumerMetrics
from peerscore.scoring.deps import ApiContext, bind
from peerscore.scoring.domain import PersonState, load_default_ruleset
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.identity import erasure_routes
from peerscore.scoring.identity.batch import PrivacyConfig
from peerscore.scoring.identity.models import ErasureLogRow
from peerscore.scoring.models import SCORING_TABLES, LedgerRow, PersonRow
from peerscore.scoring.predictive.model_registry import ModelPredictionRow
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.support import SECRET
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration

EMAIL = "ada@acme.example"


def calls(*items: dict[str, Any]) -> list[EngagementEvent]:
    return normalise_batch({"batch": list(items)}, secret=SECRET, received_at=utcnow())


def call(kind: str, message_id: str, user: str, minutes: int, **extra: Any) -> dict[str, Any]:
    at = (utcnow() - timedelta(hours=2) + timedelta(minutes=minutes)).isoformat()
    return {"type": kind, "messageId": message_id, "userId": user, "timestamp": at, **extra}


def run_scoring(settings: KafkaSettings, engine: Engine, group: str, expect: int) -> int:
    publisher = make_publisher(settings)
    ruleset = load_default_ruleset()
    try:
        loop = scoring_loop(
            settings,
            engine=engine,
            ruleset=lambda: ruleset,
            publisher=publisher,
            group_id=group,
            registry=CollectorRegistry(),
            poll_timeout_ms=200,
            privacy=PrivacyConfig(secret=SECRET),
        )
        return loop.run(max_messages=expect, timeout=60).handled
    finally:
        publisher.close()


def run_crm(settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher, expect: int) -> int:
    group = unique("crm")
    loop = ConsumerLoop(
        consumer=make_consumer(settings, group),
        topics=[topics.qualified],
        handler=SyncHandler(engine, LocalCrmAdapter, CrmMetrics(CollectorRegistry())),
        dlq_topic=topics.qualified_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(CollectorRegistry(), group),
        poll_timeout_ms=200,
    )
    return loop.run(max_messages=expect, timeout=60).handled


def person_columns(tables: Sequence[type[SQLModel]]) -> list[tuple[type[SQLModel], Any]]:
    """Every column of every table that holds a person key (the erasure log keeps it on purpose: the proof)."""
    names = {"person_key", "merged_into", "key"}
    return [
        (table, getattr(table, name))
        for table in tables
        if table is not ErasureLogRow
        for name in table.__table__.columns.keys()  # type: ignore[attr-defined]
        if name in names
    ]


def read_scores(settings: KafkaSettings, topics: Topics) -> list[tuple[str | None, bytes | None]]:
    """Everything on the scores topic so far, in order per key: every partition from the beginning, no group
    (nothing to join), until the topic has been quiet for a while (Tansu's end offsets are wrong)."""
    consumer = KafkaConsumer(**settings.client_options(), group_id=None, enable_auto_commit=False)
    out: list[tuple[str | None, bytes | None]] = []
    try:
        partitions = [TopicPartition(topics.scores, p) for p in sorted(consumer.partitions_for_topic(topics.scores))]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        quiet_since, deadline = time.monotonic(), time.monotonic() + 30
        while time.monotonic() - quiet_since < 2 and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                quiet_since = time.monotonic()
                out += [(r.key.decode() if r.key is not None else None, r.value) for r in records]
    finally:
        consumer.close(autocommit=False)
    return out


def _last_per_key(records: list[tuple[str | None, bytes | None]]) -> dict[str | None, bytes | None]:
    return dict(records)


def count(engine: Engine, table: type[SQLModel], column: Any, keys: list[str]) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(table).where(column.in_(keys))).one()


def test_a_person_is_erased_across_scoring_and_crm_sync(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher
) -> None:
    create_tables(engine, SCORING_TABLES)
    create_tables(engine, CRM_TABLES)
    ada = dict(identifier_keys(PersonIdentifiers(user_id="u-ada", email=EMAIL), SECRET))
    bob = identifier_keys(PersonIdentifiers(user_id="u-bob"), SECRET)[0][1]
    traits = {"email": EMAIL, "title": "VP of Marketing", "company": {"domain": "acme.example", "employees": 900}}
    events = calls(
        call("identify", "i-ada", "u-ada", 0, traits=traits),
        call("track", "t-ada", "u-ada", 1, event="Demo Requested"),
        call("page", "p-ada", "u-ada", 2, properties={"path": "/pricing"}),
        call("identify", "i-bob", "u-bob", 0, traits={"email": "bob@acme.example"}),
        call("page", "p-bob", "u-bob", 3, properties={"path": "/pricing"}),
    )
    produce(kafka_settings, topics.events, [(e.person_key, e.model_dump_json().encode()) for e in events])
    group = unique("scoring")
    assert run_scoring(kafka_settings, engine, group, expect=len(events) + 2) == len(events) + 2  # + 2 merges
    assert run_crm(kafka_settings, topics, engine, publisher, expect=1) == 1, "Ada qualified and was synced"
    ada_keys = [ada[3], ada[2]]
    assert count(engine, CrmLead, CrmLead.person_key, ada_keys) == 1

    with Session(engine) as session, session.begin():  # what the shadow recorder keeps per scored lead version
        session.add(ModelPredictionRow(person_key=ada[3], lead_version=3, scored_at=utcnow(), champion_probability=0.7))
    assert _last_per_key(read_scores(kafka_settings, topics))[ada[3]] is not None, "Ada's score is on the topic"

    app = FastAPI()
    open_access = ApiAccess(read=lambda _: None, admin=lambda _: None)
    context = ApiContext(load_default_ruleset, open_access, publisher, topics.events, SECRET)
    bind(app, engine, context)
    app.include_router(erasure_routes.router)
    with TestClient(app) as client:
        assert client.post("/v1/people/erase", json={"email": "not-an-email"}).status_code == 422
        assert client.delete("/v1/people/not-an-email").status_code == 422
        answer = client.post("/v1/people/erase", json={"email": EMAIL.upper()})  # the email stays out of the URL
        assert answer.status_code == 202 and "deprecation" not in answer.headers
        request_id = answer.json()["request_id"]
        assert sorted(answer.json()["person_keys"]) == sorted(ada_keys)

        # One erasure per key (the email key, merged into the user key, and the user key): the request names
        # both, so neither forwards to the other.
        assert run_scoring(kafka_settings, engine, group, expect=2) == 2
        erased = erasure_loop(kafka=kafka_settings, group_id=unique("erasure"), engine=engine, publisher=publisher)
        assert erased.run(max_messages=2, timeout=60).handled == 2
        proof = client.get(f"/v1/erasures/{request_id}").json()

    held: list[tuple[type[SQLModel], Any]] = [
        *person_columns(SCORING_TABLES),
        (CrmLead, CrmLead.person_key),
        (SyncLedger, SyncLedger.person_key),
    ]
    for table, column in held:
        assert count(engine, table, column, ada_keys) == 0, f"{table.__name__}.{column.key}"
    for table in SCORING_TABLES:
        with Session(engine) as session:
            assert EMAIL not in str(session.exec(select(table)).all()), table.__name__
    scores = read_scores(kafka_settings, topics)
    for key in ada_keys:  # compaction will drop Ada's last score; the key is left with nothing
        assert _last_per_key(scores)[key] is None, f"no tombstone last for {key}"
    assert _last_per_key(scores)[bob] is not None
    assert count(engine, PersonRow, PersonRow.person_key, [bob]) == 1, "nobody else is touched"
    assert count(engine, LedgerRow, LedgerRow.person_key, [bob]) > 0
    with Session(engine) as session:
        logs = session.exec(select(ErasureLogRow)).all()
        crm_logs = session.exec(select(CrmErasureLog)).all()
    assert {r.person_key for r in logs} == set(ada_keys) and {r.request_id for r in logs} == {request_id}
    by_key = {r.person_key: r.deleted for r in logs if r.deleted["person_state"]}
    assert by_key[ada[3]]["score_ledger"] > 0 and by_key[ada[3]]["event_history"] == 3
    assert {r["person_key"] for r in proof} == set(ada_keys)
    local_crm = [o for r in crm_logs for o in r.crm_objects if o["crm"] == "local" and o["result"] == "deleted"]
    assert [o["object_id"] for o in local_crm] == [ada[3]], "the local CRM deleted Ada's row and the log names it"
    assert sum(r.deleted["crm_sync_ledger"] for r in crm_logs) == 1
    assert EMAIL not in str([r.model_dump() for r in logs]) + str([r.model_dump() for r in crm_logs])

    # Afterwards Ada comes back: a new, empty person, scored from what arrives after the erasure only.
    produce(
        kafka_settings,
        topics.events,
        [(ada[3], calls(call("page", "p-new", "u-ada", 30))[0].model_dump_json().encode())],
    )
    assert run_scoring(kafka_settings, engine, group, expect=1) == 1
    with Session(engine) as session:
        state = PersonState.model_validate(
            session.exec(select(PersonRow.state).where(PersonRow.person_key == ada[3])).one()
        )
        awarded = {r.event_id for r in session.exec(select(LedgerRow).where(LedgerRow.person_key == ada[3])).all()}
    assert state.version == 1 and state.email is None
    assert awarded <= {"p-new"}
    after = [value for key, value in read_scores(kafka_settings, topics) if key == ada[3]]
    tombstone = after.index(None)
    assert tombstone > 0 and None not in after[:tombstone], "Ada's old scores, then the tombstone"
    assert None not in after[tombstone + 1 :], "only the new person's scores (if any) follow it"


def test_a_linkedin_lead_deletion_erases_the_person(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    create_tables(engine, SCORING_TABLES)
    events = calls(
        call("identify", "i-lin", "u-lin", 0, traits={"email": "lin@acme.example", "title": "CTO"}),
        call("page", "p-lin", "u-lin", 1, properties={"path": "/pricing"}),
    )
    key = events[0].person_key
    deleted = EngagementEvent(
        event_id="linkedin:lead:deleted:urn:li:leadFormResponse:42",
        type=LEAD_FORM_DELETED,
        source="linkedin",
        person_key=key,
        occurred_at=utcnow(),
        received_at=utcnow(),
        properties={"lead_form_response": "urn:li:leadFormResponse:42"},
    )
    back = calls(call("track", "t-back", "u-lin", 5, event="Demo Requested"))[0]  # right after, same batch
    stream = [*events, deleted, back]
    produce(kafka_settings, topics.events, [(e.person_key, e.model_dump_json().encode()) for e in stream])

    assert run_scoring(kafka_settings, engine, unique("scoring"), expect=4) == 4

    with Session(engine) as session:
        awarded = {r.event_id for r in session.exec(select(LedgerRow).where(LedgerRow.person_key == key)).all()}
        history = session.exec(select(EventHistoryRow.event).where(EventHistoryRow.person_key == key)).all()
    assert awarded == {"t-back"}, "only what came after the deletion counts"
    assert len(history) == 1 and "lin@acme.example" not in str(history)
    values = [value for k, value in read_scores(kafka_settings, topics) if k == key]
    assert None in values, "the compacted scores topic gets a tombstone"
    after = values[values.index(None) + 1 :]
    assert after and None not in after, "the new person's score follows the tombstone, never the reverse"
    with Session(engine) as session:
        log = session.exec(select(ErasureLogRow).where(ErasureLogRow.person_key == key)).one()
    assert log.request_id == deleted.event_id
    erasures = read_topic(kafka_settings, topics.erasure, expect=1)
    assert [k for k, _ in erasures] == [key], "crm-sync is told to erase its copy too"
