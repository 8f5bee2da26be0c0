"""``peerscore crm replay``: re-send what the CRM dead-letter topic holds, once the CRM is back.

Reading is a plain assignment of every partition from the beginning (no consumer group: a replay never moves
anyone's offsets) until the topic has been quiet for ``idle_s`` — Tansu's end offsets are wrong (kafka-notes.md),
so "caught up" is measured, not asked. Sending goes through the same handler as the worker with ``replay=True``:
the ledger re-sends a dead-lettered version only if nothing newer was synced since, so replaying twice is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kafka import TopicPartition
from pydantic import ValidationError

from peerscore.consumer import RetryableError
from peerscore.crm_sync.dead_letters import CrmDeadLetter
from peerscore.crm_sync.worker import SyncHandler
from peerscore.kafka_io import make_reader
from peerscore.settings import KafkaSettings


@dataclass
class ReplayReport:
    read: int = 0
    unreadable: int = 0
    other_crm: int = 0
    synced: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def read_dead_letters(
    kafka: KafkaSettings, *, idle_s: float = 3.0, timeout_s: float = 120.0
) -> tuple[list[CrmDeadLetter], int]:
    """Every CRM dead letter on the topic, in partition order, and how many records could not be read."""
    topic = kafka.topics().crm_dlq
    consumer = make_reader(kafka, "crm-replay")
    letters: list[CrmDeadLetter] = []
    unreadable = 0
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        quiet_since = time.monotonic()
        deadline = quiet_since + timeout_s
        while time.monotonic() - quiet_since < idle_s and time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=200)
            for records in polled.values():
                quiet_since = time.monotonic()
                for r in records:
                    try:
                        letters.append(CrmDeadLetter.model_validate_json(r.value))
                    except ValidationError:
                        unreadable += 1
    finally:
        consumer.close(autocommit=False)
    return letters, unreadable


def replay(
    handler: SyncHandler,
    crm: str,
    letters: Sequence[CrmDeadLetter],
    *,
    batch_size: int = 100,
    attempts: int = 5,
    on_progress: Callable[[int], None] = lambda n: None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayReport:
    """Re-send each letter for ``crm`` through the handler; transient failures wait and retry ``attempts`` times,
    then raise, leaving the ledger as it was (run the command again later)."""
    report = ReplayReport(read=len(letters))
    mine = [d for d in letters if d.crm == crm]
    report.other_crm = len(letters) - len(mine)
    on_progress(report.other_crm)
    for start in range(0, len(mine), batch_size):
        chunk = [d.transition for d in mine[start : start + batch_size]]
        for attempt in range(attempts):
            try:
                outcome = handler.sync(chunk, replay=True)
                break
            except RetryableError as exc:
                if attempt == attempts - 1:
                    raise
                sleep(min(exc.retry_after or 2.0**attempt, 60.0))
        report.synced += outcome.synced
        report.skipped += outcome.skipped
        report.failed |= outcome.failures
        on_progress(len(chunk))
    return report
