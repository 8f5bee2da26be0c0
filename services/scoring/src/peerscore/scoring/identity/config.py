"""What the worker's identity steps are configured with and count, and the check that refuses forged or
malformed internal instructions (merges, transfers, erasures) before they reach a batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ValidationError

from peerscore.consumer import InvalidMessage
from peerscore.events import ERASURE, IDENTITY_MERGE, IDENTITY_TRANSFER, INTERNAL_SOURCE, EngagementEvent
from peerscore.scoring.identity.erasure import ErasureOrder
from peerscore.scoring.identity.merge import MERGED_MARKER, MergeInstruction, Transfer

_PAYLOADS: dict[str, type[BaseModel]] = {
    IDENTITY_MERGE: MergeInstruction,
    IDENTITY_TRANSFER: Transfer,
    ERASURE: ErasureOrder,
}


@dataclass(frozen=True)
class PrivacyConfig:
    """``secret`` keys person hashes (merges are detected only with it); ``dedup_window`` is how long an event
    id is remembered per person."""

    secret: bytes | None = None
    dedup_window: timedelta = timedelta(days=7)
    prune_every: timedelta = timedelta(minutes=5)


class IdentityMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.forwarded = Counter(
            "peerscore_scoring_identity_forwarded_total",
            "Events and transfers forwarded from a merged key to the key it was merged into",
            registry=registry,
        )
        self.merges = Counter(
            "peerscore_scoring_identity_merges_total",
            "Merge steps, by side: instruction emitted, source moved out, transfer folded in",
            ["step"],
            registry=registry,
        )
        self.withheld = Counter(
            "peerscore_scoring_consent_withheld_events_total",
            "Events not applied because the person opted out",
            registry=registry,
        )
        self.erased = Counter("peerscore_scoring_erasures_total", "Person keys erased on request", registry=registry)


def validate_internal(event: EngagementEvent) -> None:
    """Raise :class:`InvalidMessage` for an internal instruction that is forged or malformed."""
    if event.type == MERGED_MARKER:
        raise InvalidMessage(f"{MERGED_MARKER} is a history row, never an event to apply")
    payload = _PAYLOADS.get(event.type)
    if payload is None:
        return
    if event.source != INTERNAL_SOURCE:
        raise InvalidMessage(f"{event.type} is internal to Peerscore; refused from source {event.source!r}")
    try:
        payload.model_validate(event.properties)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise InvalidMessage(f"bad {event.type} payload: properties.{where}: {first['msg']}") from None


def is_internal(event: EngagementEvent) -> bool:
    return event.type in _PAYLOADS
