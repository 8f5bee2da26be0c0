"""The MQL alert handler: qualified transitions in, one Slack or Teams message per destination and transition out.

It runs in the shared consumer loop on the transitions topic, in a consumer group of its own (beside the CRM's),
in two steps like the CRM's coalesced updates:

1. **Intake** (the batch's transaction): each new MQL (:func:`~.domain.alerts.alertable`, not erased or merged
   away, see :func:`~.privacy.admit`) is routed, rendered, and recorded ``pending`` in the alert ledger per
   destination — insert-if-absent on (destination, person key, version), so a redelivered or replayed transition
   adds nothing. Then the loop commits the offset: the intent is durable.
2. **Delivery** (after each batch and on every idle poll): each due pending row is locked in its own
   transaction, posted, and marked ``sent`` in that same transaction.

**At least once, with a window of milliseconds.** Slack and Teams webhooks take no idempotency key, so the one
way to send an alert twice is to lose what happened between the destination's 2xx and the commit of ``sent``:
a crash (SIGKILL) or a lost database connection in that instant, or an answer that never arrives although the
message was posted (a timeout). The row is then still pending and is posted again. Everything else — a crash
before the post, during intake, redelivery of the batch — sends nothing twice.

**Failures never block.** Nothing here raises for a destination's trouble (only for the database's): a 429
reschedules the row after ``Retry-After`` (not charged), 408/5xx/timeouts after a capped exponential back-off
charged to the alert's time budget (:class:`~.budget.RetryBudget`), a deterministic 4xx dead-letters it at once;
each destination has its own circuit breaker (:mod:`.breaker`) and its rows simply wait while the others go out.
Dead letters (:class:`~.dead_letters.AlertDeadLetter`) are acknowledged by Kafka before the row says ``dlq``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from kafka.structs import TopicPartition
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.consumer import Message, decode_contract
from peerscore.crm_sync import alert_ledger, breaker, privacy
from peerscore.crm_sync.adapters.base import SyncResult
from peerscore.crm_sync.alert_ledger import AlertKey
from peerscore.crm_sync.alert_models import AlertLedger
from peerscore.crm_sync.budget import RetryBudget
from peerscore.crm_sync.dead_letters import AlertDeadLetter
from peerscore.crm_sync.domain.alerts import Destination, alertable, destinations_for, render, view
from peerscore.crm_sync.metrics import AlertMetrics
from peerscore.events import LeadTransition, utcnow
from peerscore.failures import database_step
from peerscore.kafka_io import Publisher, record

log = structlog.get_logger(__name__)


class AlertPoster(Protocol):
    """One attempt to post a rendered alert (see :class:`~.adapters.chat.ChatWebhooks`); never raises."""

    def post(self, destination: str, kind: str, person_key: str, version: int, message: str) -> SyncResult: ...


@dataclass(frozen=True)
class AlertPolicy:
    destinations: Sequence[Destination]
    console_base_url: str = "http://127.0.0.1:8001"
    default_product_line: str | None = None
    budget: RetryBudget = field(default_factory=lambda: RetryBudget(max_elapsed_s=3600.0, backoff_max_s=120.0))
    flush_batch: int = 50
    breaker: breaker.BreakerPolicy = field(default_factory=breaker.BreakerPolicy)


@dataclass(frozen=True)
class AlertDeadLetters:
    publisher: Publisher
    topic: str


class AlertHandler:
    """Implements :class:`peerscore.consumer.BatchHandler` for ``LeadTransition`` records (see the module)."""

    def __init__(
        self,
        engine: Engine,
        poster: AlertPoster,
        metrics: AlertMetrics,
        policy: AlertPolicy,
        dead_letters: AlertDeadLetters | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._poster = poster
        self._metrics = metrics
        self._policy = policy
        self._dead_letters = dead_letters
        self._clock = clock
        self._breakers: dict[str, breaker.BreakerState] = {}

    def decode(self, key: bytes | None, value: bytes | None) -> LeadTransition:
        return decode_contract(LeadTransition, value)

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}

    def handle(self, batch: Sequence[Message[LeadTransition]]) -> None:
        mqls = [m for m in batch if alertable(m.value)]  # updates and recycles are the CRM's business
        admitted = privacy.admit(self._engine, mqls) if mqls else []
        with database_step():
            self.intake([m.value for m in admitted])
        self.flush()

    def on_idle(self) -> None:
        self.flush()

    def intake(self, transitions: Sequence[LeadTransition]) -> int:
        """Record a pending alert per (destination, transition) routed; returns how many rows were offered."""
        now = self._clock()
        policy = self._policy
        rows = []
        for t in transitions:
            for d in destinations_for(t, policy.destinations, policy.default_product_line):
                message = json.dumps(render(d.kind, view(t, policy.console_base_url)), separators=(",", ":"))
                rows.append(
                    alert_ledger.intent(d.name, d.kind, t.person_key, t.score.version, message, t.transitioned_at, now)
                )
        if not rows:
            return 0
        with Session(self._engine) as session, session.begin():
            alert_ledger.record_intents(session, rows)
        for kind in {r["kind"] for r in rows}:
            self._metrics.count(kind, "queued", sum(1 for r in rows if r["kind"] == kind))
        return len(rows)

    def flush(self) -> int:
        """Post every due pending alert (up to ``flush_batch``), each in its own transaction; returns how many were
        sent. Destinations whose breaker is open are skipped, the others keep going."""
        now = self._clock()
        with database_step(), Session(self._engine) as session:
            due = alert_ledger.due(session, now, self._policy.flush_batch, self._paused(now))
        sent = 0
        for key in due:
            if key.destination in self._paused(self._clock()):
                continue
            with database_step():
                sent += self._deliver(key)
        return sent

    def _paused(self, now: datetime) -> set[str]:
        return {name for name, state in self._breakers.items() if breaker.wait_s(state, now) > 0}

    def _deliver(self, key: AlertKey) -> int:
        with Session(self._engine) as session, session.begin():
            row = alert_ledger.lock(session, key)
            if row is None or row.message is None:
                return 0
            result = self._poster.post(row.destination, row.kind, row.person_key, row.version, row.message)
            now = self._clock()
            state = self._breakers.get(row.destination, breaker.CLOSED)
            self._breakers[row.destination] = breaker.after_call(state, [result], self._policy.breaker, now)
            if result.outcome == "ok":
                alert_ledger.settle(row, "sent", now)
                self._metrics.delivered(row.kind, (now - row.transitioned_at).total_seconds())
                return 1
            if result.outcome == "permanent":
                self._dead_letter(row, result.message or "refused", now)
            else:
                self._reschedule(row, result, now)
            session.add(row)
        return 0

    def _reschedule(self, row: AlertLedger, result: SyncResult, now: datetime) -> None:
        """Throttling waits for ``Retry-After`` and is not charged; any other failure spends the budget."""
        budget = self._policy.budget
        row.last_error = (result.message or "retryable")[:2000]
        if result.throttled:
            self._metrics.count(row.kind, "throttled")
            row.next_attempt_at = now + timedelta(seconds=result.retry_after or 1.0)
            return
        row.attempts += 1
        row.first_failed_at = row.first_failed_at or now
        if budget.exhausted(row, now):
            self._dead_letter(row, f"retry budget spent: {row.last_error}", now)
            return
        self._metrics.count(row.kind, "retried")
        wait = max(result.retry_after or 0.0, budget.backoff_s(row.attempts))
        row.next_attempt_at = now + timedelta(seconds=wait)
        log.warning("alert_retry", destination=row.destination, person_key=row.person_key, wait_s=wait)

    def _dead_letter(self, row: AlertLedger, error: str, now: datetime) -> None:
        """Acknowledged by Kafka before the row says so: a crash in between dead-letters it again, never loses it."""
        if self._dead_letters is not None:
            letter = AlertDeadLetter(
                destination=row.destination,
                kind=row.kind,
                person_key=row.person_key,
                version=row.version,
                message=json.loads(row.message or "{}"),
                error=error[:2000],
                attempts=row.attempts,
                first_failed_at=row.first_failed_at,
                failed_at=now,
            )
            self._dead_letters.publisher.publish([record(self._dead_letters.topic, row.person_key, letter)], wait=True)
        alert_ledger.settle(row, "dlq", now, error)
        self._metrics.count(row.kind, "dead_lettered")
        log.error("alert_dead_lettered", destination=row.destination, person_key=row.person_key, error=error[:300])
