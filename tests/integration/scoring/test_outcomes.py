"""Outcomes reach scoring's database once, through the API and through the outcomes topic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.db import create_tables
from peerscore.events import Outcome, PersonIdentifiers
from peerscore.identity import person_key
from peerscore.kafka_io import KafkaPublisher
from peerscore.scoring.app import ScoringConfig, create_app
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.outcomes.consumer import outcome_loop
from peerscore.scoring.outcomes.models import OutcomeRow
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration
TOKEN = "outcomes-token"
SECRET = "outcomes-secret"
AT = datetime(2026, 10, 20, 9, 30, tzinfo=UTC)


def stored(engine: Engine) -> dict[str, tuple[str, str]]:
    with Session(engine) as session:
        return {r.outcome_id: (r.person_key, r.kind) for r in session.exec(select(OutcomeRow)).all()}


def test_posted_outcomes_are_keyed_and_stored_once(kafka_settings: KafkaSettings, engine: Engine) -> None:
    config = ScoringConfig(
        runtime=RuntimeSettings(env="prod"),  # type: ignore[arg-type]
        kafka=kafka_settings,
        database=DatabaseSettings(database_url=str(engine.url)),
        scoring=ScoringSettings(),
        auth=ApiAuthSettings(api_token=SecretStr(TOKEN)),
        identity=IdentitySettings(person_key_secret=SecretStr(SECRET)),
    )
    batch = {
        "outcomes": [
            {"id": "crm-1", "email": " Ada.Novak@Acme.example ", "kind": "won", "occurred_at": AT.isoformat()},
            {
                "id": "crm-2",
                "person_key": "p_known",
                "kind": "rejected",
                "reason": "student",
                "occurred_at": AT.isoformat(),
            },
        ]
    }
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(config, engine=engine, start_consumer=False)) as api:
        assert api.post("/v1/outcomes", json=batch).status_code == 401
        assert api.post("/v1/outcomes", json=batch, headers=auth).status_code == 202
        assert api.post("/v1/outcomes", json=batch, headers=auth).status_code == 202  # a client retry
        missing = {"outcomes": [{"id": "x", "kind": "won", "occurred_at": AT.isoformat()}]}
        assert api.post("/v1/outcomes", json=missing, headers=auth).status_code == 422

    expected_key = person_key(PersonIdentifiers(email="ada.novak@acme.example"), SECRET.encode())
    assert stored(engine) == {"crm-1": (expected_key, "won"), "crm-2": ("p_known", "rejected")}


def test_outcomes_topic_is_stored_once_even_when_redelivered(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher
) -> None:
    create_tables(engine, SCORING_TABLES)
    outcomes = [
        Outcome(
            event_id=f"hs-{i}",
            person_key=f"p_{i}",
            kind="opportunity_created",
            source="hubspot",
            occurred_at=AT,
            received_at=AT,
        )
        for i in range(5)
    ]
    records = [(o.person_key, o.model_dump_json().encode()) for o in outcomes]
    produce(kafka_settings, topics.outcomes, records + records[:2] + [("p_bad", b"{}")])

    loop = outcome_loop(kafka=kafka_settings, group_id=unique("outcomes"), engine=engine, publisher=publisher)
    loop.run(max_messages=len(records) + 3, timeout=60)

    assert loop.stats.dead_lettered == 1
    assert stored(engine) == {o.event_id: (o.person_key, o.kind) for o in outcomes}
