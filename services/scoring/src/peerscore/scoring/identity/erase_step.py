"""Erasures at the start of a batch, before anything else in it is applied.

A person's erasure (an order on the events topic, or a LinkedIn lead deletion) deletes everything stored about
them and every key merged into them, logs it, tombstones their scores and tells crm-sync. What came before the
erasure in the same batch would be erased with it, so it is never applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import structlog
from sqlmodel import Session, select

from peerscore.consumer import Message
from peerscore.events import ERASURE, LEAD_FORM_DELETED, EngagementEvent, ErasureRequest
from peerscore.kafka_io import OutgoingRecord, record
from peerscore.scoring.identity.config import IdentityMetrics
from peerscore.scoring.identity.erasure import (
    ErasureOrder,
    erase_keys,
    erasure_event,
    log_erasure,
    merged_into,
    tombstone_scores,
)
from peerscore.scoring.identity.models import IdentityLinkRow
from peerscore.topics import Topics

log = structlog.get_logger(__name__)


def erasures_first(
    session: Session, fresh: Sequence[Message[EngagementEvent]], topics: Topics, metrics: IdentityMetrics, now: datetime
) -> tuple[list[Message[EngagementEvent]], list[OutgoingRecord]]:
    """Carry out the batch's erasures; returns the events left to apply and the erasures' outputs."""
    fresh = [as_erasure(m) if m.value.type == LEAD_FORM_DELETED else m for m in fresh]
    last_erasure = {m.value.person_key: i for i, m in enumerate(fresh) if m.value.type == ERASURE}
    early: list[OutgoingRecord] = []
    for m in fresh:
        if m.value.type == ERASURE:
            early.extend(_erase(session, m.value, topics, metrics, now))
    # What came before a person's erasure in this batch would be erased with it: never applied.
    events = [
        m for i, m in enumerate(fresh) if m.value.type != ERASURE and i > last_erasure.get(m.value.person_key, -1)
    ]
    return events, early


def as_erasure(m: Message[EngagementEvent]) -> Message[EngagementEvent]:
    """A LinkedIn lead deletion (``leadAction: DELETED``) as an erasure of the person it is keyed by.

    LinkedIn sends it when the member asks for their lead data to be removed. The form's answers are folded into
    the person (traits, points, account) and cannot be told apart from the rest afterwards, so the whole person
    is erased, logged like ``DELETE /v1/people/{email}`` and passed on to crm-sync.
    """
    order = ErasureOrder(request_id=m.value.event_id, requested_at=m.value.received_at, keys=[m.value.person_key])
    return replace(m, value=erasure_event(m.value.person_key, order))


def _erase(
    session: Session, event: EngagementEvent, topics: Topics, metrics: IdentityMetrics, now: datetime
) -> list[OutgoingRecord]:
    key = event.person_key
    order = ErasureOrder.model_validate(event.properties)
    onward = session.exec(select(IdentityLinkRow.merged_into).where(IdentityLinkRow.person_key == key)).first()
    merged = merged_into(session, key)
    deleted = erase_keys(session, key, merged)
    tombstone_scores(session, topics.scores, [key, *merged])
    log_erasure(session, key=key, order=order, erased_at=now, deleted=deleted)
    metrics.erased.inc()
    log.info("person_erased", person_key=key, request_id=order.request_id, deleted=deleted)
    request = ErasureRequest(
        request_id=order.request_id, person_key=key, requested_at=order.requested_at, erased_at=now
    )
    outputs = [record(topics.erasure, key, request)]
    if onward is not None and onward not in order.keys:  # merged away: its data lives there now
        forward = order.model_copy(update={"keys": sorted({*order.keys, onward})})
        outputs.append(record(topics.events, onward, erasure_event(onward, forward)))
    return outputs
