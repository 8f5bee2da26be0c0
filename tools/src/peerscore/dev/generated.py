"""``peerscore generate-history``: a generated world stored exactly as production would have stored it.

The journeys are Segment calls (``userId`` on every call, the email only in ``identify`` traits), normalised by
ingest's own code. The outcomes are what a CRM sends — the generic signed webhook's JSON, naming each lead by
email — parsed and keyed by crm-sync's own code, never by Peerscore's internal key. The history is written
directly (not through the worker), so the identity links the worker would have written are written too, by the
same rules (:func:`~peerscore.scoring.identity.merge.merges_for`, then
:func:`~peerscore.scoring.identity.canonical.settle_links`): that is what lets outcomes keyed by email reach the
people keyed by user id, as in production.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session

from peerscore.crm_sync.domain.outcomes import generic_outcomes, keyed_outcomes
from peerscore.dev.journeys import IntentHistoryGenerator
from peerscore.events import EngagementEvent, Outcome
from peerscore.ingest.normalise import normalise_batch
from peerscore.scoring.history import EventHistoryRow, history_row
from peerscore.scoring.identity.canonical import canonical_keys, settle_links
from peerscore.scoring.identity.merge import MergeInstruction, merges_for
from peerscore.scoring.identity.models import IdentityLinkRow
from peerscore.scoring.outcomes.store import store_outcomes

PARTITIONS = 12
CRM_DELAY = timedelta(minutes=5)
"""How long after the outcome happened the CRM's webhook reaches Peerscore (its ``received_at``)."""


def crm_webhook_body(outcomes: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The generic outcome webhook's JSON for generated CRM outcomes: each lead named by its email only."""
    return {
        "outcomes": [
            {
                "event_id": o["id"],
                "email": o["email"],
                "kind": o["kind"],
                "reason": o["reason"],
                "occurred_at": o["occurred_at"],
            }
            for o in outcomes
        ]
    }


def crm_outcomes(body: bytes, secret: bytes, now: datetime) -> list[Outcome]:
    """A webhook body parsed and keyed by crm-sync's own code (what its ``/v1/crm/outcomes/webhook`` publishes).

    Developer tooling may import every service; the services never import each other.
    """
    out: list[Outcome] = []
    for raw in generic_outcomes(json.loads(body), now):
        keyed, unkeyed = keyed_outcomes("webhook", [raw], secret, raw.occurred_at + CRM_DELAY)
        if unkeyed:
            raise ValueError(f"generated outcome {raw.event_id} names no email")
        out += keyed
    return out


def identity_links(events: Sequence[EngagementEvent], secret: bytes) -> list[dict[str, object]]:
    """The ``identity_link`` rows the worker would write for these events (applied in this order)."""
    merges: list[MergeInstruction] = []
    first_seen: dict[str, datetime] = {}
    for event in events:
        for merge in merges_for(event, secret):
            first_seen.setdefault(merge.merge_id, event.received_at)
            merges.append(merge)
    last = max((e.received_at for e in events), default=None)
    return [
        {
            "person_key": source,
            "merged_into": m.target_key,
            "target_rank": m.target_rank,
            "merge_id": m.merge_id,
            "merged_at": first_seen.get(m.merge_id, last),
        }
        for source, m in sorted(settle_links(merges).items())
    ]


@dataclass(frozen=True)
class GeneratedWorld:
    """A generated world as production would hold it: events as ingest keys them, the worker's identity links,
    and the CRM's outcomes as crm-sync keys them (by email)."""

    events: list[EngagementEvent]
    links: list[dict[str, object]]
    outcomes: list[Outcome]

    def labels(self) -> list[tuple[str, str, datetime]]:
        """The outcomes as scoring reads them (see ``load_outcomes``): canonical key, kind, time; oldest first."""
        links = {str(row["person_key"]): str(row["merged_into"]) for row in self.links}
        canonical = canonical_keys({o.person_key for o in self.outcomes}, links)
        ordered = sorted(self.outcomes, key=lambda o: (o.occurred_at, o.event_id))
        return [(canonical[o.person_key], o.kind, o.occurred_at) for o in ordered]


def generated_world(people: int, days: int, seed: int, secret: bytes, end: datetime) -> GeneratedWorld:
    """The intent generator's history (see ``IntentHistoryGenerator``) through ingest's and crm-sync's own code."""
    generated = IntentHistoryGenerator(seed=seed).history(people, end=end, days=days)
    events = normalise_batch({"batch": generated.calls}, secret=secret, received_at=end)
    body = json.dumps(crm_webhook_body(generated.outcomes)).encode()
    return GeneratedWorld(events, identity_links(events, secret), crm_outcomes(body, secret, end))


def store_world(engine: Engine, world: GeneratedWorld) -> int:
    """Write a world into scoring's database as the worker would have: its history (in partition order), its
    identity links, and its outcomes as crm-sync keyed them. Returns the number of events written."""
    offsets = [0] * PARTITIONS
    rows = []
    for e in world.events:
        partition = zlib.crc32(e.person_key.encode()) % PARTITIONS
        rows.append(history_row("generated.events", partition, offsets[partition], e))
        offsets[partition] += 1
    with Session(engine) as session, session.begin():
        session.execute(insert(EventHistoryRow.__table__), rows)  # type: ignore[attr-defined]
        if world.links:
            session.execute(insert(IdentityLinkRow.__table__), world.links)  # type: ignore[attr-defined]
        store_outcomes(session, world.outcomes)
    return len(rows)


def generate_history(
    engine: Engine, people: int, days: int, seed: int, secret: bytes, end: datetime
) -> tuple[int, int]:
    """Write a :func:`generated_world` into scoring's database (:func:`store_world`), so a fresh install can
    train a first model. Returns ``(events, outcomes)``."""
    world = generated_world(people, days, seed, secret, end)
    return store_world(engine, world), len(world.outcomes)
