"""Company associations still to be made: contacts a CRM wrote whose association with their company failed for now.

HubSpot writes a contact and associates it with its company in two calls. When the second fails (429, 5xx) the
contact is synced all the same (failing it would re-send a contact HubSpot already has, or dead-letter it); the
association is kept here, in the sync's transaction, and retried on its own before every flush until the CRM takes
it or refuses it for good. A later sync that associates the person settles the row too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy import Column, delete, update
from sqlmodel import Field, Session, SQLModel, col, select

from peerscore import limits
from peerscore.crm_sync.adapters.base import AssociationRef, CompanyAssociations, SyncResult
from peerscore.crm_sync.crm_objects import CrmObject
from peerscore.db import UtcDateTime, upsert

log = structlog.get_logger(__name__)

RETRY_BATCH = 100


class PendingAssociation(SQLModel, table=True):
    __tablename__ = "crm_pending_association"

    crm: str = Field(primary_key=True, max_length=64)
    person_key: str = Field(primary_key=True, max_length=limits.PERSON_KEY)
    contact_id: str = Field(max_length=limits.CRM_OBJECT_ID)
    domain: str = Field(max_length=limits.ACCOUNT_KEY)
    since: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


def record(session: Session, crm: str, results: Sequence[SyncResult], now: datetime) -> None:
    """Keep the associations a sync left pending; forget those a newer sync made."""
    done = [r.person_key for r in results if r.outcome == "ok" and r.association_pending is None]
    if done:
        session.execute(
            delete(PendingAssociation).where(
                col(PendingAssociation.crm) == crm, col(PendingAssociation.person_key).in_(done)
            )
        )
    rows = [
        {"crm": crm, "person_key": r.person_key, "contact_id": r.object.object_id, "domain": r.association_pending}
        | {"since": now}
        for r in results
        if r.outcome == "ok" and r.association_pending and r.object is not None
    ]
    if rows:
        upsert(session, PendingAssociation, rows, keys=("crm", "person_key"))


def retry(session: Session, crm: str, adapter: CompanyAssociations) -> int:
    """Retry up to :data:`RETRY_BATCH` pending associations; returns how many remain pending in this batch."""
    rows = session.exec(
        select(PendingAssociation).where(PendingAssociation.crm == crm).order_by(col(PendingAssociation.since))
    ).all()[:RETRY_BATCH]
    if not rows:
        return 0
    refs = [AssociationRef(r.person_key, r.contact_id, r.domain) for r in rows]
    answered = adapter.associate(refs)
    for person_key, company_id in answered.items():
        if company_id is None:
            log.warning("crm_association_refused", crm=crm, person_key=person_key)
            continue
        session.execute(
            update(CrmObject)
            .where(col(CrmObject.crm) == crm, col(CrmObject.person_key) == person_key)
            .values(company_id=company_id)
        )
    if answered:
        session.execute(
            delete(PendingAssociation).where(
                col(PendingAssociation.crm) == crm, col(PendingAssociation.person_key).in_(list(answered))
            )
        )
    return len(rows) - len(answered)


def pending(session: Session, crm: str) -> int:
    return len(session.exec(select(PendingAssociation.person_key).where(PendingAssociation.crm == crm)).all())
