"""Acceptance: CRM outcomes keyed by email teach a model trained on a Segment-keyed world (SQLite and PostgreSQL).

``peerscore generate-history`` writes journeys keyed by user id (email only in ``identify`` traits), the identity
links the worker writes for them, and outcomes parsed and keyed by crm-sync's own webhook code (by email). The
training path of ``peerscore train`` must join every positive outcome sent and train the same model as labels
attached directly under the canonical key. Before outcomes were read under canonical keys it joined none.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from peerscore.db import create_tables
from peerscore.dev.journeys import IntentHistoryGenerator
from peerscore.events import PersonIdentifiers
from peerscore.identity import identifier_keys, person_key
from peerscore.scoring.backtest.period import Period
from peerscore.scoring.domain import load_default_ruleset
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.outcomes.models import OutcomeRow
from peerscore.scoring.predictive.dataset import DatasetConfig
from peerscore.scoring.predictive.generated import crm_webhook_body, generate_history, generated_world
from peerscore.scoring.predictive.pipeline import fit, train_from_database
from peerscore.scoring.predictive.sources import history_span, stored_histories, stored_outcomes
from peerscore.scoring.predictive.training import TrainConfig

pytestmark = pytest.mark.integration

END = datetime(2026, 10, 1, tzinfo=UTC)
SECRET = b"acceptance-secret"
PEOPLE, DAYS, SEED = 2000, 120, 5
CONFIG = TrainConfig(min_positives=20, num_boost_round=40, early_stopping_rounds=10, min_data_in_leaf=10)
POSITIVE = DatasetConfig().positive_kinds


def test_outcomes_sent_by_email_train_the_same_model_as_labels_attached_directly(engine: Engine) -> None:
    started = time.perf_counter()
    create_tables(engine, SCORING_TABLES)
    generate_history(engine, PEOPLE, DAYS, SEED, SECRET, END)
    sent = IntentHistoryGenerator(seed=SEED).history(PEOPLE, end=END, days=DAYS).outcomes
    sent_positives = sum(1 for o in sent if o["kind"] in POSITIVE)
    assert sent_positives > 50
    # What the CRM sent names people by email only; the stored rows keep that key (the audit trail).
    assert all(
        set(o) == {"event_id", "email", "kind", "reason", "occurred_at"} for o in crm_webhook_body(sent)["outcomes"]
    )
    by_email = {person_key(PersonIdentifiers(email=o["email"]), SECRET) for o in sent}
    with Session(engine) as session:
        stored_keys = set(session.exec(select(OutcomeRow.person_key)).all())
        assert session.exec(select(func.count(col(OutcomeRow.outcome_id)))).one() == len(sent)
    assert stored_keys == by_email

    people = {key for key, _ in stored_histories(engine, Period())}
    read = stored_outcomes(engine)
    assert read == generated_world(PEOPLE, DAYS, SEED, SECRET, END).labels()  # the in-memory world reads the same
    joined = [(k, kind) for k, kind, _ in read if k in people]
    assert sum(1 for _, kind in joined if kind in POSITIVE) == sent_positives
    assert len(joined) == len(sent)

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
                "sent_positives": sent_positives,
                "joined_positives": sum(1 for _, kind in joined if kind in POSITIVE),
                "training_positive_rows": via_crm.data.positives,
                "roc_auc_via_crm": auc_crm,
                "roc_auc_direct": auc_direct,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )
    assert abs(auc_crm - auc_direct) <= 0.01
