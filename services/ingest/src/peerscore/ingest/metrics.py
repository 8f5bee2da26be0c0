"""Prometheus metrics of the tracking API, registered in the app's own registry (one per app instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REJECT_REASONS = ("auth", "too_large", "invalid", "unavailable")


class IngestMetrics:
    """Accepted events are labelled by Segment call type, not dotted event type: event names come from
    customers' tracking plans, and an unbounded label set would eventually take Prometheus down."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Counter(
            "peerscore_ingest_events_total",
            "Events published to Kafka and acknowledged",
            ["call"],
            registry=registry,
        )
        self.rejected = Counter(
            "peerscore_ingest_rejected_requests_total",
            "Requests refused, by reason",
            ["reason"],
            registry=registry,
        )
        for reason in REJECT_REASONS:
            self.rejected.labels(reason=reason)
        self.latency = Histogram(
            "peerscore_ingest_request_seconds",
            "Time from request start to answer, publish acknowledgement included",
            ["endpoint"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
