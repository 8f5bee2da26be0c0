"""The LinkedIn webhook edge: validation challenges and signed notifications, published like any event.

``GET`` answers LinkedIn's challenge; ``POST`` checks ``X-LI-Signature`` over the raw body before reading it
(401 and nothing published otherwise), normalises with the pure parsers, and answers 200 only once Kafka
acknowledged the events, so a 503 makes LinkedIn deliver again (the event ids make that harmless).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter

from peerscore.events import EngagementEvent, utcnow
from peerscore.ingest.body import parse_json, read_limited
from peerscore.ingest.errors import InvalidEvent, RequestRejected
from peerscore.ingest.linkedin.client import LinkedInLeadClient, LinkedInUnavailable
from peerscore.ingest.linkedin.leads import lead_event, parse_notification
from peerscore.ingest.linkedin.signature import (
    SIGNATURE_HEADER,
    challenge_code_acceptable,
    challenge_response,
    signature_valid,
)
from peerscore.ingest.linkedin.social import social_action_events
from peerscore.ingest.settings import LinkedInSettings

log = structlog.get_logger(__name__)

Publish = Callable[[list[EngagementEvent]], Awaitable[None]]
MAX_REPORTED = 100


class LinkedInMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "peerscore_ingest_linkedin_notifications_total",
            "LinkedIn webhook notifications by kind and outcome",
            ["kind", "outcome"],
            registry=registry,
        )


def linkedin_router(
    settings: LinkedInSettings,
    *,
    person_key_secret: bytes,
    publish: Publish,
    registry: CollectorRegistry,
    max_body_bytes: int,
    retry_after_s: int,
    client: LinkedInLeadClient | None = None,
) -> APIRouter:
    """Routes under ``/v1/linkedin``; ``client`` defaults to the REST client when an access token is set."""
    router = APIRouter(prefix="/v1/linkedin", tags=["linkedin"])
    client_secret = settings.client_secret.get_secret_value().encode()
    leads_client = client or (LinkedInLeadClient(settings) if settings.fetches_leads else None)
    metrics = LinkedInMetrics(registry)

    def answer_challenge(kind: str, request: Request) -> JSONResponse:
        code = request.query_params.get("challengeCode")
        if not code or not challenge_code_acceptable(code):
            # Only LinkedIn's UUID-shaped codes are answered: any other string could be a body to be signed.
            detail = [{"path": "challengeCode", "message": "is required and must be a UUID as LinkedIn sends it"}]
            metrics.notifications.labels(kind=kind, outcome="invalid_challenge").inc()
            return JSONResponse({"error": "invalid_challenge", "detail": detail}, 400)
        metrics.notifications.labels(kind=kind, outcome="challenge").inc()
        return JSONResponse({"challengeCode": code, "challengeResponse": challenge_response(client_secret, code)})

    async def verified_body(request: Request) -> dict[str, Any]:
        raw = await read_limited(request.stream(), max_body_bytes)
        if not signature_valid(client_secret, raw, request.headers.get(SIGNATURE_HEADER)):
            raise RequestRejected(401, "auth", "unauthorized", f"missing or wrong {SIGNATURE_HEADER}")
        return parse_json(raw)

    async def lead_events(body: dict[str, Any], received_at: datetime) -> tuple[list[EngagementEvent], str | None]:
        notification = parse_notification(body)
        data = None
        if leads_client is not None:
            try:
                data = await leads_client.lead_data(notification)
            except InvalidEvent as exc:  # LinkedIn's answer, not the notification, is malformed: not a 400
                if notification.action == "CREATED":
                    return [], "LinkedIn's lead data is unreadable at " + ", ".join(e.path for e in exc.errors[:3])
                data = None  # a deletion needs no data
            if data is None and notification.action == "CREATED":
                return [], "LinkedIn no longer has this lead response"
        elif notification.action == "CREATED":
            return [], "no LINKEDIN_ACCESS_TOKEN: lead data is expected on the Kafka source topic"
        try:
            event = lead_event(notification, data, secret=person_key_secret, received_at=received_at)
        except InvalidEvent as exc:
            if data is None:
                raise
            # LinkedIn's own data cannot be scored (no email, no member): refusing would make LinkedIn retry
            # a notification that can never succeed, so it is acknowledged, counted and logged instead.
            return [], "lead data unusable: " + "; ".join(e.message for e in exc.errors[:3])
        return [event], None

    async def receive(kind: str, request: Request) -> JSONResponse:
        received_at = utcnow()
        try:
            body = await verified_body(request)
            skipped: list[dict[str, str]] = []
            if kind == "lead":
                events, reason = await lead_events(body, received_at)
                if reason is not None:
                    skipped.append({"path": "$", "reason": reason})
            else:
                events, skipped_actions = social_action_events(body, secret=person_key_secret, received_at=received_at)
                skipped = [s.as_dict() for s in skipped_actions]
            if events:
                try:
                    await publish(events)
                except Exception as exc:  # no acknowledgement means not accepted: LinkedIn retries
                    log.warning("publish_failed", endpoint=f"linkedin_{kind}", error=type(exc).__name__)
                    raise RequestRejected(503, "unavailable", "unavailable", "event broker unavailable") from None
        except LinkedInUnavailable as exc:
            metrics.notifications.labels(kind=kind, outcome="linkedin_unavailable").inc()
            log.warning("linkedin_fetch_failed", detail=str(exc))
            message = "LinkedIn API unavailable; retry later"
            return JSONResponse({"error": "upstream_unavailable", "message": message}, 503, _retry(retry_after_s))
        except RequestRejected as exc:
            metrics.notifications.labels(kind=kind, outcome=exc.reason).inc()
            log.info("linkedin_rejected", kind=kind, reason=exc.reason, status=exc.status)
            headers = _retry(retry_after_s) if exc.status == 503 else {}
            return JSONResponse(exc.as_dict(MAX_REPORTED), exc.status, headers)
        except InvalidEvent as exc:
            metrics.notifications.labels(kind=kind, outcome="invalid").inc()
            paths = [e.path for e in exc.errors]
            log.info("linkedin_rejected", kind=kind, reason="invalid", status=400, paths=paths[:10])
            return JSONResponse(
                {"error": "invalid_event", "detail": [e.as_dict() for e in exc.errors[:MAX_REPORTED]]}, 400
            )
        metrics.notifications.labels(kind=kind, outcome="published").inc(len(events))
        metrics.notifications.labels(kind=kind, outcome="skipped").inc(len(skipped))
        reasons = sorted({s["reason"] for s in skipped})[:5]  # reasons name fields and actions, never values
        log.info("linkedin_accepted", kind=kind, events=len(events), skipped=len(skipped), reasons=reasons)
        return JSONResponse({"success": True, "published": len(events), "skipped": skipped[:MAX_REPORTED]})

    @router.get("/leads", summary="LinkedIn webhook validation challenge (Lead Sync)")
    def lead_challenge(request: Request) -> JSONResponse:
        return answer_challenge("lead", request)

    @router.post("/leads", summary="LinkedIn Lead Sync notification (LEAD_ACTION), signed with X-LI-Signature")
    async def lead_notification(request: Request) -> JSONResponse:
        return await receive("lead", request)

    @router.get("/social-actions", summary="LinkedIn webhook validation challenge (organisation social actions)")
    def social_challenge(request: Request) -> JSONResponse:
        return answer_challenge("social", request)

    @router.post("/social-actions", summary="LinkedIn organisation social action notifications, signed")
    async def social_notification(request: Request) -> JSONResponse:
        return await receive("social", request)

    return router


def _retry(retry_after_s: int) -> dict[str, str]:
    return {"Retry-After": str(retry_after_s)}
