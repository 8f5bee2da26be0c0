"""Free text stored or published before peerscore.limits existed (a 300-character title in a person's JSON state,
an event on the topic or in the history table) is read cut to today's limits, not refused: refusing it would
dead-letter every later event of that person. Keys that do not fit are still refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry
from sqlmodel import Session

from peerscore import limits
from peerscore.consumer import InvalidMessage
from peerscore.db import create_tables, make_engine
from peerscore.events import AccountHints, LeadScore, PersonTraits
from peerscore.scoring import store
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.domain.state import AccountState, PersonState, lead_contact, new_person
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES
from peerscore.topics import Topics
from tests.in_memory_kafka import RecordingPublisher

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CUT_TITLE = "t" * (limits.TITLE - 1) + "…"


def legacy_person(key: str) -> PersonState:
    """A state as scoring stored it before the limits (built without validation, as no check stood in the way)."""
    traits = PersonTraits.model_construct(title="t" * 300, first_name="Jo")
    company = AccountHints.model_construct(name="n" * 300)
    return new_person(key).model_copy(update={"traits": traits, "company": company, "email": "jo@acme.io"})


def score(key: str) -> LeadScore:
    return LeadScore(
        person_key=key,
        version=1,
        fit=0,
        engagement=0,
        intent=0,
        total=0,
        grade="D",
        level=1,
        qualified=False,
        ruleset_version="r",
        as_of=NOW,
    )


def test_a_person_state_stored_before_the_limits_loads_with_its_free_text_cut(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'legacy.db'}")
    try:
        create_tables(engine, SCORING_TABLES)
        with Session(engine) as session, session.begin():
            store.save_people(session, [(legacy_person("p_old"), score("p_old"))], NOW)
        with Session(engine) as session:
            [(state, _)] = store.load_people(session, ["p_old"]).values()
    finally:
        engine.dispose()
    assert state.traits.title == CUT_TITLE and state.traits.first_name == "Jo"
    assert state.company.name == "n" * (limits.COMPANY - 1) + "…"


def test_a_long_account_name_never_breaks_the_lead_contact() -> None:
    account = AccountState(account_key="acme.io", name="n" * 400)
    contact = lead_contact(new_person("p_a"), account)
    assert contact.company is not None and len(contact.company) == limits.COMPANY


def _handler() -> ScoringHandler:
    return ScoringHandler(
        engine=make_engine("sqlite://"),
        ruleset=load_default_ruleset,
        topics=Topics(prefix="legacy"),
        publisher=RecordingPublisher(),
        group_id="legacy",
        metrics=ScoringMetrics(CollectorRegistry()),
    )


def _event(**sections: object) -> bytes:
    return orjson.dumps(
        {
            "event_id": "e-1",
            "type": "identify",
            "source": "segment",
            "person_key": "p_a",
            "occurred_at": NOW.isoformat(),
            "received_at": NOW.isoformat(),
            **sections,
        }
    )


def test_the_worker_decodes_an_old_event_with_long_free_text_and_refuses_a_long_key() -> None:
    handler = _handler()
    event = handler.decode(b"p_a", _event(traits={"title": "t" * 300}, account={"name": "n" * 300}))
    assert event.traits.title == CUT_TITLE
    with pytest.raises(InvalidMessage, match="account.domain"):
        handler.decode(b"p_a", _event(traits={"title": "t" * 300}, account={"domain": "d" * 300}))
    with pytest.raises(InvalidMessage, match="traits.title"):
        handler.decode(b"p_a", _event(traits={"title": "CTO\x00"}))
