"""The local CRM: a database table next to the sync ledger, the embedded default for trying Peerscore out.

It writes in the caller's session instead of opening its own, so the CRM rows and the ledger rows commit
(or roll back) together: a lead can never be marked synced without being in the table, or the other way
round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col

from peerscore.crm_sync.adapters.base import CrmObjectRef, PersonRecord, RecordResult, SyncResult
from peerscore.crm_sync.domain.mapping import CrmLeadRecord
from peerscore.crm_sync.models import CrmLead
from peerscore.db import upsert
from peerscore.events import utcnow

_KEYS = ("person_key",)
OBJECT_TYPE = "crm_lead"
"""The local CRM's rows are keyed by the person key, which is therefore also their object id."""


class LocalCrmAdapter:
    """Upserts leads into ``crm_lead`` inside ``session``; the caller owns the transaction."""

    name = "local"

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self._session = session
        self._clock = clock

    def upsert(self, leads: Sequence[CrmLeadRecord]) -> list[SyncResult]:
        keys = [lead.person_key for lead in leads]
        if len(set(keys)) != len(keys):
            raise ValueError("one lead per person per call: collapse versions before upserting")
        synced_at = self._clock()
        rows = [_row(lead, synced_at) for lead in leads]
        qualified = [row for row in rows if row["qualified_at"] is not None]
        recycled = [row for row in rows if row["qualified_at"] is None]
        # A recycled lead keeps the date it last became an MQL: sales still want to see when that happened.
        upsert(self._session, CrmLead, qualified, keys=_KEYS)
        if recycled:
            columns = [c for c in recycled[0] if c not in (*_KEYS, "qualified_at")]
            upsert(self._session, CrmLead, recycled, keys=_KEYS, update=columns)
        return [SyncResult.ok(lead, _ref(lead.person_key)) for lead in leads]

    def erase(self, person: PersonRecord) -> RecordResult:
        statement = delete(CrmLead).where(col(CrmLead.person_key) == person.person_key)
        deleted = getattr(self._session.execute(statement), "rowcount", 0)
        return RecordResult("done" if deleted else "gone")

    def merge(self, target: PersonRecord, source: PersonRecord) -> RecordResult:
        """The source's row becomes the target's when the target has none; otherwise it is deleted (the target's
        row is the buyer's, and its next version carries the merged score)."""
        if self._session.get(CrmLead, target.person_key) is None:
            statement = update(CrmLead).where(col(CrmLead.person_key) == source.person_key)
            moved = getattr(self._session.execute(statement.values(person_key=target.person_key)), "rowcount", 0)
            return RecordResult("done" if moved else "gone", survivor=_ref(target.person_key) if moved else None)
        self._session.execute(delete(CrmLead).where(col(CrmLead.person_key) == source.person_key))
        return RecordResult("done", survivor=_ref(target.person_key))


def _ref(person_key: str) -> CrmObjectRef:
    return CrmObjectRef(person_key, OBJECT_TYPE)


def _row(lead: CrmLeadRecord, synced_at: datetime) -> dict[str, Any]:
    row = lead.model_dump(exclude={"reasons_text", "groups_text", "change"})
    row["synced_at"] = synced_at
    return row
