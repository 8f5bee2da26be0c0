"""Where accepted events go: the events topic, through an acks=all publisher, within a deadline.

Every HTTP route publishes through :class:`EventSink`, so all of them keep the same contract: the answer is 200
only once Kafka acknowledged every event, and any failure to get that acknowledgement in time is a 503 with
``Retry-After`` (nothing claimed accepted; the event ids make a client's retry harmless downstream).
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import anyio.to_thread
import structlog

from peerscore.events import EngagementEvent
from peerscore.ingest.rejections import BrokerUnavailable
from peerscore.kafka_io import Publisher, record

log = structlog.get_logger(__name__)


class EventSink:
    """The publisher (injected, or opened by the app's lifespan), the topic and the publish deadline."""

    def __init__(self, topic: str, *, timeout_s: float, retry_after_s: int, publisher: Publisher | None) -> None:
        self.topic = topic
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self._publisher = publisher

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            raise RuntimeError("no publisher: the app's lifespan is not running")
        return self._publisher

    @property
    def attached(self) -> bool:
        return self._publisher is not None

    def attach(self, publisher: Publisher | None) -> None:
        """Set (or, with None, drop) the publisher the lifespan owns."""
        self._publisher = publisher

    async def publish(self, events: Sequence[EngagementEvent], *, endpoint: str) -> None:
        """Publish and wait for every acknowledgement, or raise :class:`BrokerUnavailable` (503)."""
        if not events:
            return
        publisher = self.publisher

        def serialise_and_send() -> None:  # off the event loop: serialising 500 events takes milliseconds
            publisher.publish([record(self.topic, e.person_key, e) for e in events], wait=True)

        try:
            # Abandon (not cancel) the worker thread on timeout: a blocked producer call cannot be interrupted,
            # and the client must get its 503 now rather than when the producer gives up.
            with anyio.fail_after(self.timeout_s):
                await anyio.to_thread.run_sync(serialise_and_send, abandon_on_cancel=True)
        except Exception as exc:  # any failure to get an ack means "not accepted"
            log.warning("publish_failed", endpoint=endpoint, events=len(events), error=type(exc).__name__)
            raise BrokerUnavailable(self.retry_after_s) from None
