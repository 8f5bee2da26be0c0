"""``POST /v1/crm/outcomes/{hubspot,salesforce,webhook}``: what sales did with a lead, published to the outcomes topic.

CRMs cannot send our bearer token, so each endpoint verifies its sender the way that CRM documents it:

* HubSpot webhook v3: ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client secret, method + URI + body +
  ``X-HubSpot-Request-Timestamp``)); timestamps older than five minutes, or from the future beyond a minute of
  clock skew, are refused (replays). The URI is the one HubSpot called: ``OUTCOMES_PUBLIC_BASE_URL`` + path when
  set (TLS ends at a proxy, so the request itself says ``http://``), else the request's own URL.
* Salesforce outbound messages cannot be signed, and the org id is no secret: the endpoint URL carries a secret
  path segment (``SALESFORCE_OUTBOUND_TOKEN``) checked before the XML is parsed; the ``OrganizationId`` must be
  ours too, and DTDs/entities are refused by the parser whatever the encoding.
* Generic JSON: the Peerscore signature (see :mod:`peerscore.crm_sync.domain.signing`).

Every body is read within ``OUTCOMES_MAX_BODY_BYTES`` (413 beyond) and authenticated before it is parsed.

Each outcome is keyed by the person crm-sync synced to the CRM record it names (the ``crm_object`` id table: a
HubSpot contact, a Salesforce Lead/Contact, an Opportunity's contact), else by its email
(``peerscore.identity.outcome_person_key``; scoring reads it under the person that email was merged into, e.g. the
website's user id), and
published (acknowledged by Kafka) before the CRM gets 2xx: CRMs retry anything else, so nothing is lost. When the
people behind a HubSpot notification cannot be looked up, or Kafka does not acknowledge, the answer is 503 (HubSpot
retries it). The blocking work (HubSpot lookups, the acknowledged publish) runs in the thread pool so one slow
webhook never stalls the event loop serving the others.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

import structlog
from fastapi import APIRouter, Depends, Request, Response
from kafka.errors import KafkaError
from starlette.concurrency import run_in_threadpool

from peerscore.api import read_body_or_413
from peerscore.crm_sync.adapters.hubspot_people import LookupUnavailable
from peerscore.crm_sync.domain.outcomes import (
    BadOutcomePayload,
    DealStages,
    RawOutcome,
    generic_outcomes,
    hubspot_deal_outcomes,
    hubspot_outcomes,
    keyed_outcomes,
    person_object,
    salesforce_outcomes,
)
from peerscore.crm_sync.domain.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_peerscore_signature
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.outcome_hubspot import HubSpotLookup, resolve_hubspot
from peerscore.errors import InvalidInput, NotFound, Unauthorized, Unavailable
from peerscore.events import utcnow
from peerscore.kafka_io import Publisher, record
from peerscore.secrets_compare import ascii_digits, secrets_equal

log = structlog.get_logger(__name__)

_T = TypeVar("_T")
OutcomeSource = Literal["hubspot", "salesforce", "webhook"]

HUBSPOT_MAX_AGE_MS = 300_000
HUBSPOT_MAX_SKEW_MS = 60_000
SF_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
    "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


PublisherSource = Callable[[], Publisher | None]
"""The publisher to use now: ``None`` while none runs (the endpoints answer 503)."""
PersonKeyLookup = Callable[[str, Sequence[str]], dict[str, str]]
"""Person key by CRM object id (crm-sync's id table); raises ``LookupError`` when it cannot be read."""


@dataclass
class OutcomeSink:
    """Everything the endpoints need; a missing secret disables (404) that endpoint rather than accepting anyone."""

    publisher: PublisherSource
    topic: str
    person_key_secret: bytes
    metrics: CrmMetrics
    hubspot_client_secret: bytes = b""
    hubspot_people: HubSpotLookup | None = None
    deal_stages: DealStages = DealStages()
    salesforce_org_id: str = ""
    webhook_secret: bytes = b""
    salesforce_token: bytes = b""
    max_body_bytes: int = 1_048_576
    public_base_url: str = ""
    clock: Callable[[], float] = time.time
    person_keys: PersonKeyLookup = lambda _crm, _ids: {}

    def signed_url(self, request: Request) -> str:
        """The URL the CRM called: the configured public base (scheme and host behind the proxy) + our path."""
        if not self.public_base_url:
            return str(request.url)
        query = request.url.query
        return self.public_base_url + request.url.path + (f"?{query}" if query else "")


def hubspot_signature_ok(
    secret: bytes, method: str, uri: str, body: bytes, timestamp: str | None, sig: str | None, now_s: float
) -> bool:
    if not sig or not ascii_digits(timestamp):
        return False
    age_ms = now_s * 1000 - int(timestamp)
    if age_ms > HUBSPOT_MAX_AGE_MS or age_ms < -HUBSPOT_MAX_SKEW_MS:
        return False
    expected = base64.b64encode(
        hmac.new(secret, (method + uri).encode() + body + timestamp.encode(), hashlib.sha256).digest()
    ).decode()
    return secrets_equal(sig.strip(), expected)


def outcome_sink(request: Request) -> OutcomeSink:
    """The sink the app's lifespan built (its clients and secrets), never a module-level one."""
    sink: OutcomeSink = request.app.state.outcome_sink
    return sink


SinkDep = Annotated[OutcomeSink, Depends(outcome_sink)]

router = APIRouter(prefix="/v1/crm/outcomes", tags=["outcomes"])


@router.post("/hubspot")
async def hubspot(request: Request, sink: SinkDep) -> dict[str, int]:
    if not sink.hubspot_client_secret:
        raise NotFound("HubSpot outcomes are not configured")
    body = await read_body_or_413(request, sink.max_body_bytes)
    ok = hubspot_signature_ok(
        sink.hubspot_client_secret,
        request.method,
        sink.signed_url(request),
        body,
        request.headers.get("X-HubSpot-Request-Timestamp"),
        request.headers.get("X-HubSpot-Signature-v3"),
        sink.clock(),
    )
    if not ok:
        raise Unauthorized("bad or expired HubSpot signature")
    events = _parse(lambda: json.loads(body))
    contact_events = _parse(lambda: hubspot_outcomes(events))
    deal_events = _parse(lambda: hubspot_deal_outcomes(events, sink.deal_stages))
    if not contact_events and not deal_events:
        return {"published": 0}
    if sink.hubspot_people is None:
        raise Unavailable("HubSpot lookups need HUBSPOT_ACCESS_TOKEN")
    try:
        raw = await run_in_threadpool(resolve_hubspot, contact_events, deal_events, sink.hubspot_people)
    except LookupUnavailable as exc:
        log.warning("hubspot_lookup_unavailable", error=str(exc)[:300])
        raise Unavailable("HubSpot lookup failed; retry later") from exc
    return {"published": await run_in_threadpool(_publish, sink, "hubspot", raw)}


@router.post("/salesforce/{token}")
async def salesforce_with_token(request: Request, sink: SinkDep, token: str) -> Response:
    return await _salesforce(request, sink, token)


@router.post("/salesforce", deprecated=True)
async def salesforce_without_token(request: Request, sink: SinkDep) -> Response:
    """Only while no ``SALESFORCE_OUTBOUND_TOKEN`` is set (dev, or a deployment not yet moved): 401 after."""
    return await _salesforce(request, sink, None)


async def _salesforce(request: Request, sink: OutcomeSink, token: str | None) -> Response:
    if not sink.salesforce_org_id:
        raise NotFound("Salesforce outcomes are not configured")
    if sink.salesforce_token and not secrets_equal(token, sink.salesforce_token):
        raise Unauthorized("wrong or missing Salesforce endpoint token")
    body = await read_body_or_413(request, sink.max_body_bytes)
    org, raw = _parse(lambda: salesforce_outcomes(body))
    if not secrets_equal(org[:15], sink.salesforce_org_id[:15]):
        raise Unauthorized("outbound message from another organisation")
    await run_in_threadpool(_publish, sink, "salesforce", raw)
    return Response(SF_ACK, media_type="text/xml")


@router.post("/webhook")
async def generic(request: Request, sink: SinkDep) -> dict[str, int]:
    if not sink.webhook_secret:
        raise NotFound("webhook outcomes are not configured")
    body = await read_body_or_413(request, sink.max_body_bytes)
    headers = request.headers
    if not verify_peerscore_signature(
        sink.webhook_secret, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), body, sink.clock()
    ):
        raise Unauthorized("bad or expired signature")
    raw = _parse(lambda: generic_outcomes(json.loads(body), utcnow()))
    return {"published": await run_in_threadpool(_publish, sink, "webhook", raw)}


def _parse(parse: Callable[[], _T]) -> _T:
    try:
        return parse()
    except (BadOutcomePayload, ValueError) as exc:
        raise InvalidInput(str(exc)[:500]) from exc


def _publish(sink: OutcomeSink, source: str, raw: list[RawOutcome]) -> int:
    publisher = sink.publisher()
    if publisher is None:
        raise Unavailable("outcomes publisher not running")
    try:
        known = sink.person_keys(source, [o for o in map(person_object, raw) if o])
    except LookupError as exc:
        raise Unavailable("person lookup failed; retry later") from exc
    outcomes, unkeyed = keyed_outcomes(source, raw, sink.person_key_secret, utcnow(), known)
    for r in unkeyed:
        log.warning("outcome_without_person", source=source, crm_object_id=r.crm_object_id, kind=r.kind)
    if outcomes:
        try:
            publisher.publish([record(sink.topic, o.person_key, o) for o in outcomes], wait=True)
        except (KafkaError, TimeoutError) as exc:
            log.error("outcomes_not_acknowledged", source=source, count=len(outcomes), error=type(exc).__name__)
            raise Unavailable("outcomes not acknowledged; retry") from exc
    for o in outcomes:
        sink.metrics.outcomes.labels(source=source, kind=o.kind).inc()
    return len(outcomes)
