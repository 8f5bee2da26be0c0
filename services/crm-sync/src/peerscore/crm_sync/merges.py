"""Merges reach the CRM: when scoring merges two people who both reached the CRM, the buyer keeps one live record.

:class:`MergeHandler` consumes ``peerscore.merges.v1`` (:class:`PersonMerged`, keyed by the target). For each notice
it asks the adapter to merge the source's record into the target's (HubSpot's merge API, a marked Salesforce
record, a signed ``lead.merged`` webhook, the local row moved) — the pure rule of which record survives is
:func:`~peerscore.crm_sync.domain.matching.plan_merge` — then, in the same transaction, makes the survivor the
target's record, forgets the source's crm-sync rows and keeps a ``CrmMergeLink`` (in ``crm_objects``) so that:

* transitions still on their way for the source key (published before the merge) are not synced: they would bring
  the retired record back (``crm_objects.merged_away``, used by ``privacy.admit``);
* an erasure of the target also erases what is left about the keys merged into it.

A CRM that cannot answer now makes the batch retry (the loop rewinds); a redelivered notice finds the source
already forgotten and does nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import structlog
from kafka.structs import TopicPartition
from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from peerscore.consumer import Message, RetryableError, decode_contract
from peerscore.crm_sync import crm_objects
from peerscore.crm_sync.adapters.base import AdapterFactory, CrmAdapter, PersonRecord
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.crm_objects import CrmMergeLink, CrmObject
from peerscore.crm_sync.models import PendingAssociation, RetryState, SyncLedger
from peerscore.db import upsert
from peerscore.events import PersonMerged, utcnow
from peerscore.failures import database_step

log = structlog.get_logger(__name__)


def reached(session: Session, crm: str | None, person_keys: Sequence[str]) -> set[str]:
    """The keys whose leads ``crm`` (any CRM if ``None``) took (an ok ledger row) or whose record crm-sync knows."""
    keys = sorted(set(person_keys))
    if not keys:
        return set()
    ledger = select(SyncLedger.person_key).where(col(SyncLedger.person_key).in_(keys), col(SyncLedger.status) == "ok")
    known = select(CrmObject.person_key).where(col(CrmObject.person_key).in_(keys))
    if crm is not None:
        ledger, known = ledger.where(SyncLedger.crm == crm), known.where(CrmObject.crm == crm)
    return set(session.exec(ledger).all()) | set(session.exec(known).all())


def apply_merge(session: Session, adapter: CrmAdapter, notice: PersonMerged, now: datetime) -> str:
    """Merge the two people's records in the adapter's CRM and in crm-sync's tables; returns what was done.

    Raises :class:`RetryableError` while the CRM cannot answer: the merge must not be skipped.
    """
    crm, source, target = adapter.name, notice.source_key, notice.target_key
    if source == target:
        return "same person"
    outcome, retired = "nothing in the CRM", None
    if source in reached(session, crm, [source]):
        objects = crm_objects.objects_of(session, crm, [source, target])
        result = adapter.merge(PersonRecord(target, objects.get(target)), PersonRecord(source, objects.get(source)))
        if result.outcome == "retryable":
            raise RetryableError(f"{crm}: merge not done yet: {result.message}", result.retry_after)
        outcome = result.outcome
        if result.outcome == "permanent":
            log.error(
                "crm_merge_refused", crm=crm, source_key=source, target_key=target, error=(result.message or "")[:300]
            )
        elif result.survivor is not None:
            crm_objects.repoint(session, crm, target, result.survivor, now)
        retired = result.retired if result.outcome == "done" else None
    _forget(session, crm, source)
    if retired is not None:  # still in the CRM (marked): the source keeps it, so erasing the person deletes it
        crm_objects.repoint(session, crm, source, retired, now)
    link = {"source_key": source, "target_key": target, "merge_id": notice.merge_id, "merged_at": notice.merged_at}
    upsert(session, CrmMergeLink, [link], keys=("source_key",))
    # Keys merged into the source earlier now belong to the target: its erasure must reach them too.
    session.execute(update(CrmMergeLink).where(col(CrmMergeLink.target_key) == source).values(target_key=target))
    return outcome


def _forget(session: Session, crm: str, person_key: str) -> None:
    crm_objects.forget(session, person_key, crm)
    for table in (SyncLedger, RetryState, PendingAssociation):
        session.execute(delete(table).where(col(table.crm) == crm, col(table.person_key) == person_key))


class MergeHandler:
    """Implements :class:`peerscore.consumer.BatchHandler` for :class:`PersonMerged` records."""

    def __init__(
        self,
        engine: Engine,
        adapter_factory: AdapterFactory = LocalCrmAdapter,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._adapter_factory = adapter_factory
        self._clock = clock

    def decode(self, key: bytes | None, value: bytes | None) -> PersonMerged:
        return decode_contract(PersonMerged, value)

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}

    def handle(self, batch: Sequence[Message[PersonMerged]]) -> None:
        with database_step(), Session(self._engine) as session, session.begin():
            adapter = self._adapter_factory(session)
            for m in batch:
                done = apply_merge(session, adapter, m.value, self._clock())
                log.info("crm_people_merged", source_key=m.value.source_key, target_key=m.value.target_key, done=done)
