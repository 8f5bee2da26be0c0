"""The LinkedIn webhook edge: validation challenges and signed notifications, published like any event.

``GET`` answers LinkedIn's challenge; ``POST`` checks ``X-LI-Signature`` over the raw body before reading it
(401 and nothing published otherwise), normalises with the pure parsers, and answers 200 only once Kafka
acknowledged the events, so a 503 makes LinkedIn deliver again (the event ids make that harmless). The routes
exist only when the app is configured with a client secret (see :func:`peerscore.ingest.app.create_app`).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from peerscore.events import EngagementEvent, utcnow
from peerscore.ingest.body import parse_json, read_limited
from peerscore.ingest.deps import IngestDep, LinkedInDep, LinkedInState
from peerscore.ingest.errors import InvalidEvent
from peerscore.ingest.linkedin.client import LinkedInUnavailable
from peerscore.ingest.linkedin.leads import lead_event, parse_notification
from peerscore.ingest.linkedin.signature import (
    SIGNATURE_HEADER,
    challenge_code_acceptable,
    challenge_response,
    signature_valid,
)
from peerscore.ingest.linkedin.social import social_action_events
from peerscore.ingest.rejections import (
    InvalidChallenge,
    InvalidEvents,
    RequestRejected,
    Unauthenticated,
    UpstreamUnavailable,
)

log = structlog.get_logger(__name__)

MAX_REPORTED = 100

router = APIRouter(prefix="/v1/linkedin", tags=["linkedin"])


def answer_challenge(kind: str, request: Request, linkedin: LinkedInDep) -> JSONResponse:
    """LinkedIn's validation challenge: the code signed with the client secret, which proves we hold it."""
    code = request.query_params.get("challengeCode")
    if not code or not challenge_code_acceptable(code):
        # Only LinkedIn's UUID-shaped codes are answered: any other string could be a body to be signed.
        linkedin.metrics.count(kind, "invalid_challenge")
        raise InvalidChallenge()
    linkedin.metrics.count(kind, "challenge")
    return JSONResponse({"challengeCode": code, "challengeResponse": challenge_response(linkedin.client_secret, code)})


async def verified_body(request: Request, linkedin: LinkedInState, max_body_bytes: int) -> dict[str, Any]:
    raw = await read_limited(request.stream(), max_body_bytes)
    if not signature_valid(linkedin.client_secret, raw, request.headers.get(SIGNATURE_HEADER)):
        raise Unauthenticated(f"missing or wrong {SIGNATURE_HEADER}", challenge=False)
    return parse_json(raw)


async def lead_events(
    body: dict[str, Any], received_at: datetime, linkedin: LinkedInState, secret: bytes
) -> tuple[list[EngagementEvent], str | None]:
    """The lead's event, or none and the reason it is acknowledged without one."""
    notification = parse_notification(body)
    data = None
    if linkedin.leads_client is not None:
        try:
            data = await linkedin.leads_client.lead_data(notification)
        except InvalidEvent as exc:  # LinkedIn's answer, not the notification, is malformed: not a 400
            if notification.action == "CREATED":
                return [], "LinkedIn's lead data is unreadable at " + ", ".join(e.path for e in exc.errors[:3])
            data = None  # a deletion needs no data
        if data is None and notification.action == "CREATED":
            return [], "LinkedIn no longer has this lead response"
    elif notification.action == "CREATED":
        return [], "no LINKEDIN_ACCESS_TOKEN: lead data is expected on the Kafka source topic"
    try:
        event = lead_event(notification, data, secret=secret, received_at=received_at)
    except InvalidEvent as exc:
        if data is None:
            raise
        # LinkedIn's own data cannot be scored (no email, no member): refusing would make LinkedIn retry
        # a notification that can never succeed, so it is acknowledged, counted and logged instead.
        return [], "lead data unusable: " + "; ".join(e.message for e in exc.errors[:3])
    return [event], None


async def notification_events(
    kind: str, body: dict[str, Any], received_at: datetime, linkedin: LinkedInState, secret: bytes
) -> tuple[list[EngagementEvent], list[dict[str, str]]]:
    """The events of one notification and what of it was skipped (by field path and reason)."""
    if kind == "lead":
        events, reason = await lead_events(body, received_at, linkedin, secret)
        return events, [] if reason is None else [{"path": "$", "reason": reason}]
    events, skipped_actions = social_action_events(body, secret=secret, received_at=received_at)
    return events, [s.as_dict() for s in skipped_actions]


async def receive(kind: str, request: Request, ingest: IngestDep, linkedin: LinkedInDep) -> JSONResponse:
    """Verify, normalise and publish one notification; every refusal is counted by kind and outcome."""
    received_at = utcnow()
    try:
        body = await verified_body(request, linkedin, ingest.settings.max_batch_bytes)
        events, skipped = await notification_events(kind, body, received_at, linkedin, ingest.secret)
        await ingest.sink.publish(events, endpoint=f"linkedin_{kind}")
    except LinkedInUnavailable as exc:
        linkedin.metrics.count(kind, "linkedin_unavailable")
        log.warning("linkedin_fetch_failed", detail=str(exc))
        raise UpstreamUnavailable(ingest.settings.retry_after_s, "LinkedIn API unavailable; retry later") from None
    except RequestRejected as exc:
        linkedin.metrics.count(kind, exc.reason)
        log.info("linkedin_rejected", kind=kind, reason=exc.reason, status=exc.status_code)
        raise
    except InvalidEvent as exc:
        linkedin.metrics.count(kind, "invalid")
        paths = [e.path for e in exc.errors]
        log.info("linkedin_rejected", kind=kind, reason="invalid", status=400, paths=paths[:10])
        raise InvalidEvents(exc) from None
    linkedin.metrics.count(kind, "published", len(events))
    linkedin.metrics.count(kind, "skipped", len(skipped))
    reasons = sorted({s["reason"] for s in skipped})[:5]  # reasons name fields and actions, never values
    log.info("linkedin_accepted", kind=kind, events=len(events), skipped=len(skipped), reasons=reasons)
    return JSONResponse({"success": True, "published": len(events), "skipped": skipped[:MAX_REPORTED]})


# (path, challenge summary, notification summary) per kind; the handlers take the kind as first argument.
KINDS = {
    "lead": (
        "/leads",
        "LinkedIn webhook validation challenge (Lead Sync)",
        "LinkedIn Lead Sync notification (LEAD_ACTION), signed with X-LI-Signature",
    ),
    "social": (
        "/social-actions",
        "LinkedIn webhook validation challenge (organisation social actions)",
        "LinkedIn organisation social action notifications, signed",
    ),
}
for _kind, (_path, _challenge, _notification) in KINDS.items():
    router.add_api_route(
        _path, partial(answer_challenge, _kind), methods=["GET"], name=f"{_kind}_challenge", summary=_challenge
    )
    router.add_api_route(
        _path, partial(receive, _kind), methods=["POST"], name=f"{_kind}_notification", summary=_notification
    )
