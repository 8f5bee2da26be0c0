"""The worker with the conversion model: registry → champion → hot-load → scores change, shadow, rollback,
qualification by probability and reasons in words. The real ScoringHandler on SQLite; Kafka is a list."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.consumer import Message
from peerscore.db import create_tables, make_engine
from peerscore.events import EngagementEvent, LeadScore, LeadTransition
from peerscore.kafka_io import OutgoingRecord
from peerscore.scoring.domain import Ruleset, parse_ruleset
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES, PersonRow
from peerscore.scoring.predictive import model_registry
from peerscore.scoring.predictive.online import BatchPredictor
from peerscore.topics import Topics
from tests.unit.scoring.backtest.support import default_yaml

from .support import generated, register_result, ruleset, trained

TOPICS = Topics(prefix="unit")


class ListPublisher:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.records.extend(records)

    def flush(self, timeout: float | None = None) -> None:
        return None

    def take(self, topic: str) -> list[bytes]:
        out = [r.value for r in self.records if r.topic == topic]
        self.records = [r for r in self.records if r.topic != topic]
        return out


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'scoring.db'}")
    create_tables(eng, SCORING_TABLES)
    yield eng
    eng.dispose()


def _roles(engine: Engine, action: str, version: int | None = None, role: model_registry.Role = "champion") -> None:
    with Session(engine) as session, session.begin():
        if action == "promote":
            assert version is not None
            model_registry.promote(session, version, role, force=True)  # the selection gate is tested elsewhere
        else:
            model_registry.rollback(session)


class Worker:
    def __init__(self, engine: Engine, rules: Ruleset, predictor: BatchPredictor) -> None:
        self.publisher = ListPublisher()
        self.handler = ScoringHandler(
            engine=engine,
            ruleset=lambda: rules,
            topics=TOPICS,
            publisher=self.publisher,
            group_id="unit",
            metrics=ScoringMetrics(CollectorRegistry()),
            predictor=predictor,
        )
        self.offset = 0
        events = sorted(generated()[0], key=lambda e: e.occurred_at)
        self.pending: list[EngagementEvent] = events[-1200:]  # the newest journeys: leads the model scores

    def batch(self, size: int = 150) -> list[LeadScore]:
        chunk, self.pending = self.pending[:size], self.pending[size:]
        messages = []
        for e in chunk:
            messages.append(Message(TOPICS.events, 0, self.offset, e.person_key, e, 0))
            self.offset += 1
        self.handler.handle(messages)
        return [LeadScore.model_validate_json(v) for v in self.publisher.take(TOPICS.scores)]


def _predictions(engine: Engine) -> list[model_registry.ModelPredictionRow]:
    with Session(engine) as session:
        return list(session.exec(select(model_registry.ModelPredictionRow)).all())


def test_promote_hot_load_shadow_and_rollback(engine: Engine) -> None:
    v1, v2 = register_result(engine, trained(7, 15)), register_result(engine, trained(8, 4))
    worker = Worker(engine, ruleset(), BatchPredictor(check_interval_s=0, reason_threshold=0.5))

    scores = worker.batch()
    assert scores and all(s.conversion_probability is None and s.model_version is None for s in scores)
    assert _predictions(engine) == []  # rules only: nothing to record

    _roles(engine, "promote", v1)
    scores = worker.batch()
    assert scores and {s.model_version for s in scores} == {v1}
    assert all(s.conversion_probability is not None for s in scores)
    assert _predictions(engine) == []  # no challenger: the champion's probability lives in the lead's score
    with Session(engine) as session:
        stored = [LeadScore.model_validate(r.score) for r in session.exec(select(PersonRow)).all() if r.score]
    assert {s.model_version for s in stored if s.person_key in {x.person_key for x in scores}} == {v1}

    _roles(engine, "promote", v2, role="challenger")
    scores = worker.batch()
    assert {s.model_version for s in scores} == {v1}  # only the champion acts
    shadow = [p for p in _predictions(engine) if p.challenger_version == v2]
    assert shadow and all(p.challenger_probability is not None and p.champion_version == v1 for p in shadow)
    assert any(p.challenger_probability != p.champion_probability for p in shadow)  # two different models

    _roles(engine, "promote", v2)  # the challenger becomes champion, hot-loaded on the next batch
    scores = worker.batch()
    assert {s.model_version for s in scores} == {v2}
    assert len(_predictions(engine)) == len(shadow)  # the challenger slot is empty again: no shadow record

    _roles(engine, "rollback")
    assert {s.model_version for s in worker.batch()} == {v1}


def test_model_qualifies_and_explains_only_leads_over_the_bar(engine: Engine) -> None:
    version = register_result(engine, trained(7, 15))
    _roles(engine, "promote", version)
    text = default_yaml().replace(
        "qualify: {min_grade: B, min_activity: 50}", "qualify: {min_grade: B, min_activity: 50, min_probability: 0.3}"
    )
    rules = parse_ruleset(text)
    worker = Worker(engine, rules, BatchPredictor(check_interval_s=0, reason_threshold=0.6))
    scores = [s for _ in range(4) for s in worker.batch(250)]
    published = [LeadTransition.model_validate_json(v) for v in worker.publisher.take(TOPICS.qualified)]
    updates = [t for t in published if t.kind == "updated"]  # handed-off leads whose CRM record follows them
    assert all(t.score.qualified and t.score.model_version == version for t in updates)
    transitions = [t for t in published if t.kind != "updated"]
    assert all(t.kind == "qualified" for t in transitions if (t.score.conversion_probability or 0) >= 0.3)
    by_model = [
        t
        for t in transitions
        if t.kind == "qualified" and (t.score.grade in ("C", "D") or t.score.engagement + t.score.intent < 50)
    ]
    assert by_model, "some leads qualify on probability alone"
    for t in by_model:
        assert t.score.qualified and (t.score.conversion_probability or 0) >= 0.3
        assert any(r.startswith("Likely to convert") for r in t.score.reasons)
    with Session(engine) as session:
        stored = {r.person_key: r.qualified for r in session.exec(select(PersonRow)).all()}
    last = {t.person_key: t.kind for t in transitions}  # a later batch may recycle a lead the model let go of
    assert all(stored[t.person_key] for t in by_model if last[t.person_key] == "qualified")
    explained = [s for s in scores if any(r.startswith("Likely to convert") for r in s.reasons)]
    assert explained and all((s.conversion_probability or 0) >= 0.3 for s in explained)
    quiet = [s for s in scores if (s.conversion_probability or 0) < 0.3]
    assert quiet and not any(r.startswith("Likely to convert") for s in quiet for r in s.reasons)


def _explained(score: LeadScore) -> bool:
    return any(r.startswith("Likely to convert") for r in score.reasons)


def test_a_restarted_worker_explains_only_leads_that_cross_the_threshold(engine: Engine) -> None:
    """The reason threshold is crossed against the probability in the lead's stored score, not a worker's memory:
    a new worker (a restart, another replica) does not explain again a lead that was already above it."""
    _roles(engine, "promote", register_result(engine, trained(7, 15)))
    first = Worker(engine, ruleset(), BatchPredictor(check_interval_s=0, reason_threshold=0.5))
    before: dict[str, LeadScore] = {}
    for _ in range(4):
        before |= {s.person_key: s for s in first.batch()}
    second = Worker(engine, ruleset(), BatchPredictor(check_interval_s=0, reason_threshold=0.5))
    second.pending, second.offset = first.pending, first.offset
    after = [s for _ in range(4) for s in second.batch()]

    # Same version: a score republished with what is stored (reasons included); a new version has new reasons.
    rescored = [s for s in after if s.person_key in before and s.version > before[s.person_key].version]
    stayed_above = [
        s
        for s in rescored
        if (before[s.person_key].conversion_probability or 0) >= 0.5 and (s.conversion_probability or 0) >= 0.5
    ]
    assert stayed_above, "some leads above the threshold before the restart are scored again after it"
    newly_qualified = {s.person_key for s in stayed_above if s.qualified and not before[s.person_key].qualified}
    assert not any(_explained(s) for s in stayed_above if s.person_key not in newly_qualified)
    first_after: dict[str, LeadScore] = {}
    for score in after:
        first_after.setdefault(score.person_key, score)
    crossed = [
        s
        for s in first_after.values()
        if (s.conversion_probability or 0) >= 0.5
        and (s.person_key not in before or (before[s.person_key].conversion_probability or 0) < 0.5)
    ]
    assert crossed and all(_explained(s) for s in crossed)  # new to the model, or from below: explained
