"""Thin Kafka edges: a producer that can wait for acknowledgement, and client factories.

Only entry points call these factories; handlers receive the wrapper (or any object with the same methods).
``KAFKA_CLIENT`` chooses the client library: kafka-python (the default) or confluent-kafka (the ``confluent`` extra:
:mod:`peerscore.kafka_confluent`, :mod:`peerscore.kafka_confluent_consumer`), behind the same interfaces
(:class:`Publisher`, :class:`LoopConsumer`, :class:`Reader`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaTimeoutError
from kafka.structs import OffsetAndMetadata, TopicPartition
from pydantic import BaseModel

from peerscore.kafka_connect import connect_options
from peerscore.settings import KafkaSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class OutgoingRecord:
    """``value=None`` is a tombstone: on a compacted topic it deletes every earlier value of the key."""

    topic: str
    key: str | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def record(topic: str, key: str | None, model: BaseModel) -> OutgoingRecord:
    return OutgoingRecord(topic, key, model.model_dump_json().encode())


class Publisher(Protocol):
    """What handlers and apps need from a producer."""

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None: ...

    def flush(self, timeout: float | None = None) -> None: ...


class LoopConsumer(Protocol):
    """What :class:`peerscore.consumer.ConsumerLoop` needs from a group consumer (kafka-python's names and shapes:
    ``poll`` returns records with ``topic``, ``partition``, ``offset``, ``key``, ``value`` and ``timestamp``,
    grouped by partition; ``subscribe`` takes a rebalance listener; errors are ``kafka.errors.KafkaError``)."""

    def subscribe(self, topics: Sequence[str], listener: Any = None) -> None: ...

    def poll(self, timeout_ms: int = 0) -> Mapping[TopicPartition, Sequence[Any]]: ...

    def assignment(self) -> set[TopicPartition]: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> None: ...

    def commit_async(self, offsets: Mapping[TopicPartition, OffsetAndMetadata], callback: Any = None) -> Any:
        """Send the commit without waiting; ``callback(offsets, response)`` gets an exception on failure."""
        ...

    def highwater(self, partition: TopicPartition) -> int | None: ...

    def position(self, partition: TopicPartition, timeout_ms: int | None = None) -> int | None: ...

    def close(self, autocommit: bool = False) -> None: ...


class Reader(Protocol):
    """A group-less consumer: the caller assigns partitions and reads from the beginning; nothing is committed."""

    def partitions_for_topic(self, topic: str) -> set[int] | None: ...

    def assign(self, partitions: Sequence[TopicPartition]) -> None: ...

    def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]: ...

    def position(self, partition: TopicPartition, timeout_ms: int | None = None) -> int | None: ...

    def poll(self, timeout_ms: int = 0) -> Mapping[TopicPartition, Sequence[Any]]: ...

    def close(self, autocommit: bool = False) -> None: ...


class KafkaPublisher:
    """``acks='all'`` idempotent producer. ``publish(wait=True)`` returns only once every record is acknowledged,
    and raises if any was not: callers answer their clients (or commit) only after that."""

    def __init__(self, producer: KafkaProducer, ack_timeout_s: float = 30.0) -> None:
        self._producer = producer
        self._ack_timeout_s = ack_timeout_s

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        futures = [
            self._producer.send(
                r.topic,
                key=r.key.encode() if r.key is not None else None,
                value=r.value,
                headers=list(r.headers),
            )
            for r in records
        ]
        if wait:
            self._producer.flush(timeout=self._ack_timeout_s)
            for future in futures:
                future.get(timeout=self._ack_timeout_s)

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Close, waiting up to ``timeout`` for pending records to be acknowledged.

        Records still unacknowledged after that (the broker is gone) are abandoned — their ``publish`` callers
        were already told they failed — so the producer's threads stop now. Without this kafka-python's close
        raises in ``flush`` and leaves the producer half-open until garbage collection retries and fails again.
        """
        try:
            self._producer.close(timeout=timeout)
        except KafkaTimeoutError:
            sender = getattr(self._producer, "_sender", None)  # kafka-python has no public "abort pending"
            if sender is not None:
                sender.force_close()
                sender.join(timeout)
            self._producer.close(timeout=0)
            log.warning("producer_closed_with_unacknowledged_records")


def make_producer(settings: KafkaSettings, client_suffix: str = "producer") -> KafkaProducer:
    return KafkaProducer(
        **connect_options(settings),
        client_id=f"{settings.client_id}-{client_suffix}",
        acks="all",
        linger_ms=settings.linger_ms,
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
        request_timeout_ms=settings.request_timeout_ms,
        max_block_ms=settings.max_block_ms,
        retries=2**31 - 1,
        delivery_timeout_ms=max(120_000, settings.request_timeout_ms + settings.linger_ms),
        enable_idempotence=settings.enable_idempotence,
        max_in_flight_requests_per_connection=5 if settings.enable_idempotence else 1,
    )


def make_publisher(settings: KafkaSettings, client_suffix: str = "producer") -> KafkaPublisher:
    """The publisher of the configured client (``KAFKA_CLIENT``); confluent's is a :class:`KafkaPublisher` too, so
    callers that own and close one keep their type."""
    if settings.client == "confluent":
        from peerscore.kafka_confluent import make_confluent_publisher

        return make_confluent_publisher(settings, client_suffix)
    return KafkaPublisher(make_producer(settings, client_suffix), ack_timeout_s=settings.ack_timeout_ms / 1000)


def make_consumer(settings: KafkaSettings, group_id: str) -> LoopConsumer:
    """A manual-commit consumer; subscription is left to the consumer loop so it can attach its listener."""
    if settings.client == "confluent":
        from peerscore.kafka_confluent_consumer import make_confluent_consumer

        return make_confluent_consumer(settings, group_id)
    consumer: LoopConsumer = KafkaConsumer(
        **connect_options(settings),
        client_id=f"{settings.client_id}-{group_id}",
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_records=settings.max_poll_records,
        max_poll_interval_ms=settings.max_poll_interval_ms,
    )
    return consumer


def make_reader(settings: KafkaSettings, client_suffix: str) -> Reader:
    """A group-less consumer (the rules watcher, the DLQ replay): no group join, nothing ever committed."""
    if settings.client == "confluent":
        from peerscore.kafka_confluent_consumer import make_confluent_reader

        return make_confluent_reader(settings, client_suffix)
    reader: Reader = KafkaConsumer(
        **connect_options(settings),
        client_id=f"{settings.client_id}-{client_suffix}",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=settings.request_timeout_ms,
    )
    return reader
