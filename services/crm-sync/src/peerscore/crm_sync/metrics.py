"""CRM-side metrics, next to the shared consumer metrics in the app's own registry (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class CrmMetrics:
    """Upserts by CRM and result, and lead versions skipped because an equal or newer one was synced."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._upserts = Counter(
            "peerscore_crm_upserts_total",
            "Lead versions sent to a CRM, by result",
            ["crm", "result"],
            registry=registry,
        )
        self._skipped = Counter(
            "peerscore_crm_skipped_duplicates_total",
            "Lead versions not sent because the ledger (or the same batch) had a newer or equal one",
            ["crm"],
            registry=registry,
        )

    def observe(self, crm: str, *, ok: int, failed: int, skipped: int) -> None:
        self._upserts.labels(crm=crm, result="ok").inc(ok)
        self._upserts.labels(crm=crm, result="failed").inc(failed)
        self._skipped.labels(crm=crm).inc(skipped)
