"""Building and running the source-topic consumer loops next to the ingest API (one loop per topic).

One loop per topic because a handler's ``decode`` sees only a record's bytes: the topic decides which parser
applies. Each loop has its own consumer group (``<group_id>.<source>``) so the groups never mix subscriptions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peerscore.consumer import ConsumerLoop
from peerscore.events import EngagementEvent
from peerscore.ingest.linkedin.leads import pushed_lead_events
from peerscore.ingest.linkedin.social import social_action_events
from peerscore.ingest.settings import SourceTopicSettings
from peerscore.ingest.sources.content import content_events
from peerscore.ingest.sources.handler import Normaliser, SourceHandler
from peerscore.kafka_io import Publisher, make_consumer
from peerscore.observability import ConsumerMetrics
from peerscore.runtime import BackgroundLoop
from peerscore.settings import KafkaSettings

DEFAULT_MAX_RECORD_BYTES = 512 * 1024


def source_normalisers(settings: SourceTopicSettings, secret: bytes) -> dict[str, tuple[str, Normaliser]]:
    """source name → (topic, parser) for every configured topic."""

    def leads(body: Any, received_at: datetime) -> list[EngagementEvent]:
        return pushed_lead_events(body, secret=secret, received_at=received_at)

    def social(body: Any, received_at: datetime) -> list[EngagementEvent]:
        events, _skipped = social_action_events(body, secret=secret, received_at=received_at)
        return events  # skipped notifications (the company's own comments…) are valid input, not events

    def content(body: Any, received_at: datetime) -> list[EngagementEvent]:
        return content_events(body, secret=secret, received_at=received_at)

    candidates = {
        "linkedin-leads": (settings.linkedin_leads_topic, leads),
        "linkedin-social": (settings.linkedin_social_topic, social),
        "content": (settings.content_topic, content),
    }
    return {name: (topic, parser) for name, (topic, parser) in candidates.items() if topic.strip()}


def source_loops(
    settings: SourceTopicSettings,
    *,
    kafka: KafkaSettings,
    publisher: Publisher,
    person_key_secret: bytes,
    metrics: ConsumerMetrics,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> dict[str, ConsumerLoop[list[EngagementEvent]]]:
    """One bounded-runnable loop per configured source topic (tests run them with ``run(max_messages=…)``).

    ``metrics`` is shared by the loops: :class:`ConsumerMetrics` registers fixed names, so a registry holds one.
    """
    topics = kafka.topics()
    loops: dict[str, ConsumerLoop[list[EngagementEvent]]] = {}
    for name, (topic, parser) in source_normalisers(settings, person_key_secret).items():
        handler = SourceHandler(
            normaliser=parser,
            publisher=publisher,
            events_topic=topics.events,
            max_record_bytes=max_record_bytes,
        )
        loops[name] = ConsumerLoop(
            consumer=make_consumer(kafka, f"{settings.group_id}.{name}"),
            topics=[topic],
            handler=handler,
            dlq_topic=topics.events_dlq,
            publisher=publisher,
            metrics=metrics,
            poll_timeout_ms=settings.poll_timeout_ms,
        )
    return loops


@dataclass
class SourceConsumers:
    """The running loops of one ingest process: started and stopped by the app's lifespan."""

    running: dict[str, BackgroundLoop]

    @classmethod
    def start(cls, build: Callable[[], dict[str, ConsumerLoop[list[EngagementEvent]]]]) -> SourceConsumers:
        running = {name: BackgroundLoop(loop, f"ingest-source-{name}") for name, loop in build().items()}
        for background in running.values():
            background.start()
        return cls(running)

    def check(self) -> None:
        """Readiness: every source loop is running."""
        for background in self.running.values():
            background.check()

    def stop(self, timeout: float = 30.0) -> None:
        """Drain: each loop finishes its batch, commits and closes its consumer."""
        for background in self.running.values():
            background.stop(timeout)
