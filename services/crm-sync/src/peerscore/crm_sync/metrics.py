"""CRM-side metrics, next to the shared consumer metrics in the app's own registry (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LIMITER_WAIT_BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class CrmMetrics:
    """Upserts by CRM and result, skipped duplicates, retries, dead letters, CRM API usage, outcomes, the time
    spent waiting on the client-side rate limiter and the circuit breaker's pauses."""

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
        self._retried = Counter(
            "peerscore_crm_retryable_total",
            "Lead versions the CRM could not take now (429, 5xx, timeouts), per attempt",
            ["crm"],
            registry=registry,
        )
        self._dead = Counter(
            "peerscore_crm_dead_lettered_total",
            "Lead versions sent to the CRM dead-letter topic after the retry budget",
            ["crm"],
            registry=registry,
        )
        self.api_usage = Gauge(
            "peerscore_crm_api_usage_ratio",
            "Share of the CRM's API allowance used (Salesforce Sforce-Limit-Info api-usage)",
            ["crm"],
            registry=registry,
        )
        self.outcomes = Counter(
            "peerscore_crm_outcomes_total",
            "Outcomes received from CRM webhooks and published, by source and kind",
            ["source", "kind"],
            registry=registry,
        )

        self._circuit_open = Gauge(
            "peerscore_crm_circuit_open",
            "1 while the CRM circuit breaker is open (the CRM failed whole calls; the partition is paused)",
            ["crm"],
            registry=registry,
        )
        self._circuit_paused = Counter(
            "peerscore_crm_circuit_paused_total",
            "Attempts the worker skipped because the circuit breaker was open (no call sent)",
            ["crm"],
            registry=registry,
        )
        self._limiter_wait = Histogram(
            "peerscore_crm_rate_limiter_wait_seconds",
            "Seconds each CRM request waited on the client-side rate limiter (_sum: total time throttled)",
            ["crm"],
            buckets=LIMITER_WAIT_BUCKETS,
            registry=registry,
        )

    def circuit(self, crm: str, *, open_s: float) -> None:
        """The breaker's state as the worker last checked it: operators see a paused partition, not silence."""
        self._circuit_open.labels(crm=crm).set(1 if open_s > 0 else 0)
        if open_s > 0:
            self._circuit_paused.labels(crm=crm).inc()

    def limiter_waited(self, crm: str, seconds: float) -> None:
        self._limiter_wait.labels(crm=crm).observe(seconds)

    def observe(self, crm: str, *, ok: int, failed: int, skipped: int) -> None:
        self._upserts.labels(crm=crm, result="ok").inc(ok)
        self._upserts.labels(crm=crm, result="failed").inc(failed)
        self._skipped.labels(crm=crm).inc(skipped)

    def retried(self, crm: str, count: int) -> None:
        self._retried.labels(crm=crm).inc(count)

    def dead_lettered(self, crm: str, count: int) -> None:
        self._dead.labels(crm=crm).inc(count)

    def usage(self, crm: str, used: int, total: int) -> None:
        if total > 0:
            self.api_usage.labels(crm=crm).set(used / total)


ALERT_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class AlertMetrics:
    """MQL alerts by destination kind: queued (routed to a destination), then sent, retried (each failed attempt,
    ``throttled`` for 429s), dead-lettered, and the time from the transition to the destination's answer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._alerts = Counter(
            "peerscore_alerts_total",
            "MQL alerts by destination kind and result (queued, sent, retried, throttled, dead_lettered)",
            ["kind", "result"],
            registry=registry,
        )
        self._latency = Histogram(
            "peerscore_alert_delivery_seconds",
            "Seconds from the lead's qualification to the destination accepting its alert",
            ["kind"],
            buckets=ALERT_LATENCY_BUCKETS,
            registry=registry,
        )

    def count(self, kind: str, result: str, n: int = 1) -> None:
        if n:
            self._alerts.labels(kind=kind, result=result).inc(n)

    def delivered(self, kind: str, seconds: float) -> None:
        self.count(kind, "sent")
        self._latency.labels(kind=kind).observe(max(seconds, 0.0))
