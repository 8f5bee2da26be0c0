"""The batch handler the shared consumer loop drives: lead transitions in, CRM upserts and ledger rows out.

Delivery is at least once (redelivery after a crash, replays from the start of the topic), so each batch is
applied in one transaction that first reads the sync ledger and drops every version not newer than the one
already applied. That is why Kafka-committed offsets suffice here: re-reading records is harmless.

Leads the CRM takes or refuses for good are recorded at once; the ones it cannot take *now* (429, 5xx,
timeouts) make the batch raise :class:`RetryableError`, so the shared loop rewinds and waits (order per lead
kept, already-recorded leads skipped on the retry). Each such version is charged to its retry budget; once it is
spent the version goes to the CRM dead-letter topic and the partition moves on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from kafka.structs import TopicPartition
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session, col, select

from peerscore.consumer import InvalidMessage, Message, RetryableError
from peerscore.crm_sync import budget, privacy
from peerscore.crm_sync.adapters.base import CrmAdapter, SyncResult
from peerscore.crm_sync.budget import RetryBudget
from peerscore.crm_sync.dead_letters import CrmDeadLetter
from peerscore.crm_sync.domain.mapping import CrmLeadRecord, UnmappableLead, to_crm_record
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import SyncLedger
from peerscore.db import upsert
from peerscore.events import LeadTransition, utcnow
from peerscore.failures import database_failure
from peerscore.kafka_io import Publisher, record

log = structlog.get_logger(__name__)

_LEDGER_KEYS = ("crm", "person_key")

AdapterFactory = Callable[[Session], CrmAdapter]
"""Builds the adapter for one batch; the local CRM uses the session, remote CRMs ignore it."""


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did to one CRM; ``failures`` maps person keys to the permanent error recorded."""

    crm: str
    synced: int
    skipped: int
    failures: dict[str, str]
    dead_lettered: int = 0


@dataclass(frozen=True)
class DeadLetterSink:
    """Where leads go when their retry budget is spent: the CRM dead-letter topic, acknowledged before the
    ledger records them as dead-lettered (so a crash in between re-sends instead of losing them)."""

    publisher: Publisher
    topic: str
    budget: RetryBudget = RetryBudget()


def newest_per_person(transitions: Iterable[LeadTransition]) -> list[LeadTransition]:
    """Keep only the highest version of each lead, in the order leads first appear: older ones are moot."""
    newest: dict[str, LeadTransition] = {}
    for t in transitions:
        current = newest.get(t.person_key)
        if current is None or t.score.version > current.score.version:
            newest[t.person_key] = t
    return list(newest.values())


def is_due(version: int, applied: tuple[int, str] | None, *, replay: bool) -> bool:
    """The ledger decides: newer versions are sent; a dead-lettered version again only when replayed."""
    if applied is None or version > applied[0]:
        return True
    return replay and version == applied[0] and applied[1] == "dlq"


class SyncHandler:
    """Implements :class:`peerscore.consumer.BatchHandler` for ``LeadTransition`` records."""

    def __init__(
        self,
        engine: Engine,
        adapter_factory: AdapterFactory,
        metrics: CrmMetrics,
        clock: Callable[[], datetime] = utcnow,
        dead_letters: DeadLetterSink | None = None,
    ) -> None:
        self._engine = engine
        self._adapter_factory = adapter_factory
        self._metrics = metrics
        self._clock = clock
        self._dead_letters = dead_letters

    def decode(self, key: bytes | None, value: bytes | None) -> LeadTransition:
        if not value:
            raise InvalidMessage("empty record value")
        try:
            return LeadTransition.model_validate_json(value)
        except ValidationError as exc:
            raise InvalidMessage(f"not a LeadTransition: {_describe(exc)}") from exc

    def handle(self, batch: Sequence[Message[LeadTransition]]) -> None:
        # Opted-out (withheld) scores and transitions older than the person's erasure are never synced.
        self.sync([m.value for m in privacy.admit(self._engine, batch)])

    def sync(self, transitions: Sequence[LeadTransition], *, replay: bool = False) -> BatchOutcome:
        """Apply, record metrics and logs; raises :class:`RetryableError` while the CRM should be retried."""
        try:
            outcome, retry = self.apply(transitions, replay=replay)
        except (DBAPIError, StatementError, PoolTimeoutError) as exc:
            raise database_failure(exc) from exc  # the shared rule: retried, or the poison lead isolated
        crm, failed = outcome.crm, len(outcome.failures)
        self._metrics.observe(crm, ok=outcome.synced, failed=failed, skipped=outcome.skipped)
        self._metrics.dead_lettered(crm, outcome.dead_lettered)
        for person_key, error in outcome.failures.items():
            log.warning("crm_sync_failed", crm=crm, person_key=person_key, error=error)
        log.info("crm_batch_synced", crm=crm, synced=outcome.synced, failed=failed, skipped=outcome.skipped)
        if retry is not None:
            self._metrics.retried(crm, len(retry))
            hints = [r.retry_after for r in retry if r.retry_after is not None]
            raise RetryableError(f"{crm}: {len(retry)} lead(s) to retry: {retry[0].message}", max(hints, default=None))
        return outcome

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}

    def apply(
        self, transitions: Sequence[LeadTransition], *, replay: bool = False
    ) -> tuple[BatchOutcome, list[SyncResult] | None]:
        """Sync what is due and record every settled lead in one transaction; the leads the CRM could not take
        now are charged to their retry budget afterwards and returned (dead-lettered once it is spent)."""
        newest = newest_per_person(transitions)
        with Session(self._engine) as session, session.begin():
            adapter = self._adapter_factory(session)
            crm = adapter.name
            applied = _ledger_state(session, crm, [t.person_key for t in newest])
            fresh = [t for t in newest if is_due(t.score.version, applied.get(t.person_key), replay=replay)]
            failures: dict[str, str] = {}
            records = []
            for t in fresh:
                try:
                    records.append(to_crm_record(t))
                except UnmappableLead as exc:
                    failures[t.person_key] = exc.reason
            results = call_adapter(adapter, records)
            failures.update({r.person_key: r.message or "rejected" for r in results if r.outcome == "permanent"})
            retry = [r for r in results if r.outcome == "retryable"]
            waiting = {r.person_key for r in retry}
            settled = [t for t in fresh if t.person_key not in waiting]
            now = self._clock()
            upsert(session, SyncLedger, [_ledger_row(crm, t, failures, now) for t in settled], keys=_LEDGER_KEYS)
            budget.settle(session, crm, [t.person_key for t in settled])
        synced = len(settled) - len(failures)
        skipped = len(transitions) - len(fresh)
        if not retry:
            return BatchOutcome(crm, synced, skipped, failures), None
        dead, still = self._charge(crm, [t for t in fresh if t.person_key in waiting], retry)
        return BatchOutcome(crm, synced, skipped, failures, dead), (still or None)

    def _charge(self, crm: str, waiting: list[LeadTransition], retry: list[SyncResult]) -> tuple[int, list[SyncResult]]:
        now = self._clock()
        by_key = {t.person_key: t for t in waiting}
        with Session(self._engine) as session, session.begin():
            states = budget.charge(session, crm, retry, now)
            if self._dead_letters is None:
                return 0, retry
            spent = [r for r in retry if self._dead_letters.budget.exhausted(states[r.person_key], now)]
            if not spent:
                return 0, retry
            letters = [
                CrmDeadLetter(
                    crm=crm,
                    transition=by_key[r.person_key],
                    error=(r.message or "retryable")[:2000],
                    attempts=states[r.person_key].attempts,
                    first_failed_at=states[r.person_key].first_failed_at,
                    failed_at=now,
                )
                for r in spent
            ]
            self._dead_letters.publisher.publish(
                [record(self._dead_letters.topic, d.transition.person_key, d) for d in letters], wait=True
            )
            errors = {r.person_key: r.message or "retryable" for r in spent}
            rows = [_ledger_row(crm, by_key[k], errors, now, status="dlq") for k in errors]
            upsert(session, SyncLedger, rows, keys=_LEDGER_KEYS)
            budget.settle(session, crm, list(errors))
        for r in spent:
            log.error("crm_lead_dead_lettered", crm=crm, person_key=r.person_key, error=(r.message or "")[:300])
        return len(spent), [r for r in retry if r.person_key not in errors]


def call_adapter(adapter: CrmAdapter, records: list[CrmLeadRecord]) -> list[SyncResult]:
    """A CRM that cannot be reached at all fails every lead of the call retryably (and charges their budget)."""
    if not records:
        return []
    try:
        return adapter.upsert(records)
    except (ConnectionError, TimeoutError) as exc:
        return [SyncResult.retryable(r, f"{adapter.name} unreachable: {exc}") for r in records]


def _ledger_state(session: Session, crm: str, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
    if not keys:
        return {}
    rows = session.exec(
        select(SyncLedger.person_key, SyncLedger.last_version, SyncLedger.status).where(
            SyncLedger.crm == crm, col(SyncLedger.person_key).in_(keys)
        )
    ).all()
    return {key: (version, status) for key, version, status in rows}


def _ledger_row(
    crm: str, t: LeadTransition, failures: dict[str, str], now: datetime, status: str | None = None
) -> dict[str, Any]:
    error = failures.get(t.person_key)
    return {
        "crm": crm,
        "person_key": t.person_key,
        "last_version": t.score.version,
        "last_kind": t.kind,
        "status": status or ("failed" if error is not None else "ok"),
        "error": error[:2000] if error is not None else None,
        "updated_at": now,
    }


def _describe(exc: ValidationError) -> str:
    """Field paths and messages only: the input may hold personal data and this text is logged and kept."""
    errors = exc.errors(include_input=False, include_url=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors[:5]]
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more
