"""JSON logs without personal data, Prometheus metrics per service, and health/readiness/metrics endpoints."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PERSONAL_FIELDS = frozenset(
    {"email", "first_name", "last_name", "firstName", "lastName", "name", "phone", "ip", "address", "traits"}
)


def scrub_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last line of defence: drop known personal fields and mask anything shaped like an email."""
    for key in list(event_dict):
        if key in _PERSONAL_FIELDS:
            event_dict[key] = "[redacted]"
        elif isinstance(event_dict[key], str):
            event_dict[key] = _EMAIL.sub("[email]", event_dict[key])
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route structlog and stdlib logging (uvicorn, kafka) through one JSON renderer on stdout."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        scrub_personal_data,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_service(service),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("kafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _add_service(service: str) -> Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]:
    def add(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return add


class ConsumerMetrics:
    """Metrics of one consumer loop, registered in the service's own registry."""

    def __init__(self, registry: CollectorRegistry, group: str) -> None:
        labels = {"group": group}
        self.handled = Counter(
            "peerscore_consumer_messages_total", "Records handled", ["group"], registry=registry
        ).labels(**labels)
        self.dead_lettered = Counter(
            "peerscore_consumer_dead_letters_total", "Records sent to the DLQ", ["group"], registry=registry
        ).labels(**labels)
        self.retries = Counter(
            "peerscore_consumer_retries_total",
            "Batches retried after a failure",
            ["group"],
            registry=registry,
        ).labels(**labels)
        self.batch_seconds = Histogram(
            "peerscore_consumer_batch_seconds",
            "Time to decode, handle and commit one batch",
            ["group"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        ).labels(**labels)
        self.lag = Gauge(
            "peerscore_consumer_lag", "Records behind the high-water mark", ["group"], registry=registry
        ).labels(**labels)

    def observe_batch(self, *, handled: int, dead_lettered: int, seconds: float) -> None:
        self.handled.inc(handled)
        self.dead_lettered.inc(dead_lettered)
        self.batch_seconds.observe(seconds)


ReadinessCheck = Callable[[], None]
"""Raises when a dependency is not reachable; the message becomes the readiness answer."""


def health_router(registry: CollectorRegistry, checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        ok = True
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by type
                ok = False
                results[name] = f"unavailable: {type(exc).__name__}"
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": results}, 200 if ok else 503)

    @router.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
