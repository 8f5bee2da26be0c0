"""Which CRM record holds each canonical person: ``crm_object`` (crm, person key) → CRM object id, type, company.

Filled from the adapters' results after every successful upsert, in the sync's own transaction. It is what lets
crm-sync keep one CRM record per buyer: outcomes that name a HubSpot contact id or a Salesforce Lead/Contact id find
the person without asking the CRM, merges know which two records to merge, and erasures know what to delete.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, Engine, Index, delete
from sqlmodel import Field, Session, SQLModel, col, select

from peerscore.crm_sync.adapters.base import CrmObjectRef, SyncResult
from peerscore.crm_sync.domain.mapping import CrmLeadRecord
from peerscore.db import UtcDateTime, upsert
from peerscore.failures import RetryableError, database_step

_KEYS = ("crm", "person_key")


class CrmObject(SQLModel, table=True):
    """The CRM record a person was last synced to, per CRM."""

    __tablename__ = "crm_object"
    __table_args__ = (Index("ix_crm_object_crm_object_id", "crm", "object_id"),)

    crm: str = Field(primary_key=True, max_length=64)
    person_key: str = Field(primary_key=True, max_length=64)
    object_id: str = Field(max_length=128)
    object_type: str = Field(max_length=64)
    company_id: str | None = Field(default=None, max_length=128)
    score: float | None = Field(default=None, description="The synced version's score, for account roll-ups")
    grade: str | None = Field(default=None, max_length=1)
    status: str | None = Field(default=None, max_length=16)
    updated_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class CrmMergeLink(SQLModel, table=True):
    """A person key crm-sync saw merged into another (keys only)."""

    __tablename__ = "crm_merge_link"

    source_key: str = Field(primary_key=True, max_length=64)
    target_key: str = Field(index=True, max_length=64)
    merge_id: str = Field(max_length=64)
    merged_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


def merged_away(session: Session, person_keys: Sequence[str]) -> set[str]:
    """The keys among ``person_keys`` that were merged into another person."""
    if not person_keys:
        return set()
    statement = select(CrmMergeLink.source_key).where(col(CrmMergeLink.source_key).in_(sorted(set(person_keys))))
    return set(session.exec(statement).all())


def merged_into(session: Session, target_key: str) -> list[str]:
    """The keys merged into ``target_key`` (directly), for its erasure."""
    statement = select(CrmMergeLink.source_key).where(CrmMergeLink.target_key == target_key)
    return sorted(session.exec(statement).all())


def remember(
    session: Session,
    crm: str,
    results: Sequence[SyncResult],
    now: datetime,
    records: Sequence[CrmLeadRecord] = (),
) -> None:
    """Record the CRM object of every lead the CRM took (results without an object are left as they were), with
    the synced version's score, grade and status (``records``) that account roll-ups add up."""
    synced = {r.person_key: r for r in records}
    rows = [
        {
            "crm": crm,
            "person_key": r.person_key,
            "object_id": r.object.object_id,
            "object_type": r.object.object_type,
            "company_id": r.object.company_id,
            "score": synced[r.person_key].score if r.person_key in synced else None,
            "grade": synced[r.person_key].grade if r.person_key in synced else None,
            "status": synced[r.person_key].status if r.person_key in synced else None,
            "updated_at": now,
        }
        for r in results
        if r.outcome == "ok" and r.object is not None
    ]
    if rows:
        upsert(session, CrmObject, rows, keys=_KEYS)


def objects_of(session: Session, crm: str, person_keys: Sequence[str]) -> dict[str, CrmObjectRef]:
    """The CRM object per person key, for the keys that reached ``crm``."""
    if not person_keys:
        return {}
    rows = session.exec(
        select(CrmObject).where(CrmObject.crm == crm, col(CrmObject.person_key).in_(sorted(set(person_keys))))
    ).all()
    return {r.person_key: CrmObjectRef(r.object_id, r.object_type, r.company_id) for r in rows}


def person_keys_of(session: Session, crm: str, object_ids: Sequence[str]) -> dict[str, str]:
    """Person key by CRM object id, for the ids crm-sync created or matched in ``crm``."""
    ids = sorted({i for i in object_ids if i})
    if not ids:
        return {}
    rows = session.exec(
        select(CrmObject.object_id, CrmObject.person_key).where(CrmObject.crm == crm, col(CrmObject.object_id).in_(ids))
    ).all()
    return dict(rows)


def lookup_person_keys(engine: Engine | None, crm: str, object_ids: Sequence[str]) -> dict[str, str]:
    """:func:`person_keys_of` in its own read-only session (the outcome endpoints' entry point); a database that
    cannot answer now (the shared :func:`~peerscore.failures.retryable` rule) raises ``LookupError`` (503, the CRM
    retries), a failure that would repeat is left to surface as the bug it is."""
    if engine is None or not object_ids:
        return {}
    try:
        with database_step(), Session(engine) as session:
            return person_keys_of(session, crm, object_ids)
    except RetryableError as exc:
        raise LookupError(str(exc)) from exc


def forget(session: Session, person_key: str, crm: str | None = None) -> int:
    """Delete a person's CRM object rows (every CRM unless ``crm`` is given); returns the rows removed."""
    statement = delete(CrmObject).where(col(CrmObject.person_key) == person_key)
    if crm is not None:
        statement = statement.where(col(CrmObject.crm) == crm)
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)


def repoint(session: Session, crm: str, person_key: str, obj: CrmObjectRef, now: datetime) -> None:
    """Make ``obj`` the record of ``person_key`` in ``crm`` (after a merge chose it as the survivor)."""
    row = {
        "crm": crm,
        "person_key": person_key,
        "object_id": obj.object_id,
        "object_type": obj.object_type,
        "company_id": obj.company_id,
        "updated_at": now,
    }
    upsert(session, CrmObject, [row], keys=_KEYS)
