"""The source topics' handler for the shared :class:`~peerscore.consumer.ConsumerLoop`.

``decode`` is pure normalisation (the same functions as the HTTP paths): a record that cannot become events
raises :class:`InvalidMessage` and the loop dead-letters it with the reason and its original bytes. ``handle``
publishes the events of a batch and returns only once Kafka acknowledged them, so the loop commits the source
offsets after the events are durable; a failed publish is retried by the loop, and the deterministic event ids
make the resulting duplicates harmless downstream.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from kafka.structs import TopicPartition

from peerscore.consumer import InvalidMessage, Message, RetryableError
from peerscore.events import EngagementEvent, utcnow
from peerscore.ingest.body import check_depth
from peerscore.ingest.errors import InvalidEvent
from peerscore.ingest.rejections import RequestRejected
from peerscore.kafka_io import Publisher, record

Normaliser = Callable[[Any, datetime], list[EngagementEvent]]
"""A source's pure parser: decoded JSON and the receive time → events, or :class:`InvalidEvent`."""


class SourceHandler:
    def __init__(
        self,
        *,
        normaliser: Normaliser,
        publisher: Publisher,
        events_topic: str,
        max_record_bytes: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._normaliser = normaliser
        self._publisher = publisher
        self._events_topic = events_topic
        self._max_record_bytes = max_record_bytes
        self._clock = clock

    def decode(self, key: bytes | None, value: bytes | None) -> list[EngagementEvent]:
        if not value:
            raise InvalidMessage("empty record value")
        if len(value) > self._max_record_bytes:
            raise InvalidMessage(f"record is larger than {self._max_record_bytes} bytes")
        try:
            body = orjson.loads(value)
            check_depth(body)
        except orjson.JSONDecodeError:
            raise InvalidMessage("record value is not valid JSON") from None
        except RequestRejected as exc:
            raise InvalidMessage(exc.message) from None
        try:
            return self._normaliser(body, self._clock())
        except InvalidEvent as exc:
            raise InvalidMessage(f"invalid record: {exc}") from None

    def handle(self, batch: Sequence[Message[list[EngagementEvent]]]) -> None:
        records = [record(self._events_topic, e.person_key, e) for m in batch for e in m.value]
        if not records:
            return
        try:
            self._publisher.publish(records, wait=True)
        except Exception as exc:  # any failure to get every ack: the loop rewinds and retries the batch
            raise RetryableError(f"publish failed: {type(exc).__name__}") from exc

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}
