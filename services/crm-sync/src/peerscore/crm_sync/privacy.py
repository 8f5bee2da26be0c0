"""Consent and erasure in crm-sync.

* **Withheld scores** (the person opted out, see ``peerscore.scoring.identity.consent``): a person already in the
  CRM gets the withheld version (status "Opted out", scores zeroed) so sales stop working the lead; a person who
  never reached the CRM is not created there (:func:`admit` drops those).
* **Erasure**: :class:`ErasureHandler` consumes ``peerscore.erasure.v1``, deletes the person's record in the CRM
  (HubSpot GDPR delete, Salesforce delete, a signed ``lead.erased`` webhook, the local row) through the adapter,
  then the person's crm-sync rows (ledger, retry state, CRM ids) in one transaction with a :class:`CrmErasureLog`
  row naming the CRM record and the CRM's answer. A CRM that cannot answer now makes the batch retry (the loop
  rewinds): an erasure is never dropped, and a redelivered one finds the record gone. Transitions are on
  another topic and may arrive later than the erasure; :func:`admit` drops the ones published (Kafka timestamp)
  before the erasure, so a stale transition cannot bring the person back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from kafka.structs import TopicPartition
from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from peerscore.consumer import Message, RetryableError, decode_contract
from peerscore.crm_sync import crm_objects
from peerscore.crm_sync.adapters.base import AdapterFactory, CrmAdapter, PersonRecord
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.alert_models import AlertLedger
from peerscore.crm_sync.crm_objects import CrmMergeLink, CrmObject
from peerscore.crm_sync.erasure_models import CrmErasureLog
from peerscore.crm_sync.merges import reached
from peerscore.crm_sync.models import CrmLead, PendingAssociation, PendingSync, RetryState, SyncLedger
from peerscore.events import ErasureRequest, LeadTransition, utcnow
from peerscore.failures import database_step

log = structlog.get_logger(__name__)


def admit(engine: Engine, batch: Sequence[Message[LeadTransition]]) -> list[Message[LeadTransition]]:
    """The transitions crm-sync may sync: not older than an erasure of the person, and withheld (opted-out) ones
    only for people already handed off (their CRM record must say so); nobody is created in a CRM opted out."""
    if not batch:
        return []
    keys = sorted({m.value.person_key for m in batch})
    withheld = sorted({m.value.person_key for m in batch if m.value.score.withheld is not None})
    with database_step(), Session(engine) as session:
        handed_off = reached(session, None, withheld)
        merged = crm_objects.merged_away(session, keys)
        erased = dict(
            session.exec(
                select(CrmErasureLog.person_key, func.max(CrmErasureLog.erased_at))
                .where(col(CrmErasureLog.person_key).in_(keys))
                .group_by(col(CrmErasureLog.person_key))
            ).all()
        )
    wanted = [
        m
        for m in batch
        if m.value.person_key not in merged and (m.value.score.withheld is None or m.value.person_key in handed_off)
    ]
    if len(wanted) < len(batch):
        log.info("crm_withheld_or_merged_skipped", leads=len(batch) - len(wanted))
    if not erased:
        return wanted
    fresh = [m for m in wanted if not _published_before(m, erased.get(m.value.person_key))]
    if len(fresh) < len(wanted):
        log.info("crm_stale_after_erasure_skipped", leads=len(wanted) - len(fresh))
    return fresh


def _published_before(m: Message[LeadTransition], erased_at: datetime | None) -> bool:
    if erased_at is None:
        return False
    return datetime.fromtimestamp(m.timestamp_ms / 1000, UTC) <= erased_at


class ErasureHandler:
    """Implements :class:`peerscore.consumer.BatchHandler` for :class:`ErasureRequest` records."""

    def __init__(self, engine: Engine, adapter_factory: AdapterFactory = LocalCrmAdapter) -> None:
        self._engine = engine
        self._adapter_factory = adapter_factory

    def decode(self, key: bytes | None, value: bytes | None) -> ErasureRequest:
        return decode_contract(ErasureRequest, value)

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}

    def handle(self, batch: Sequence[Message[ErasureRequest]]) -> None:
        """Erase in the CRM, then locally and log, in one transaction; a CRM that cannot answer now rolls it all
        back and the loop retries the batch (records already deleted in the CRM then answer "gone")."""
        with database_step(), Session(self._engine) as session, session.begin():
            adapter = self._adapter_factory(session)
            for m in batch:
                keys = [m.value.person_key, *crm_objects.merged_into(session, m.value.person_key)]
                erase(session, m.value, [entry for key in keys for entry in erase_in_crm(session, adapter, key)])


def erase_in_crm(session: Session, adapter: CrmAdapter, person_key: str) -> list[dict[str, Any]]:
    """Delete the person's record in the adapter's CRM if they ever reached it; the log entries of what was done.

    Raises :class:`RetryableError` when the CRM cannot answer now: the erasure must be retried, never dropped.
    """
    crm = adapter.name
    if person_key not in reached(session, crm, [person_key]):
        return []
    obj = crm_objects.objects_of(session, crm, [person_key]).get(person_key)
    result = adapter.erase(PersonRecord(person_key, obj))
    if result.outcome == "retryable":
        raise RetryableError(f"{crm}: erasure not done yet: {result.message}", result.retry_after)
    if result.outcome == "permanent":
        log.error("crm_erasure_refused", crm=crm, person_key=person_key, error=(result.message or "")[:300])
    entry = {
        "crm": crm,
        "person_key": person_key,
        "object_type": obj.object_type if obj else None,
        "object_id": obj.object_id if obj else None,
        "result": {"done": "deleted", "gone": "not_found"}.get(result.outcome, "refused"),
    }
    if result.message:
        entry["message"] = result.message[:500]
    return [entry]


def erase(session: Session, request: ErasureRequest, in_crm: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """Delete every crm-sync row of the person key and of the keys merged into it (their links too), and log."""
    key = request.person_key
    keys = [key, *crm_objects.merged_into(session, key)]
    deleted = {
        "crm_lead": _delete(session, CrmLead.person_key, keys),
        "crm_sync_ledger": _delete(session, SyncLedger.person_key, keys),
        "crm_retry_state": _delete(session, RetryState.person_key, keys),
        "crm_object": _delete(session, CrmObject.person_key, keys),
        "crm_merge_link": _delete(session, CrmMergeLink.source_key, keys)
        + _delete(session, CrmMergeLink.target_key, keys),
        "crm_pending": _delete(session, PendingSync.person_key, keys),
        "crm_pending_association": _delete(session, PendingAssociation.person_key, keys),
        "crm_alert_ledger": _delete(session, AlertLedger.person_key, keys),
    }
    session.add(
        CrmErasureLog(
            request_id=request.request_id,
            person_key=key,
            erased_at=request.erased_at,
            deleted_at=utcnow(),
            deleted=deleted,
            crm_objects=in_crm or [],
        )
    )
    log.info("crm_person_erased", person_key=key, request_id=request.request_id, deleted=deleted)
    return deleted


def _delete(session: Session, column: Any, keys: list[str]) -> int:
    result = session.execute(delete(column.class_).where(col(column).in_(keys)))
    return int(getattr(result, "rowcount", 0) or 0)
