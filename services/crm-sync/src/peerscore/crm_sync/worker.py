"""The batch handler the shared consumer loop drives: lead transitions in, CRM upserts and ledger rows out.

Delivery is at least once (redelivery after a crash, replays from the start of the topic), so each batch is
applied in one transaction that first reads the sync ledger and drops every version not newer than the one
already applied. That is why Kafka-committed offsets suffice here: re-reading records is harmless.
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
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session, col, select

from peerscore.consumer import InvalidMessage, Message, RetryableError
from peerscore.crm_sync.adapters.base import CrmAdapter, SyncResult
from peerscore.crm_sync.domain.mapping import UnmappableLead, to_crm_record
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import SyncLedger
from peerscore.db import upsert
from peerscore.events import LeadTransition, utcnow

log = structlog.get_logger(__name__)

AdapterFactory = Callable[[Session], CrmAdapter]
"""Builds the adapter for one batch; the local CRM uses the session, remote CRMs ignore it."""


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did to one CRM; ``failures`` maps person keys to the permanent error recorded."""

    crm: str
    synced: int
    skipped: int
    failures: dict[str, str]


def newest_per_person(transitions: Iterable[LeadTransition]) -> list[LeadTransition]:
    """Keep only the highest version of each lead, in the order leads first appear: older ones are moot."""
    newest: dict[str, LeadTransition] = {}
    for t in transitions:
        current = newest.get(t.person_key)
        if current is None or t.score.version > current.score.version:
            newest[t.person_key] = t
    return list(newest.values())


class SyncHandler:
    """Implements :class:`peerscore.consumer.BatchHandler` for ``LeadTransition`` records."""

    def __init__(
        self,
        engine: Engine,
        adapter_factory: AdapterFactory,
        metrics: CrmMetrics,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._adapter_factory = adapter_factory
        self._metrics = metrics
        self._clock = clock

    def decode(self, key: bytes | None, value: bytes | None) -> LeadTransition:
        if not value:
            raise InvalidMessage("empty record value")
        try:
            return LeadTransition.model_validate_json(value)
        except ValidationError as exc:
            raise InvalidMessage(f"not a LeadTransition: {_describe(exc)}") from exc

    def handle(self, batch: Sequence[Message[LeadTransition]]) -> None:
        try:
            outcome = self.apply([m.value for m in batch])
        except (DBAPIError, PoolTimeoutError) as exc:
            if isinstance(exc, DBAPIError) and not _is_transient(exc):
                raise  # a bug (constraint, SQL): the loop retries it loudly rather than skipping records
            raise RetryableError(f"database unavailable: {type(exc).__name__}") from exc
        crm, failed = outcome.crm, len(outcome.failures)
        self._metrics.observe(crm, ok=outcome.synced, failed=failed, skipped=outcome.skipped)
        for person_key, error in outcome.failures.items():
            log.warning("crm_sync_failed", crm=crm, person_key=person_key, error=error)
        log.info("crm_batch_synced", crm=crm, synced=outcome.synced, failed=failed, skipped=outcome.skipped)

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}

    def apply(self, transitions: Sequence[LeadTransition]) -> BatchOutcome:
        """Sync what is new in one transaction (committed when this returns)."""
        newest = newest_per_person(transitions)
        with Session(self._engine) as session, session.begin():
            adapter = self._adapter_factory(session)
            applied = _last_versions(session, adapter.name, [t.person_key for t in newest])
            fresh = [t for t in newest if t.score.version > applied.get(t.person_key, 0)]
            failures: dict[str, str] = {}
            records = []
            for t in fresh:
                try:
                    records.append(to_crm_record(t))
                except UnmappableLead as exc:
                    failures[t.person_key] = exc.reason
            results = adapter.upsert(records) if records else []
            _raise_if_retryable(adapter.name, results)
            failures.update({r.person_key: r.message or "rejected" for r in results if r.outcome == "permanent"})
            now = self._clock()
            upsert(
                session,
                SyncLedger,
                [_ledger_row(adapter.name, t, failures, now) for t in fresh],
                keys=("crm", "person_key"),
            )
        return BatchOutcome(adapter.name, len(fresh) - len(failures), len(transitions) - len(fresh), failures)


def _last_versions(session: Session, crm: str, keys: Sequence[str]) -> dict[str, int]:
    if not keys:
        return {}
    rows = session.exec(
        select(SyncLedger.person_key, SyncLedger.last_version).where(
            SyncLedger.crm == crm, col(SyncLedger.person_key).in_(keys)
        )
    ).all()
    return dict(rows)


def _raise_if_retryable(crm: str, results: Sequence[SyncResult]) -> None:
    """Roll the whole batch back when the CRM asks to retry: the ledger must never mark those as synced.

    Leads the CRM already accepted are sent again on retry; CRM upserts (by email or external id) absorb that.
    """
    retry = [r for r in results if r.outcome == "retryable"]
    if retry:
        hints = [r.retry_after for r in retry if r.retry_after is not None]
        message = f"{crm}: {len(retry)} lead(s) to retry: {retry[0].message}"
        raise RetryableError(message, max(hints, default=None))


def _ledger_row(crm: str, t: LeadTransition, failures: dict[str, str], now: datetime) -> dict[str, Any]:
    error = failures.get(t.person_key)
    return {
        "crm": crm,
        "person_key": t.person_key,
        "last_version": t.score.version,
        "last_kind": t.kind,
        "status": "failed" if error is not None else "ok",
        "error": error[:2000] if error is not None else None,
        "updated_at": now,
    }


def _is_transient(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError) or exc.connection_invalidated


def _describe(exc: ValidationError) -> str:
    """Field paths and messages only: the input may hold personal data and this text is logged and kept."""
    errors = exc.errors(include_input=False, include_url=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors[:5]]
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more
