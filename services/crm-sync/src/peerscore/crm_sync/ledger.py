"""The sync ledger row of a settled lead version: what the sync handler writes after each CRM call (ok, failed, dlq).

Kept apart from the handler so the row's shape (the snapshot columns the freshness rule compares with) is in one
place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from peerscore.crm_sync import pending as pending_store
from peerscore.crm_sync.domain.freshness import SentSnapshot
from peerscore.events import LeadTransition


def version_status(snapshot: SentSnapshot | None) -> tuple[int, str] | None:
    return None if snapshot is None else (snapshot.version, snapshot.status)


def ledger_row(
    crm: str,
    t: LeadTransition,
    failures: dict[str, str],
    now: datetime,
    status: str | None = None,
    lead_status: str | None = None,
) -> dict[str, Any]:
    error = failures.get(t.person_key)
    outcome = status or ("failed" if error is not None else "ok")
    snapshot = SentSnapshot.of(t.score, outcome, lead_status or "", now)
    return {
        "crm": crm,
        "person_key": t.person_key,
        "last_version": t.score.version,
        "last_kind": t.kind,
        "status": outcome,
        "error": error[:2000] if error is not None else None,
        "updated_at": now,
        **pending_store.snapshot_columns(snapshot),
        "sent_status": lead_status,
    }
