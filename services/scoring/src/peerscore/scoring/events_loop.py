"""The events loop: scoring's handler inside the shared consumer loop on the events topic, as one object.

Built the same way by the service (app.py), the benchmark and the tests, so what is measured and tested is
what runs.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from peerscore.consumer import ConsumerLoop
from peerscore.events import EngagementEvent
from peerscore.kafka_io import Publisher, make_consumer
from peerscore.observability import ConsumerMetrics
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.handler import CrmLeads, ScoringHandler
from peerscore.scoring.identity.batch import PrivacyConfig
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.predictive.online import BatchPredictor
from peerscore.settings import KafkaSettings


def scoring_loop(
    kafka: KafkaSettings,
    *,
    engine: Engine,
    ruleset: Callable[[], Ruleset],
    publisher: Publisher,
    group_id: str,
    registry: CollectorRegistry,
    keep_history: bool = True,
    poll_timeout_ms: int = 500,
    kafka_group_id: str | None = None,
    predictor: BatchPredictor | None = None,
    privacy: PrivacyConfig | None = None,
    crm_leads: CrmLeads = "mql",
) -> ConsumerLoop[EngagementEvent]:
    """``group_id`` names both the Kafka group and the offsets stored with the state; ``kafka_group_id`` can
    set the Kafka group apart (a consumer with no committed offsets still resumes where the database says)."""
    topics = kafka.topics()
    handler = ScoringHandler(
        engine=engine,
        ruleset=ruleset,
        topics=topics,
        publisher=publisher,
        group_id=group_id,
        metrics=ScoringMetrics(registry),
        keep_history=keep_history,
        predictor=predictor,
        privacy=privacy,
        crm_leads=crm_leads,
    )
    return ConsumerLoop(
        consumer=make_consumer(kafka, kafka_group_id or group_id),
        topics=[topics.events],
        handler=handler,
        dlq_topic=topics.events_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(registry, group_id),
        poll_timeout_ms=poll_timeout_ms,
    )
