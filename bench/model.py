"""Predictive scoring on generated history: model vs rules-only on the held-out period, and what online
prediction costs the scoring worker. Prints a table and writes var/bench/model.json.

    make bench-model                                 # 8,000 people over 150 days (~50k events)
    BENCH_MODEL_PEOPLE=3000 make bench-model         # smaller
    BENCH_MODEL_EVENTS=1000000 make bench-model      # people chosen for about that many events (training cost)
    BENCH_MODEL_ONLINE_EVENTS=20000 BENCH_MODEL_BATCH=500 BENCH_MODEL_WARM_EVENTS=30000 …

Quality: the generator's outcomes follow a latent buying intent (see ``IntentHistoryGenerator``); the training
set is replayed point-in-time with the production fold, split by time, and the newest period is held out. Both
the calibrated model, the rules total and a logistic-regression baseline are ranked on exactly those rows.

Cost: the real ScoringHandler (SQLite, in-memory publisher) applies the newest events in batches with a champion
promoted, the garbage collector set as the worker's entry point sets it, after the events before them
(``BENCH_MODEL_WARM_EVENTS``, untimed) so the leads have stored scores as in a running system (with 0 every lead is
new to the model and above the reason threshold it is explained). The predictor's time per batch (features + one
predict call + recording + reasons) is reported as a share of the handler's whole batch time. The machine may be
shared: figures are as measured.

Training cost: wall time of the point-in-time dataset (replaying every event with the production fold) plus
training (the model on all features and, for the card, the same on the rule features alone), and the process's
peak resident memory after generation and after training (``ru_maxrss``; generation holds the events too).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry
from report import measured_where, publish_result  # noqa: E402 - bench/ is on sys.path when run as a script
from sqlmodel import Session

from peerscore.consumer import Message
from peerscore.db import create_tables, make_engine
from peerscore.dev.generated import generated_world
from peerscore.events import EngagementEvent
from peerscore.kafka_io import OutgoingRecord
from peerscore.runtime import tune_gc_for_throughput
from peerscore.scoring.domain import load_default_ruleset
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.predictive import model_registry
from peerscore.scoring.predictive.online import BatchPredictor
from peerscore.scoring.predictive.pipeline import fit
from peerscore.scoring.predictive.sources import group_by_person
from peerscore.scoring.predictive.training import TrainConfig
from peerscore.topics import Topics

END = datetime(2026, 11, 1, tzinfo=UTC)
SECRET = b"bench-model"


class DiscardingPublisher:
    """Outputs are counted, not sent: the broker's cost is the same with or without the model."""

    def __init__(self) -> None:
        self.sent = 0

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.sent += len(records)

    def flush(self, timeout: float | None = None) -> None:
        return None


EVENTS_PER_PERSON = 6.3
"""About how many events the generator makes per person over 150 days (measured), to size a run by events."""


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _metric(test: dict, side: str, name: str) -> float | None:
    value = test.get(side, {}).get(name)
    return round(value, 4) if value is not None else None


def generate(people: int, days: int) -> tuple[list[EngagementEvent], list[tuple[str, str, datetime]]]:
    """Journeys keyed by user id, outcomes sent by email through crm-sync's keying, read under canonical keys."""
    world = generated_world(people, days, 2026, SECRET, END)
    return world.events, world.labels()


def online_cost(
    model_text: str,
    calibrator: dict,
    features: list[str],
    events: list[EngagementEvent],
    batch: int,
    history: Sequence[EngagementEvent] = (),
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/scoring.db")
        create_tables(engine, SCORING_TABLES)
        with Session(engine) as session, session.begin():
            row = model_registry.register(
                session,
                model_text=model_text,
                calibrator=calibrator,
                features=features,
                card={},
                training_since=None,
                training_until=None,
            )
            assert row.version is not None
            model_registry.promote(session, row.version, force=True)  # measures cost, not selection
        ruleset = load_default_ruleset()
        predictor = BatchPredictor(check_interval_s=2.0)
        topics = Topics(prefix="bench")
        handler = ScoringHandler(
            engine=engine,
            ruleset=lambda: ruleset,
            topics=topics,
            publisher=DiscardingPublisher(),
            group_id="bench-model",
            metrics=ScoringMetrics(CollectorRegistry()),
            predictor=predictor,
        )
        warm = [list(history[start : start + batch]) for start in range(0, len(history), batch)]
        _timed_batches(handler, predictor, topics, warm, 0)  # the stored scores a running worker finds
        batches = [events[start : start + batch] for start in range(0, len(events), batch)]
        timed = _timed_batches(handler, predictor, topics, batches, len(history))
        engine.dispose()
    return {
        "online_history_events": len(history),
        "online_events": len(events),
        "online_batch_events": batch,
        "online_batches": len(batches),
        **{f"online_{k}": v for k, v in timed.items()},
    }


def _timed_batches(
    handler: ScoringHandler, predictor: BatchPredictor, topics: Topics, batches: list[list[EngagementEvent]], first: int
) -> dict[str, float]:
    """Handle ``batches`` and report the predictor's time as a share of the handler's."""
    before = replace(predictor.stats)
    handled, offset = 0.0, first
    for events in batches:
        messages = [Message(topics.events, 0, offset + i, e.person_key, e, 0) for i, e in enumerate(events)]
        offset += len(events)
        began = time.perf_counter()
        handler.handle(messages)
        handled += time.perf_counter() - began
    stats = predictor.stats
    count = max(1, stats.batches - before.batches)
    predicted = stats.seconds - before.seconds
    return {
        "leads_scored_per_batch": round((stats.people - before.people) / count, 1),
        "explained_leads": stats.explained - before.explained,
        "batch_ms": round(1000 * handled / count, 1),
        "predict_ms_per_batch": round(1000 * predicted / count, 1),
        "predict_share_of_batch": round(predicted / handled, 4) if handled else 0.0,
    }


def main() -> None:
    events_wanted = int(os.environ.get("BENCH_MODEL_EVENTS", "0"))
    people = int(os.environ.get("BENCH_MODEL_PEOPLE", "8000"))
    if events_wanted:
        people = max(100, round(events_wanted / EVENTS_PER_PERSON))
    days = int(os.environ.get("BENCH_MODEL_DAYS", "150"))
    online_events = int(os.environ.get("BENCH_MODEL_ONLINE_EVENTS", "20000"))
    batch = int(os.environ.get("BENCH_MODEL_BATCH", "500"))
    warm_events = int(os.environ.get("BENCH_MODEL_WARM_EVENTS", "30000"))
    print(f"generating {people:,} people over {days} days …", flush=True)
    events, outcomes = generate(people, days)
    generated_rss = _peak_rss_mb()
    ruleset = load_default_ruleset()
    print(f"point-in-time training set from {len(events):,} events, training …", flush=True)
    started = time.perf_counter()
    run = fit(
        group_by_person(events),
        outcomes,
        ruleset,
        start=min(e.occurred_at for e in events),
        end=END,
        config=TrainConfig(),
        out=Path("var/bench/model-card"),
    )
    train_s = time.perf_counter() - started
    trained_rss = _peak_rss_mb()
    result = run.result
    if result.model_text is None:
        raise SystemExit(f"no model trained: {result.fallback_reason}")
    test = result.card["test"]
    print(f"online cost over the newest {online_events:,} events …", flush=True)
    ordered = sorted(events, key=lambda e: e.occurred_at)
    newest, older = ordered[-online_events:], ordered[:-online_events][-warm_events:] if warm_events else []
    tune_gc_for_throughput()  # as the worker's entry point does (and the generated world is never scanned again)
    cost = online_cost(result.model_text, result.calibrator, result.feature_names, newest, batch, older)
    report = {
        **measured_where(note="shared with other work while measured"),
        "people": people,
        "events": len(events),
        "training_rows": len(run.data),
        "training_positives": run.data.positives,
        "test_rows": test["model"]["rows"],
        "test_positives": test["model"]["positives"],
        "dataset_and_training_s": round(train_s, 1),
        "peak_rss_mb_after_generation": generated_rss,
        "peak_rss_mb_after_training": trained_rss,
        "features": len(result.feature_names),
        "rule_features": run.data.spec.rule_features,
        "signal_types_named": list(run.data.spec.vocabulary.types),
        "model_rule_features_roc_auc": _metric(test, "model_rule_features", "roc_auc"),
        "model_rule_features_pr_auc": _metric(test, "model_rule_features", "pr_auc"),
        "best_iteration": result.card["best_iteration"],
        "model_roc_auc": round(test["model"]["roc_auc"], 4),
        "rules_roc_auc": round(test["rules"]["roc_auc"], 4),
        "model_pr_auc": round(test["model"]["pr_auc"], 4),
        "rules_pr_auc": round(test["rules"]["pr_auc"], 4),
        "model_top_decile_lift": round(test["model"]["top_decile_lift"], 3),
        "rules_top_decile_lift": round(test["rules"]["top_decile_lift"], 3),
        "baseline_roc_auc": round(test["baseline"]["roc_auc"], 4),
        "baseline_pr_auc": round(test["baseline"]["pr_auc"], 4),
        "baseline_top_decile_lift": round(test["baseline"]["top_decile_lift"], 3),
        "model_brier": round(test["model"]["brier"], 4),
        "baseline_brier": round(test["baseline"]["brier"], 4),
        "promotion_verdict": result.card["selection"]["beats_rules"],
        "model_beats_rules": bool(
            test["model"]["roc_auc"] > test["rules"]["roc_auc"]
            and test["model"]["top_decile_lift"] > test["rules"]["top_decile_lift"]
        ),
        **cost,
        "card": str(run.card_path),
    }
    publish_result("model", report, title="Predictive scoring: model vs rules (held-out period), online cost")


if __name__ == "__main__":
    main()
