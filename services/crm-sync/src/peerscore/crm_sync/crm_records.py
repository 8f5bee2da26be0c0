"""What crm-sync records after each upsert, in the sync's transaction: the CRM object of every person the CRM took
(:mod:`crm_objects`), then the roll-ups of the companies those people belong to, pushed to CRMs that keep
companies (HubSpot associates contacts with companies by domain).

A roll-up the CRM cannot take now is logged, not retried on its own: it is recomputed from the id table at the
company's next sync, and a lead must never wait for its company's roll-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import structlog
from sqlmodel import Session, col, select

from peerscore.crm_sync import crm_objects
from peerscore.crm_sync.adapters.base import CrmAdapter, RecordResult, SyncResult
from peerscore.crm_sync.crm_objects import CrmObject
from peerscore.crm_sync.domain.accounts import AccountRollup, roll_up
from peerscore.crm_sync.domain.mapping import CrmLeadRecord

log = structlog.get_logger(__name__)


@runtime_checkable
class AccountRollups(Protocol):
    """A CRM adapter that keeps companies and can take their roll-ups."""

    def update_accounts(self, rollups: Sequence[AccountRollup]) -> RecordResult: ...


def record_synced(
    session: Session,
    adapter: CrmAdapter,
    results: Sequence[SyncResult],
    records: Sequence[CrmLeadRecord],
    now: datetime,
) -> None:
    crm_objects.remember(session, adapter.name, results, now, records)
    if isinstance(adapter, AccountRollups):
        push_rollups(session, adapter, adapter.name, results)


def push_rollups(session: Session, adapter: AccountRollups, crm: str, results: Sequence[SyncResult]) -> None:
    companies = sorted({r.object.company_id for r in results if r.outcome == "ok" and r.object and r.object.company_id})
    if not companies:
        return
    rows = session.exec(
        select(CrmObject.company_id, CrmObject.score, CrmObject.grade, CrmObject.status).where(
            CrmObject.crm == crm, col(CrmObject.company_id).in_(companies)
        )
    ).all()
    result = adapter.update_accounts(roll_up((c, s, g, st) for c, s, g, st in rows if c is not None))
    if result.outcome != "done":
        log.warning("crm_account_rollup_failed", crm=crm, companies=len(companies), error=(result.message or "")[:300])
