"""What the ingest app adds for the LinkedIn webhooks and the Kafka source topics, kept out of ``app.py``.

Both are optional: the LinkedIn routes exist only with ``LINKEDIN_CLIENT_SECRET`` set (otherwise 404), the source
consumers run only with ``INGEST_SOURCES_ENABLED=true``. The consumers share the app's acks=all publisher and run
on background threads owned by the app's lifespan, like the scoring worker's loop.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from peerscore.ingest.linkedin.routes import Publish, linkedin_router
from peerscore.ingest.settings import IngestSettings, LinkedInSettings, SourceTopicSettings
from peerscore.ingest.sources.consumers import SourceConsumers, source_loops
from peerscore.kafka_io import Publisher
from peerscore.observability import ConsumerMetrics, ReadinessCheck
from peerscore.settings import KafkaSettings


def add_linkedin_routes(
    app: FastAPI,
    linkedin: LinkedInSettings | None,
    *,
    settings: IngestSettings,
    person_key_secret: bytes,
    publish: Publish,
    registry: CollectorRegistry,
) -> None:
    if linkedin is None or not linkedin.enabled:
        return
    app.include_router(
        linkedin_router(
            linkedin,
            person_key_secret=person_key_secret,
            publish=publish,
            registry=registry,
            max_body_bytes=settings.max_batch_bytes,
            retry_after_s=settings.retry_after_s,
        )
    )


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
