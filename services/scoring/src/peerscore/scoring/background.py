"""The scoring service's background work, started by the app's lifespan and stopped in reverse order.

Four loops share the process with the API: the events consumer (scoring), the outcomes consumer (labels for
backtests and training), the decay sweep (leads that went cold without a new event) and the influence report's
timer (:mod:`.insights.timer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from peerscore.kafka_io import KafkaPublisher, Publisher, make_publisher
from peerscore.runtime import BackgroundLoop
from peerscore.scoring.config import ScoringConfig
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.identity.batch import PrivacyConfig
from peerscore.scoring.insights.timer import InsightsTimer
from peerscore.scoring.outcomes.consumer import outcome_loop
from peerscore.scoring.predictive.wiring import predictor_for
from peerscore.scoring.sweeper import DecaySweeper


@dataclass
class Background:
    """What :func:`start_background` started; ``own_publisher`` is closed last, after every loop using it."""

    scoring: BackgroundLoop
    outcomes: BackgroundLoop
    sweeper: DecaySweeper | None
    own_publisher: KafkaPublisher | None
    insights: InsightsTimer | None = None

    def check(self) -> None:
        """Readiness: both consumers run and hold their share of partitions (a dead outcomes loop would silently
        stop labels reaching backtests and training)."""
        self.scoring.check()
        self.outcomes.check()

    def stop(self) -> None:
        if self.insights is not None:
            self.insights.stop()
        if self.sweeper is not None:
            self.sweeper.stop()
        self.scoring.stop()
        self.outcomes.stop()
        if self.own_publisher is not None:
            self.own_publisher.close()


def start_background(
    config: ScoringConfig,
    *,
    engine: Engine,
    ruleset: Callable[[], Ruleset],
    publisher: Publisher | None,
    registry: CollectorRegistry,
) -> Background:
    """Start the loops; they publish with ``publisher`` if given (tests), else with a producer of their own."""
    own: KafkaPublisher | None = None
    if publisher is None:
        own = publisher = make_publisher(config.kafka, "scoring")
    settings = config.scoring
    events = scoring_loop(
        config.kafka,
        engine=engine,
        ruleset=ruleset,
        publisher=publisher,
        group_id=settings.group_id,
        registry=registry,
        keep_history=settings.keep_history,
        crm_leads=settings.crm_leads,
        predictor=predictor_for(config.predictive, registry),
        privacy=PrivacyConfig(
            secret=config.person_key_secret(), dedup_window=timedelta(days=settings.dedup_window_days)
        ),
    )
    scoring = BackgroundLoop(events, "scoring-consumer")
    scoring.start()
    outcomes = BackgroundLoop(
        outcome_loop(kafka=config.kafka, group_id=f"{settings.group_id}-outcomes", engine=engine, publisher=publisher),
        "scoring-outcomes",
    )
    outcomes.start()
    sweeper = None
    if settings.decay_sweep_interval_s > 0:
        sweeper = DecaySweeper(
            engine=engine,
            ruleset=ruleset,
            publisher=publisher,
            events_topic=config.kafka.topics().events,
            interval_s=settings.decay_sweep_interval_s,
        )
        sweeper.start()
    insights = None
    if settings.insights_interval_s > 0:
        insights = InsightsTimer(engine, settings.insights_interval_s)
        insights.start()
    return Background(scoring, outcomes, sweeper, own, insights)
