"""Read side of the local CRM, shared by the JSON API and the HTML page so both list leads the same way."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from peerscore.crm_sync.models import CrmLead, SyncLedger


def list_leads(session: Session, *, status: str | None = None, limit: int = 100) -> Sequence[CrmLead]:
    """Newest first: most recently synced, then most recently transitioned, then by key for a stable order."""
    query = select(CrmLead)
    if status is not None:
        query = query.where(CrmLead.status == status)
    query = query.order_by(
        col(CrmLead.synced_at).desc(), col(CrmLead.transitioned_at).desc(), col(CrmLead.person_key)
    ).limit(limit)
    return session.exec(query).all()


def get_lead(session: Session, person_key: str) -> CrmLead | None:
    return session.get(CrmLead, person_key)


def sync_entries(session: Session, person_key: str) -> Sequence[SyncLedger]:
    return session.exec(
        select(SyncLedger).where(SyncLedger.person_key == person_key).order_by(col(SyncLedger.crm))
    ).all()


def list_failures(session: Session, *, crm: str | None = None, limit: int = 100) -> Sequence[SyncLedger]:
    query = select(SyncLedger).where(col(SyncLedger.status).in_(("failed", "dlq")))
    if crm is not None:
        query = query.where(SyncLedger.crm == crm)
    query = query.order_by(col(SyncLedger.updated_at).desc(), col(SyncLedger.person_key)).limit(limit)
    return session.exec(query).all()
