"""Read side of the local CRM, shared by the JSON API and the HTML page so both list leads the same way."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from peerscore.crm_sync.models import CrmLead


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
