"""The consumer side of the confluent-kafka client (:mod:`peerscore.kafka_confluent` explains the differences from
kafka-python this adapter absorbs): the group consumer the loop drives, and the group-less readers."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import confluent_kafka as ck
import structlog
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from peerscore.kafka_confluent import ConfluentError, librdkafka_options, translated
from peerscore.settings import KafkaSettings

log = structlog.get_logger(__name__)

_UNSET = ck.OFFSET_INVALID


@dataclass(frozen=True, slots=True)
class ConfluentRecord:
    """The fields of kafka-python's ``ConsumerRecord`` the loop and the readers use."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int


def _ck(tp: TopicPartition, offset: int = _UNSET) -> ck.TopicPartition:
    return ck.TopicPartition(tp.topic, tp.partition, offset)


def _tp(c: ck.TopicPartition) -> TopicPartition:
    return TopicPartition(c.topic, c.partition)


class ConfluentConsumer:
    """The subset of kafka-python's ``KafkaConsumer`` that :class:`peerscore.consumer.ConsumerLoop` and the
    group-less readers use, on librdkafka."""

    def __init__(self, consumer: ck.Consumer, *, max_records: int, request_timeout_s: float) -> None:
        self._consumer = consumer
        self._max_records = max_records
        self._timeout_s = request_timeout_s
        self._listener: Any = None
        self._assigning: dict[TopicPartition, int] | None = None
        self._manual: list[TopicPartition] = []

    # -- group membership ------------------------------------------------------------------------------------

    def subscribe(self, topics: Sequence[str], listener: Any = None) -> None:
        self._listener = listener
        self._consumer.subscribe(list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, consumer: ck.Consumer, partitions: list[ck.TopicPartition]) -> None:
        """Let the listener choose starting offsets (its seeks are collected), then assign with them.

        A listener that raises is logged and the assignment goes on, as kafka-python does (an exception escaping
        here would leave the group without this member)."""
        starts: dict[TopicPartition, int] = {}
        self._assigning = starts
        try:
            if self._listener is not None:
                self._listener.on_partitions_assigned([_tp(c) for c in partitions])
        except Exception:  # noqa: BLE001 - kafka-python's behaviour: log, keep the assignment
            log.exception("rebalance_listener_failed", callback="on_partitions_assigned")
        finally:
            self._assigning = None
        consumer.assign([ck.TopicPartition(c.topic, c.partition, starts.get(_tp(c), _UNSET)) for c in partitions])

    def _on_revoke(self, consumer: ck.Consumer, partitions: list[ck.TopicPartition]) -> None:
        try:
            if self._listener is not None:
                self._listener.on_partitions_revoked([_tp(c) for c in partitions])
        except Exception:  # noqa: BLE001 - as on assignment
            log.exception("rebalance_listener_failed", callback="on_partitions_revoked")
        consumer.unassign()

    def assignment(self) -> set[TopicPartition]:
        return {_tp(c) for c in self._consumer.assignment()}

    # -- reading ---------------------------------------------------------------------------------------------

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[ConfluentRecord]]:
        try:
            messages = self._consumer.consume(num_messages=self._max_records, timeout=timeout_ms / 1000)
        except ck.KafkaException as exc:
            raise translated(exc) from exc
        polled: dict[TopicPartition, list[ConfluentRecord]] = {}
        for m in messages:
            error = m.error()
            if error is not None:
                if error.fatal():
                    raise ConfluentError(error)
                if error.code() != ck.KafkaError._PARTITION_EOF:
                    log.warning("kafka_consume_error", error=error.name(), detail=error.str()[:300])
                continue
            topic, partition, offset = m.topic(), m.partition(), m.offset()
            assert topic is not None and partition is not None and offset is not None
            key, value = m.key(), m.value()
            record = ConfluentRecord(
                topic,
                partition,
                offset,
                key.encode() if isinstance(key, str) else key,
                value.encode() if isinstance(value, str) else value,
                m.timestamp()[1],
            )
            polled.setdefault(TopicPartition(topic, partition), []).append(record)
        return polled

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if self._assigning is not None:  # inside the assignment callback: becomes the assignment's start
            self._assigning[partition] = offset
            return
        try:
            self._consumer.seek(_ck(partition, offset))
        except ck.KafkaException as exc:
            raise translated(exc) from exc

    def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> None:
        """Synchronous, like kafka-python's: returns once the group coordinator stored every offset."""
        try:
            results = self._consumer.commit(
                offsets=[_ck(tp, o.offset) for tp, o in offsets.items()], asynchronous=False
            )
        except ck.KafkaException as exc:
            raise CommitFailedError(str(exc.args[0] if exc.args else exc)) from exc
        failed = [c for c in results or [] if c.error is not None]
        if failed:
            raise CommitFailedError(f"{len(failed)} partition(s) not committed: {failed[0].error}")

    def commit_async(self, offsets: Mapping[TopicPartition, OffsetAndMetadata], callback: Any = None) -> None:
        """Queued for the client's background thread; a failure shows in the next commit (or not at all: the
        offsets that matter live in the handler's database, see :attr:`BatchHandler.keeps_offsets`)."""
        try:
            self._consumer.commit(offsets=[_ck(tp, o.offset) for tp, o in offsets.items()], asynchronous=True)
        except ck.KafkaException as exc:
            if callback is not None:
                callback(offsets, CommitFailedError(str(exc.args[0] if exc.args else exc)))

    def highwater(self, partition: TopicPartition) -> int | None:
        """The high-water mark last seen in a fetch response (no request), or None before any."""
        try:
            marks = self._consumer.get_watermark_offsets(_ck(partition), cached=True)
        except ck.KafkaException:  # a lag figure is not worth failing a batch for
            return None
        return marks[1] if marks is not None and marks[1] >= 0 else None

    def position(self, partition: TopicPartition, timeout_ms: int | None = None) -> int | None:
        """The next offset to read. Before the first record of an assignment librdkafka has none: with
        ``timeout_ms=0`` that is None (no request); otherwise the partition's low-water mark, which is right for
        the readers here (they assign from the beginning)."""
        position = self._consumer.position([_ck(partition)])[0].offset
        if position >= 0:
            return position
        if timeout_ms == 0:
            return None
        timeout = self._timeout_s if timeout_ms is None else timeout_ms / 1000
        return self._watermarks(partition, timeout)[0]

    # -- group-less readers ----------------------------------------------------------------------------------

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        try:
            metadata = self._consumer.list_topics(topic, timeout=self._timeout_s)
        except ck.KafkaException as exc:
            raise translated(exc) from exc
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            return None
        return set(found.partitions)

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        self._manual = list(partitions)
        self._consumer.assign([_ck(tp) for tp in self._manual])

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Re-assign from the beginning (librdkafka cannot seek a partition whose fetch has not started)."""
        chosen = set(partitions or self._manual)
        self._consumer.assign([_ck(tp, ck.OFFSET_BEGINNING if tp in chosen else _UNSET) for tp in self._manual])

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._watermarks(tp, self._timeout_s)[1] for tp in partitions}

    def _watermarks(self, partition: TopicPartition, timeout_s: float) -> tuple[int, int]:
        try:
            low, high = self._consumer.get_watermark_offsets(_ck(partition), timeout=timeout_s)
        except ck.KafkaException as exc:
            raise translated(exc) from exc
        return low, high

    def close(self, autocommit: bool = False) -> None:
        """Leave the group without committing (``autocommit`` is accepted for kafka-python's signature only: the
        loop commits explicitly)."""
        try:
            self._consumer.close()
        except ck.KafkaException as exc:
            raise translated(exc) from exc


def make_confluent_consumer(settings: KafkaSettings, group_id: str) -> ConfluentConsumer:
    """A manual-commit group consumer, configured like :func:`peerscore.kafka_io.make_consumer`."""
    consumer = ck.Consumer(
        librdkafka_options(settings, group_id)
        | {
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": settings.session_timeout_ms,
            "heartbeat.interval.ms": settings.heartbeat_interval_ms,
            "max.poll.interval.ms": settings.max_poll_interval_ms,
        }
    )
    return ConfluentConsumer(
        consumer, max_records=settings.max_poll_records, request_timeout_s=settings.request_timeout_ms / 1000
    )


def make_confluent_reader(settings: KafkaSettings, client_suffix: str) -> ConfluentConsumer:
    """A group-less reader (partitions assigned by the caller, nothing committed): the group id is a throwaway
    that librdkafka requires but never uses without ``subscribe``."""
    consumer = ck.Consumer(
        librdkafka_options(settings, client_suffix)
        | {
            "group.id": f"{settings.client_id}-{client_suffix}-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
        }
    )
    return ConfluentConsumer(
        consumer, max_records=settings.max_poll_records, request_timeout_s=settings.request_timeout_ms / 1000
    )
