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
from peerscore.identity import email_person_key, person_key
from peerscore.kafka_io import KafkaPublisher
from peerscore.scoring.app import ScoringConfig, create_app
from peerscore.scoring.identity.models import IdentityLinkRow
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.outcomes.consumer import outcome_loop
from peerscore.scoring.outcomes.models import OutcomeRow
from peerscore.scoring.outcomes.store import load_outcomes, store_outcomes
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
    with TestClient(create_app(config, engine=engine, start_consumers=False)) as api:
        assert api.post("/v1/outcomes", json=batch).status_code == 401
        assert api.post("/v1/outcomes", json=batch, headers=auth).status_code == 202
        assert api.post("/v1/outcomes", json=batch, headers=auth).status_code == 202  # a client retry
        missing = {"outcomes": [{"id": "x", "kind": "won", "occurred_at": AT.isoformat()}]}
        assert api.post("/v1/outcomes", json=missing, headers=auth).status_code == 422
        blank = {"outcomes": [{"id": "y", "email": "  ", "kind": "won", "occurred_at": AT.isoformat()}]}
        assert api.post("/v1/outcomes", json=blank, headers=auth).status_code == 422

    expected_key = person_key(PersonIdentifiers(email="ada.novak@acme.example"), SECRET.encode())
    assert stored(engine) == {"crm-1": (expected_key, "won"), "crm-2": ("p_known", "rejected")}


def test_outcomes_topic_is_stored_once_even_when_redelivered(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher
) -> None:
    create_tables(engine, SCORING_TABLES)
    outcomes = [
        Outcome(
            event_id=f"hs-{i}",
            person_key=email_person_key(f"buyer{i}@acme.example", SECRET.encode()),  # as crm-sync keys them
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


def test_outcomes_are_read_under_the_canonical_person_once_the_link_appears(engine: Engine) -> None:
    """An outcome may name an identity scoring has not linked yet: it is kept as sent and joins its person as
    soon as the merge's link is written (anonymous → email → user id here), with no rewrite of the row."""
    create_tables(engine, SCORING_TABLES)
    secret = SECRET.encode()
    email = email_person_key("ada@acme.example", secret)
    anon = person_key(PersonIdentifiers(anonymous_id="anon-1"), secret)
    uid = person_key(PersonIdentifiers(user_id="u-1"), secret)
    other = email_person_key("bob@acme.example", secret)
    assert anon is not None and uid is not None

    def outcome(event_id: str, key: str, minutes: int) -> Outcome:
        at = AT.replace(minute=minutes)
        return Outcome(event_id=event_id, person_key=key, kind="won", source="webhook", occurred_at=at, received_at=at)

    with Session(engine) as session, session.begin():
        store_outcomes(session, [outcome("o-1", email, 1), outcome("o-2", anon, 2), outcome("o-3", other, 3)])
    with Session(engine) as session:
        assert [k for k, _, _ in load_outcomes(session)] == [email, anon, other]
    with Session(engine) as session, session.begin():
        for source, target, rank in ((anon, email, 2), (email, uid, 3)):
            session.add(
                IdentityLinkRow(person_key=source, merged_into=target, target_rank=rank, merge_id=source, merged_at=AT)
            )
    with Session(engine) as session:
        assert [k for k, _, _ in load_outcomes(session)] == [uid, uid, other]
        assert [k for k, _, _ in load_outcomes(session, {uid})] == [uid, uid]
    assert stored(engine) == {"o-1": (email, "won"), "o-2": (anon, "won"), "o-3": (other, "won")}  # audit trail
