"""The one consumer loop every worker uses: poll a batch → decode → injected handler → durable effects → commit.

Error kinds (the arroyo/quix-streams split), told apart by one rule (:func:`peerscore.failures.is_transient`):

* :class:`InvalidMessage` — raised by ``decode``: the record can never be processed. It goes to the dead-letter
  topic with the reason and its original bytes (acknowledged before anything is committed) and is skipped.
* :class:`RetryableError` — raised by ``handle`` (broker, database or CRM unavailable…): nothing was made durable.
  The loop seeks back to the first record not yet applied and waits with capped exponential backoff, so order is
  kept and nothing is lost. Unknown exceptions are treated the same way (logged loudly): a bug that has nothing
  to do with the data must not dead-letter the stream.
* :class:`DeterministicError` (or a database error the rule calls deterministic: constraint, data, encoding…) —
  the batch's effects can never be made durable as they are. A value that passed its contract but that the
  database refuses (PostgreSQL checks lengths and NUL bytes, SQLite does not) would otherwise stall the
  partitions for good. The loop bisects the batch, handling each half on its own, down to the record(s) that
  fail alone (confirmed by a second attempt); those are dead-lettered with the reason and every other record is
  applied once. Halves are handled in batch order, so per-partition order is kept; a handler applies each call
  atomically (the scoring worker commits state and offsets in one transaction), so a failed half left nothing.

Offsets are committed to Kafka only after ``handle`` returned. Handlers that keep their own offsets next to their
state (the scoring worker) expose ``stored_offsets`` and the loop seeks to them when partitions are assigned; when
they say so (``keeps_offsets = True``) the Kafka commit is only a mirror for lag tools, so it is sent without
waiting for the coordinator (about 1 ms per batch on the embedded broker, a tenth of a live batch of ten), and the
last offsets are committed synchronously when the loop closes.
``stop()`` (wired to SIGTERM by the entry points) lets the current batch finish, commits, and closes.

The handler contract (messages, :class:`InvalidMessage`, :class:`BatchHandler`) lives in
:mod:`peerscore.consumer_contract` and the per-partition offset rules in :mod:`peerscore.consumer_offsets`; both
are re-exported here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import structlog
from kafka import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from peerscore.assignment import AssignmentState
from peerscore.consumer_contract import (
    Backoff,
    BatchHandler,
    InvalidMessage,
    LoopStats,
    Message,
    decode_contract,
)
from peerscore.consumer_offsets import dead_letter, first_offsets, next_offsets
from peerscore.failures import DeterministicError, RetryableError, describe, is_transient
from peerscore.kafka_io import LoopConsumer, OutgoingRecord, Publisher
from peerscore.observability import ConsumerMetrics

log = structlog.get_logger(__name__)

T = TypeVar("T")

__all__ = [
    "Backoff",
    "BatchHandler",
    "ConsumerLoop",
    "DeterministicError",
    "InvalidMessage",
    "LoopStats",
    "Message",
    "RetryableError",
    "decode_contract",
]


class _SeekToStoredOffsets(ConsumerRebalanceListener):
    def __init__(self, loop: ConsumerLoop[Any]) -> None:
        self._loop = loop

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        log.info("partitions_revoked", partitions=len(revoked))
        self._loop.assignment.revoked(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._loop.seek_to_stored(assigned)
        self._loop.assignment.assigned(assigned)  # after the seek: the share is held once reading can start

    def on_partitions_lost(self, lost: Sequence[TopicPartition]) -> None:
        self._loop.assignment.lost(lost)


class ConsumerLoop(Generic[T]):
    def __init__(
        self,
        *,
        consumer: LoopConsumer,
        topics: Sequence[str],
        handler: BatchHandler[T],
        dlq_topic: str,
        publisher: Publisher,
        metrics: ConsumerMetrics,
        poll_timeout_ms: int = 500,
        backoff: Backoff | None = None,
        sleep: Callable[[float], bool] | None = None,
        assignment: AssignmentState | None = None,
    ) -> None:
        self._consumer = consumer
        self._topics = list(topics)
        self._handler = handler
        self._dlq_topic = dlq_topic
        self._publisher = publisher
        self._metrics = metrics
        self._poll_timeout_ms = poll_timeout_ms
        self._backoff = backoff or Backoff()
        self._poll_backoff = Backoff(initial_s=0.2, maximum_s=5.0)  # broker away: retry soon after it is back
        self._stopping = threading.Event()
        self._sleep = sleep or self._interruptible_sleep
        self.stats = LoopStats()
        self.ready = threading.Event()
        self.assignment = assignment or AssignmentState(",".join(self._topics))
        """Fed by the rebalance listener; readiness (:class:`peerscore.runtime.BackgroundLoop`) checks it."""
        self._commit_async = bool(getattr(handler, "keeps_offsets", False))
        self._sent_async: dict[TopicPartition, OffsetAndMetadata] = {}

    # -- lifecycle -------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its current batch, commit and return (safe from signal handlers and threads)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self, *, max_messages: int | None = None, timeout: float | None = None) -> LoopStats:
        """Consume until stopped, or until ``max_messages`` were handled or dead-lettered, or ``timeout`` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._consumer.subscribe(self._topics, listener=_SeekToStoredOffsets(self))
        try:
            while not self._stopping.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if max_messages is not None and self.stats.handled + self.stats.dead_lettered >= max_messages:
                    break
                self._run_once()
        finally:
            self._close()
        return self.stats

    def _close(self) -> None:
        if self._sent_async:  # the mirror of the handler's offsets is exact when the loop stops
            self._commit_async = False
            self._commit_offsets(self._sent_async)
        try:
            self._consumer.close(autocommit=False)
        except KafkaError as exc:  # closing must not mask the reason we stopped
            log.warning("consumer_close_failed", error=type(exc).__name__)

    # -- one iteration ---------------------------------------------------------------------------------------

    def _run_once(self) -> None:
        try:
            polled = self._consumer.poll(timeout_ms=self._poll_timeout_ms)
        except KafkaError as exc:
            # kafka-python 3 raises connection errors out of poll() while the broker is away (e.g. finding the
            # coordinator during a restart). Nothing was consumed, so waiting and polling again loses nothing;
            # the client rejoins its group on its own once the broker answers.
            delay = self._poll_backoff.next_delay(None)
            self.stats.poll_errors += 1
            log.warning("poll_failed", error=type(exc).__name__, delay_s=round(delay, 2))
            self._sleep(delay)
            return
        self._poll_backoff.reset()
        if self._consumer.assignment():
            self.ready.set()
        records = [r for partition_records in polled.values() for r in partition_records]
        if not records:
            self._idle()
            self._update_lag()
            return
        self.stats.polled += len(records)
        started = time.perf_counter()
        good: list[Message[T]] = []
        dead: list[OutgoingRecord] = []
        for r in records:
            try:
                value = self._handler.decode(r.key, r.value)
            except InvalidMessage as exc:
                dead.append(self._dead_letter(r, exc.reason))
                continue
            key = r.key.decode(errors="replace") if r.key is not None else None
            good.append(Message(r.topic, r.partition, r.offset, key, value, r.timestamp))
        try:
            if dead:
                self._publisher.publish(dead, wait=True)
        except Exception as exc:  # noqa: BLE001 - the dead letters are not durable: the batch is read again
            self._retry_batch(records, exc)
            return
        isolated_before = self.stats.isolated
        applied, settled = self._handle_isolating(records, good)
        dead_lettered = len(dead) + self.stats.isolated - isolated_before
        self.stats.handled += applied  # a rewound batch's applied part is not handed to the handler again
        self.stats.dead_lettered += dead_lettered
        self._metrics.observe_batch(handled=applied, dead_lettered=dead_lettered, seconds=time.perf_counter() - started)
        if not settled:
            return
        self._backoff.reset()
        self._commit(records)
        self.stats.batches += 1
        self._update_lag()

    def _idle(self) -> None:
        """Give handlers with time-based work (crm-sync's coalesced updates) a turn when nothing arrived."""
        on_idle = getattr(self._handler, "on_idle", None)
        if on_idle is None:
            return
        try:
            on_idle()
        except Exception as exc:  # noqa: BLE001 - nothing was consumed: wait, the next idle poll tries again
            hint = exc.retry_after if isinstance(exc, RetryableError) else None
            delay = self._backoff.next_delay(hint)
            level = log.warning if isinstance(exc, RetryableError) else log.error
            level("idle_retry", error=type(exc).__name__, detail=str(exc)[:300], delay_s=round(delay, 2))
            self._sleep(delay)
            return
        self._backoff.reset()

    def _handle_isolating(self, records: Sequence[Any], good: list[Message[T]]) -> tuple[int, bool]:
        """Handle ``good`` (bisecting on deterministic failures): how many were applied, and whether the whole
        batch was settled (False: the loop rewound to the first record not applied after a transient failure).

        Segments are handled strictly in batch order (a stack, first half on top), so everything before the
        segment in hand is applied or dead-lettered: on a transient failure the loop rewinds to that point.
        """
        applied = 0
        pending: list[list[Message[T]]] = [good] if good else []
        while pending:
            segment = pending.pop()
            failure = self._try_handle(segment)
            if failure is not None and len(segment) == 1 and is_transient(failure) is False:
                failure = self._try_handle(segment)  # confirm: a lost race is not a poison record
            if failure is None:
                applied += len(segment)
                continue
            if is_transient(failure) is not False:
                self._retry_from(records, [m for s in (*pending, segment) for m in s], failure)
                return applied, False
            if len(segment) > 1:
                log.warning("batch_isolating", records=len(segment), error=describe(failure))
                middle = len(segment) // 2
                pending.extend((segment[middle:], segment[:middle]))
                continue
            try:
                self._dead_letter_applied(records, segment[0], failure)
            except Exception as exc:  # noqa: BLE001 - not durable: read it again
                self._retry_from(records, [m for s in (*pending, segment) for m in s], exc)
                return applied, False
        return applied, True

    def _try_handle(self, segment: Sequence[Message[T]]) -> Exception | None:
        try:
            self._handler.handle(segment)
        except Exception as exc:  # noqa: BLE001 - classified by the caller
            return exc
        return None

    def _dead_letter_applied(self, records: Sequence[Any], poison: Message[T], failure: Exception) -> None:
        original = next(
            r for r in records if (r.topic, r.partition, r.offset) == (poison.topic, poison.partition, poison.offset)
        )
        reason = failure.reason if isinstance(failure, DeterministicError) else describe(failure)
        self._publisher.publish([self._dead_letter(original, f"effects failed deterministically: {reason}")], wait=True)
        self.stats.isolated += 1

    def _dead_letter(self, r: Any, reason: str) -> OutgoingRecord:
        return dead_letter(self._dlq_topic, r, reason)

    def _retry_batch(self, records: Sequence[Any], exc: Exception) -> None:
        """Rewind every partition of the batch to its first record and wait before polling again."""
        self._rewind(self._first_offsets(records), exc)

    def _retry_from(self, records: Sequence[Any], unresolved: Sequence[Message[T]], exc: Exception) -> None:
        """Commit what the batch already settled (applied or dead-lettered), rewind to the rest, and wait."""
        first = self._first_offsets(m for m in unresolved)
        settled = [r for r in records if TopicPartition(r.topic, r.partition) not in first]
        positions = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in first.items()}
        positions.update(self._next_offsets(settled))
        self._commit_offsets(positions)
        self._rewind(first, exc)

    @staticmethod
    def _first_offsets(records: Iterable[Any]) -> dict[TopicPartition, int]:
        return first_offsets(records)

    def _rewind(self, first: dict[TopicPartition, int], exc: Exception) -> None:
        assigned = self._consumer.assignment()
        for tp, offset in first.items():
            if tp in assigned:
                self._consumer.seek(tp, offset)
        hint = exc.retry_after if isinstance(exc, RetryableError) else None
        delay = self._backoff.next_delay(hint)
        self.stats.retries += 1
        self._metrics.retries.inc()
        level = log.warning if is_transient(exc) else log.error
        level("batch_retry", error=describe(exc), delay_s=round(delay, 2))
        self._sleep(delay)

    def _interruptible_sleep(self, seconds: float) -> bool:
        return self._stopping.wait(seconds)

    def _commit(self, records: Sequence[Any]) -> None:
        self._commit_offsets(self._next_offsets(records))

    @staticmethod
    def _next_offsets(records: Iterable[Any]) -> dict[TopicPartition, OffsetAndMetadata]:
        return next_offsets(records)

    def _commit_offsets(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if not offsets:
            return
        try:
            if self._commit_async:
                self._sent_async.update(offsets)
                self._consumer.commit_async(offsets, callback=self._async_commit_done)
            else:
                self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Effects are durable and idempotent; the next owner re-reads at worst, and handlers that keep
            # offsets with their state skip what they already applied.
            self.stats.commit_failures += 1
            log.warning("commit_failed", error=type(exc).__name__)

    def _async_commit_done(self, offsets: object, response: object) -> None:
        if isinstance(response, Exception):  # harmless: the handler's stored offsets decide where reading resumes
            self.stats.commit_failures += 1
            log.warning("commit_failed", error=type(response).__name__)

    def seek_to_stored(self, partitions: Sequence[TopicPartition]) -> None:
        stored = self._handler.stored_offsets(list(partitions))
        for tp, offset in stored.items():
            self._consumer.seek(tp, offset)
        log.info("partitions_assigned", partitions=len(partitions), seeked=len(stored))

    def _update_lag(self) -> None:
        total = 0
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            position = self._consumer.position(tp, timeout_ms=0) if high is not None else None
            if high is not None and position is not None:
                total += max(0, high - position)
        self._metrics.lag.set(total)
