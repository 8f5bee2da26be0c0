"""Acceptance: CRM outcomes keyed by email teach a model trained on a Segment-keyed world (SQLite and PostgreSQL).

The generated world's journeys are keyed by user id (email only in ``identify`` traits) and stored with the identity
links the worker writes for them. Its CRM outcomes arrive only through crm-sync's signed generic webhook (the real
HTTP endpoint, parsing and keying: by email) and are stored by scoring's outcomes consumer handler. The training
path of ``peerscore train`` must join every positive outcome sent and train the same model as labels attached
directly under the canonical key. Before outcomes were read under canonical keys it joined none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.consumer import Message
from peerscore.crm_sync.app import create_app as create_crm_app
from peerscore.crm_sync.domain.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, peerscore_signature
from peerscore.crm_sync.settings import OutcomeSettings
from peerscore.db import create_tables
from peerscore.dev.generated import crm_webhook_body, generated_world, store_world
from peerscore.dev.journeys import IntentHistoryGenerator
from peerscore.events import PersonIdentifiers
from peerscore.identity import email_person_key, identifier_keys
from peerscore.scoring.backtest.period import Period
from peerscore.scoring.domain import load_default_ruleset
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.outcomes.consumer import OutcomeHandler
from peerscore.scoring.outcomes.models import OutcomeRow
from peerscore.scoring.predictive.dataset import DatasetConfig
from peerscore.scoring.predictive.pipeline import fit, train_from_database
from peerscore.scoring.predictive.sources import history_span, stored_histories, stored_outcomes
from peerscore.scoring.predictive.training import TrainConfig
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings
from tests.unit.ingest.support import RecordingPublisher

pytestmark = pytest.mark.integration

END = datetime(2026, 10, 1, tzinfo=UTC)
SECRET = b"acceptance-secret"
WEBHOOK_SECRET = "acceptance-outcomes-webhook"
PEOPLE, DAYS, SEED = 2000, 120, 5
CONFIG = TrainConfig(min_positives=20, num_boost_round=40, early_stopping_rounds=10, min_data_in_leaf=10)
POSITIVE = DatasetConfig().positive_kinds
CHUNK = 250


@pytest.fixture
def crm_sync() -> Iterator[tuple[TestClient, RecordingPublisher]]:
    """crm-sync's app with the generic outcome webhook on; what it publishes is recorded (no broker needed)."""
    publisher = RecordingPublisher()
    app = create_crm_app(
        runtime=RuntimeSettings(env="dev"),
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="acceptance"),
        database=DatabaseSettings(database_url="sqlite://"),
        auth=ApiAuthSettings(),
        identity=IdentitySettings(person_key_secret=SecretStr(SECRET.decode())),
        outcomes=OutcomeSettings(webhook_secret=SecretStr(WEBHOOK_SECRET)),
        start_consumer=False,
        publisher=publisher,
    )
    with TestClient(app) as client:
        yield client, publisher


def send_through_crm_sync(client: TestClient, outcomes: list[dict[str, object]]) -> None:
    """The CRM's signed webhook calls, a chunk of outcomes each, as the generic endpoint documents them."""
    for start in range(0, len(outcomes), CHUNK):
        body = json.dumps(crm_webhook_body(outcomes[start : start + CHUNK])).encode()
        now = int(time.time())
        headers = {
            TIMESTAMP_HEADER: str(now),
            SIGNATURE_HEADER: peerscore_signature(WEBHOOK_SECRET.encode(), now, body),
        }
        response = client.post("/v1/crm/outcomes/webhook", content=body, headers=headers)
        assert response.status_code == 200 and response.json()["published"] == len(outcomes[start : start + CHUNK])


def test_outcomes_sent_by_email_train_the_same_model_as_labels_attached_directly(
    engine: Engine, crm_sync: tuple[TestClient, RecordingPublisher]
) -> None:
    started = time.perf_counter()
    create_tables(engine, SCORING_TABLES)
    world = generated_world(PEOPLE, DAYS, SEED, SECRET, END)
    store_world(engine, replace(world, outcomes=[]))  # history and links; the outcomes come from the CRM
    sent = IntentHistoryGenerator(seed=SEED).history(PEOPLE, end=END, days=DAYS).outcomes
    sent_positives = sum(1 for o in sent if o["kind"] in POSITIVE)
    assert sent_positives > 500

    client, published = crm_sync
    send_through_crm_sync(client, sent)
    handler = OutcomeHandler(engine)  # scoring's outcomes consumer, fed what crm-sync published
    handler.handle(
        [Message("outcomes", 0, i, r.key, handler.decode(None, r.value), 0) for i, r in enumerate(published.records)]
    )
    with Session(engine) as session:  # stored as sent: every key is an email's key, the audit trail
        stored = {r.outcome_id: r.person_key for r in session.exec(select(OutcomeRow)).all()}
    assert stored == {f"webhook:{o['id']}": email_person_key(o["email"], SECRET) for o in sent}
    # generate-history keys its outcomes exactly as crm-sync's endpoint does.
    assert {o.event_id: o.person_key for o in world.outcomes} == stored

    people = {history.key for history in stored_histories(engine, Period())}
    read = stored_outcomes(engine)
    joined = [(k, kind) for k, kind, _ in read if k in people]
    assert sum(1 for _, kind in joined if kind in POSITIVE) == sent_positives
    assert len(joined) == len(sent)
    assert read == world.labels()  # the in-memory world reads like the database

    via_crm = train_from_database(engine, load_default_ruleset(), dataset=DatasetConfig(), config=CONFIG, out=None)
    assert via_crm is not None and via_crm.result.fallback_reason is None, via_crm and via_crm.result.fallback_reason

    span = history_span(engine)
    assert span is not None
    direct_labels = [
        (
            identifier_keys(PersonIdentifiers(user_id=o["user_id"]), SECRET)[0][1],  # the canonical key itself
            o["kind"],
            datetime.fromisoformat(o["occurred_at"]),
        )
        for o in sent
    ]
    direct = fit(
        stored_histories(engine, Period()),
        direct_labels,
        load_default_ruleset(),
        start=span[0],
        end=span[1],
        config=CONFIG,
    )
    assert via_crm.data.positives == direct.data.positives > 0
    auc_crm = via_crm.result.card["test"]["model"]["roc_auc"]
    auc_direct = direct.result.card["test"]["model"]["roc_auc"]
    print(
        json.dumps(
            {
                "outcomes_sent": len(sent),
                "positives_sent": sent_positives,
                "positives_joined": sum(1 for _, kind in joined if kind in POSITIVE),
                "training_positive_rows": via_crm.data.positives,
                "roc_auc_via_crm": auc_crm,
                "roc_auc_direct": auc_direct,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )
    assert abs(auc_crm - auc_direct) <= 0.01
