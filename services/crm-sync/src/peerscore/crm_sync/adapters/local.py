"""The local CRM: a database table next to the sync ledger, the embedded default for trying Peerscore out.

It writes in the caller's session instead of opening its own, so the CRM rows and the ledger rows commit
(or roll back) together: a lead can never be marked synced without being in the table, or the other way
round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from peerscore.crm_sync.adapters.base import SyncResult
from peerscore.crm_sync.domain.mapping import CrmLeadRecord
from peerscore.crm_sync.models import CrmLead
from peerscore.db import upsert
from peerscore.events import utcnow

_KEYS = ("person_key",)


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
        return [SyncResult.ok(lead) for lead in leads]


def _row(lead: CrmLeadRecord, synced_at: datetime) -> dict[str, Any]:
    row = lead.model_dump(exclude={"reasons_text", "groups_text", "change"})
    row["synced_at"] = synced_at
    return row
