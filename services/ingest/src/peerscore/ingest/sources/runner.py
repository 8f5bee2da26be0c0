"""The Kafka source-topic consumers as the ingest app runs them, kept out of ``app.py``.

They are optional: the source consumers run only with ``INGEST_SOURCES_ENABLED=true``. They share the app's
acks=all publisher and run on background threads owned by the app's lifespan, like the scoring worker's loop.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from peerscore.ingest.settings import SourceTopicSettings
from peerscore.ingest.sources.consumers import SourceConsumers, source_loops
from peerscore.kafka_io import Publisher
from peerscore.observability import ConsumerMetrics, ReadinessCheck
from peerscore.settings import KafkaSettings


class SourceRunner:
    """Starts the source loops in the lifespan (after the publisher exists) and stops them before it closes."""

    def __init__(
        self,
        sources: SourceTopicSettings | None,
        *,
        kafka: KafkaSettings,
        person_key_secret: bytes,
        registry: CollectorRegistry,
    ) -> None:
        self._sources = sources
        self._kafka = kafka
        self._secret = person_key_secret
        self._registry = registry
        self._running: SourceConsumers | None = None
        self._metrics: ConsumerMetrics | None = None

    @property
    def enabled(self) -> bool:
        return self._sources is not None and self._sources.enabled

    async def start(self, publisher: Callable[[], Publisher]) -> None:
        if not self.enabled or self._running is not None:
            return
        sources = self._sources
        assert sources is not None
        if self._metrics is None:  # registered once per app, even if the lifespan runs again
            self._metrics = ConsumerMetrics(self._registry, sources.group_id)
        metrics = self._metrics

        def build() -> SourceConsumers:
            return SourceConsumers.start(
                lambda: source_loops(
                    sources,
                    kafka=self._kafka,
                    publisher=publisher(),
                    person_key_secret=self._secret,
                    metrics=metrics,
                )
            )

        self._running = await run_in_threadpool(build)  # consumers connect on construction: not on the loop

    async def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            await run_in_threadpool(running.stop)

    def checks(self) -> dict[str, ReadinessCheck]:
        """The readiness checks this adds to ``/readyz``: none while the sources are off."""
        return {"sources": self.check} if self.enabled else {}

    def check(self) -> None:
        """Readiness: the source loops run (trivially ready when sources are off)."""
        if self._running is not None:
            self._running.check()
        elif self.enabled:
            raise RuntimeError("source consumers are not running")
