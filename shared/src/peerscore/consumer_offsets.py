"""Per-partition bookkeeping of the consumer loop, as pure functions of the records of a batch.

Where to rewind (the first record of each partition still unresolved), what to commit (one past the last record
settled in each partition), and the dead letter a record becomes. Kept out of the loop so the rules that decide
"nothing lost, nothing applied twice" read on their own.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import structlog
from kafka.structs import OffsetAndMetadata, TopicPartition

from peerscore.events import DeadLetter, utcnow
from peerscore.kafka_io import OutgoingRecord, record

log = structlog.get_logger("peerscore.consumer")


def first_offsets(records: Iterable[Any]) -> dict[TopicPartition, int]:
    """The lowest offset of each partition among ``records``: where a rewind resumes."""
    first: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        first[tp] = min(first.get(tp, r.offset), r.offset)
    return first


def next_offsets(records: Iterable[Any]) -> dict[TopicPartition, OffsetAndMetadata]:
    """One past the highest offset of each partition among ``records``: what a commit stores."""
    offsets: dict[TopicPartition, OffsetAndMetadata] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        if tp not in offsets or offsets[tp].offset <= r.offset:
            offsets[tp] = OffsetAndMetadata(r.offset + 1, "", -1)
    return offsets


def dead_letter(dlq_topic: str, r: Any, reason: str) -> OutgoingRecord:
    """The dead-letter record for ``r``: its reason and original bytes, keyed like the source record."""
    letter = DeadLetter(
        reason=reason[:2000],
        source=r.topic,
        partition=r.partition,
        offset=r.offset,
        key=r.key.decode(errors="replace") if r.key is not None else None,
        value_b64=base64.b64encode(r.value or b"").decode(),
        failed_at=utcnow(),
    )
    log.warning("record_dead_lettered", topic=r.topic, partition=r.partition, offset=r.offset, reason=reason)
    return record(dlq_topic, letter.key or letter.source, letter)
