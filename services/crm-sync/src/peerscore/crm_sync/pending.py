"""The durable side of coalescing: the sync ledger's last-sent snapshots and the ``crm_pending`` table.

Thin I/O around :mod:`peerscore.crm_sync.domain.freshness`: every decision (noticeable? due when? which version?)
is made there; this module only reads and writes the rows, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, select

from peerscore.crm_sync.domain.freshness import Pending, SentSnapshot
from peerscore.crm_sync.models import PendingSync, SyncLedger
from peerscore.db import upsert
from peerscore.events import LeadTransition

_KEYS = ("crm", "person_key")


def sent_snapshots(session: Session, crm: str, keys: Sequence[str]) -> dict[str, SentSnapshot]:
    """The ledger's view of each lead: last version handed to the CRM, its outcome and what it showed."""
    if not keys:
        return {}
    rows = session.exec(select(SyncLedger).where(SyncLedger.crm == crm, col(SyncLedger.person_key).in_(keys))).all()
    return {
        r.person_key: SentSnapshot(
            version=r.last_version,
            status=r.status,
            sent_at=r.updated_at,
            score=r.sent_score,
            grade=r.sent_grade,
            level=r.sent_level,
            top_reason=r.sent_reason,
            probability=r.sent_probability,
            lead_status=r.sent_status,
        )
        for r in rows
    }


def snapshot_columns(snapshot: SentSnapshot) -> dict[str, Any]:
    """The ledger columns that remember what was sent (see :class:`SentSnapshot`)."""
    return {
        "sent_score": snapshot.score,
        "sent_grade": snapshot.grade,
        "sent_level": snapshot.level,
        "sent_reason": snapshot.top_reason[:2000] if snapshot.top_reason else None,
        "sent_probability": snapshot.probability,
        "sent_status": snapshot.lead_status,
    }


def load(session: Session, crm: str, keys: Sequence[str]) -> dict[str, Pending]:
    if not keys:
        return {}
    rows = session.exec(select(PendingSync).where(PendingSync.crm == crm, col(PendingSync.person_key).in_(keys))).all()
    return {r.person_key: Pending(LeadTransition.model_validate_json(r.transition), r.due_at) for r in rows}


def store(session: Session, crm: str, items: Sequence[Pending], now: datetime) -> None:
    rows = [
        {
            "crm": crm,
            "person_key": p.transition.person_key,
            "version": p.version,
            "kind": p.transition.kind,
            "transition": p.transition.model_dump_json(),
            "due_at": p.due_at,
            "queued_at": now,
        }
        for p in items
    ]
    upsert(session, PendingSync, rows, keys=_KEYS)


def take_due(session: Session, crm: str, now: datetime, limit: int) -> list[LeadTransition]:
    """The due versions, earliest first, locked for this transaction (PostgreSQL skips rows another worker holds;
    SQLite serialises writers anyway)."""
    rows = session.exec(
        select(PendingSync.transition)
        .where(PendingSync.crm == crm, col(PendingSync.due_at) <= now)
        .order_by(col(PendingSync.due_at), col(PendingSync.person_key))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    return [LeadTransition.model_validate_json(text) for text in rows]


def next_due(session: Session, crm: str) -> datetime | None:
    return session.exec(
        select(PendingSync.due_at).where(PendingSync.crm == crm).order_by(col(PendingSync.due_at)).limit(1)
    ).first()


def clear(session: Session, crm: str, versions: Mapping[str, int]) -> None:
    """Forget pending versions that were settled; a newer one queued meanwhile stays (the rows are locked first,
    so a concurrent intake waits instead of being deleted)."""
    if not versions:
        return
    held = session.exec(
        select(PendingSync.person_key, PendingSync.version)
        .where(PendingSync.crm == crm, col(PendingSync.person_key).in_(list(versions)))
        .with_for_update()
    ).all()
    done = [key for key, version in held if version <= versions[key]]
    if done:
        session.execute(delete(PendingSync).where(col(PendingSync.crm) == crm, col(PendingSync.person_key).in_(done)))
