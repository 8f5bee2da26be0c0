"""Consent and erasure in crm-sync.

* **Withheld scores** (the person opted out, see ``peerscore.scoring.identity.consent``) are never sent to a CRM:
  :func:`admit` drops them before the sync, so the ledger keeps the last version actually sent and the first
  version after the person opts back in goes through as usual.
* **Erasure**: :class:`ErasureHandler` consumes ``peerscore.erasure.v1`` and deletes the person key's local CRM
  row, sync-ledger row and retry state in one transaction with a :class:`CrmErasureLog` row. Transitions are on
  another topic and may arrive later than the erasure; :func:`admit` drops the ones published (Kafka timestamp)
  before the erasure, so a stale transition cannot bring the person back. Records in a remote CRM (HubSpot,
  Salesforce) are the CRM owner's to delete: crm-sync logs the request, it does not call their deletion APIs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from sqlalchemy import Engine, delete, func
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session, col, select

from peerscore.consumer import ConsumerLoop, InvalidMessage, Message
from peerscore.crm_sync.erasure_models import CrmErasureLog
from peerscore.crm_sync.models import CrmLead, RetryState, SyncLedger
from peerscore.events import ErasureRequest, LeadTransition, utcnow
from peerscore.failures import database_failure
from peerscore.kafka_io import Publisher, make_consumer
from peerscore.observability import ConsumerMetrics
from peerscore.settings import KafkaSettings

log = structlog.get_logger(__name__)


def admit(engine: Engine, batch: Sequence[Message[LeadTransition]]) -> list[Message[LeadTransition]]:
    """The transitions crm-sync may sync: not withheld (opted out), not older than an erasure of the person."""
    wanted = [m for m in batch if m.value.score.withheld is None]
    if len(wanted) < len(batch):
        log.info("crm_withheld_skipped", leads=len(batch) - len(wanted))
    if not wanted:
        return []
    keys = sorted({m.value.person_key for m in wanted})
    try:
        with Session(engine) as session:
            erased = dict(
                session.exec(
                    select(CrmErasureLog.person_key, func.max(CrmErasureLog.erased_at))
                    .where(col(CrmErasureLog.person_key).in_(keys))
                    .group_by(col(CrmErasureLog.person_key))
                ).all()
            )
    except (DBAPIError, StatementError, PoolTimeoutError) as exc:
        raise database_failure(exc) from exc
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

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def decode(self, key: bytes | None, value: bytes | None) -> ErasureRequest:
        if not value:
            raise InvalidMessage("empty record value")
        try:
            return ErasureRequest.model_validate_json(value)
        except ValidationError as exc:
            first = exc.errors(include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "<root>"
            raise InvalidMessage(f"not an ErasureRequest: {where}: {first['msg']}") from None

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}

    def handle(self, batch: Sequence[Message[ErasureRequest]]) -> None:
        """Erase and log in one transaction; a redelivered request erases nothing more and is logged again."""
        try:
            with Session(self._engine) as session, session.begin():
                for m in batch:
                    erase(session, m.value)
        except (DBAPIError, StatementError, PoolTimeoutError) as exc:
            raise database_failure(exc) from exc


def erase(session: Session, request: ErasureRequest) -> dict[str, int]:
    key = request.person_key
    deleted = {
        "crm_lead": _count(session.execute(delete(CrmLead).where(col(CrmLead.person_key) == key))),
        "crm_sync_ledger": _count(session.execute(delete(SyncLedger).where(col(SyncLedger.person_key) == key))),
        "crm_retry_state": _count(session.execute(delete(RetryState).where(col(RetryState.person_key) == key))),
    }
    session.add(
        CrmErasureLog(
            request_id=request.request_id,
            person_key=key,
            erased_at=request.erased_at,
            deleted_at=utcnow(),
            deleted=deleted,
        )
    )
    log.info("crm_person_erased", person_key=key, request_id=request.request_id, deleted=deleted)
    return deleted


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def erasure_loop(
    *, kafka: KafkaSettings, group_id: str, engine: Engine, publisher: Publisher
) -> ConsumerLoop[ErasureRequest]:
    """The consumer of the erasure topic; its metrics go to a registry of their own (fixed metric names)."""
    topics = kafka.topics()
    return ConsumerLoop(
        consumer=make_consumer(kafka, group_id),
        topics=[topics.erasure],
        handler=ErasureHandler(engine),
        dlq_topic=topics.qualified_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(CollectorRegistry(), group_id),
    )
