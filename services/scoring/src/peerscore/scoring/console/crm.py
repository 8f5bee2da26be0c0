"""A lead's CRM sync status, asked of crm-sync over HTTP with a short timeout.

crm-sync is another service (another database), so its answer is best effort: unreachable, slow or refusing
means "unknown" on the page, never an error page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CrmStatus:
    known: bool
    detail: str
    """Why it is unknown, or what the local CRM holds ("MQL, version 7")."""
    entries: list[dict[str, Any]] = field(default_factory=list)
    """Each CRM's sync-ledger entry (crm, last_version, status, error, updated_at)."""


class CrmSyncClient:
    def __init__(self, base_url: str, *, timeout_s: float, api_token: str) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout_s
        self._headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}

    async def status(self, person_key: str) -> CrmStatus:
        try:
            async with httpx.AsyncClient(base_url=self._base, timeout=self._timeout, headers=self._headers) as http:
                sync = await http.get(f"/v1/crm/leads/{person_key}/sync")
                lead = await http.get(f"/v1/crm/leads/{person_key}")
        except httpx.HTTPError as exc:
            log.info("console_crm_status_unknown", error=type(exc).__name__)
            return CrmStatus(known=False, detail=f"unknown: crm-sync is not reachable ({type(exc).__name__})")
        if sync.status_code != 200:
            return CrmStatus(known=False, detail=f"unknown: crm-sync answered {sync.status_code}")
        try:
            entries = [e for e in sync.json() if isinstance(e, dict)]
        except ValueError:
            return CrmStatus(known=False, detail="unknown: crm-sync answered something that is not JSON")
        detail = "not synced yet" if not entries else "synced"
        if lead.status_code == 200:
            try:
                body = lead.json()
                detail = f"in the local CRM as {body.get('status')} (lead version {body.get('version')})"
            except ValueError:
                pass
        return CrmStatus(known=True, detail=detail, entries=entries)
