"""Prometheus metrics of the tracking API, registered in the app's own registry (one per app instance)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from peerscore.ingest.errors import InvalidEvent
from peerscore.ingest.rejections import InvalidEvents, RequestRejected

log = structlog.get_logger(__name__)

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


class LinkedInMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "peerscore_ingest_linkedin_notifications_total",
            "LinkedIn webhook notifications by kind and outcome",
            ["kind", "outcome"],
            registry=registry,
        )

    def count(self, kind: str, outcome: str, n: int = 1) -> None:
        self.notifications.labels(kind=kind, outcome=outcome).inc(n)


@contextmanager
def timed(metrics: IngestMetrics, endpoint: str) -> Iterator[None]:
    """Observe the request's time to answer, acknowledgement included (the tracking API's latency alert)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)


@contextmanager
def counted(metrics: IngestMetrics, endpoint: str) -> Iterator[None]:
    """Count (and log) a request's refusal by reason; an invalid event becomes its 400 answer."""
    try:
        yield
    except InvalidEvent as exc:
        metrics.rejected.labels(reason="invalid").inc()
        paths = [e.path for e in exc.errors]
        log.info("request_rejected", endpoint=endpoint, reason="invalid", status=400, paths=paths[:10])
        raise InvalidEvents(exc) from None
    except RequestRejected as exc:
        metrics.rejected.labels(reason=exc.reason).inc()
        log.info("request_rejected", endpoint=endpoint, reason=exc.reason, status=exc.status_code)
        raise
