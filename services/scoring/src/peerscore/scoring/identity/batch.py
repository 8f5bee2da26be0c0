"""The worker side of identity, dedup, consent and erasure for one polled batch, inside its transaction.

The scoring handler calls, in order: :meth:`IdentityBatch.begin` (erasures first, then one query each for the
batch's redirects and seen event ids), :meth:`divert` for every event (duplicates, events of merged keys and
merge instructions never reach the fold), :meth:`apply` instead of ``apply_event`` (transfers and consent),
:meth:`record` after an event was applied, and :meth:`finish` after the states and ledger are written: it
stores the seen ids, turns this batch's merge instructions into transfer records and returns every output in
the order the targets must see them (transfers before the events forwarded after them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from peerscore.consumer import InvalidMessage, Message
from peerscore.events import (
    ERASURE,
    IDENTITY_MERGE,
    IDENTITY_TRANSFER,
    INTERNAL_SOURCE,
    LEAD_FORM_DELETED,
    EngagementEvent,
    ErasureRequest,
    PersonMerged,
)
from peerscore.kafka_io import OutgoingRecord, record
from peerscore.scoring.domain.engine import Applied, Award
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.state import AccountState, PersonState
from peerscore.scoring.identity.dedup import SeenEvents, prune_seen
from peerscore.scoring.identity.erasure import (
    ErasureOrder,
    erase_keys,
    erasure_event,
    log_erasure,
    merged_into,
    tombstone_scores,
)
from peerscore.scoring.identity.merge import (
    MERGED_MARKER,
    MergeInstruction,
    SeenId,
    Transfer,
    instruction,
    merge_event,
    merge_marker,
    merges_for,
    transfer_event,
)
from peerscore.scoring.identity.models import IdentityLinkRow, SeenEventRow
from peerscore.scoring.identity.step import apply_step
from peerscore.scoring.models import AccountActivityRow, LedgerRow, PersonRow
from peerscore.topics import Topics

log = structlog.get_logger(__name__)

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


@dataclass
class IdentityBatch:
    config: PrivacyConfig
    topics: Topics
    metrics: IdentityMetrics
    now: datetime
    events: list[Message[EngagementEvent]]
    links: dict[str, IdentityLinkRow]
    seen: SeenEvents
    merging: dict[str, MergeInstruction] = field(default_factory=dict)
    early: list[OutgoingRecord] = field(default_factory=list)
    instructions: list[OutgoingRecord] = field(default_factory=list)
    forwards: list[OutgoingRecord] = field(default_factory=list)
    emitted: set[str] = field(default_factory=set)
    identities: dict[tuple[str | None, ...], list[MergeInstruction]] = field(default_factory=dict)
    """Merges each distinct set of identifiers implies, hashed once per batch (a visitor's events repeat it)."""

    # -- start of batch ------------------------------------------------------------------------------------

    @classmethod
    def begin(
        cls,
        session: Session,
        fresh: Sequence[Message[EngagementEvent]],
        *,
        config: PrivacyConfig,
        topics: Topics,
        metrics: IdentityMetrics,
        now: datetime,
    ) -> IdentityBatch:
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
        batch = cls(config, topics, metrics, now, events, {}, SeenEvents(config.dedup_window), early=early)
        candidates = {m.value.person_key for m in events}
        for m in events:
            candidates.update(merge.source_key for merge in batch._merges_for(m.value))
        batch.links = _load_links(session, candidates)
        pairs = [(m.value.person_key, m.value.event_id) for m in events if m.value.type != IDENTITY_MERGE]
        batch.seen = SeenEvents.load(session, pairs, config.dedup_window)
        return batch

    def account_keys(self) -> set[str]:
        """Accounts that transfers in this batch bring along (loaded with the batch's other accounts)."""
        keys: set[str] = set()
        for m in self.events:
            if m.value.type == IDENTITY_TRANSFER:
                account = m.value.properties.get("person", {}).get("account_key")
                if isinstance(account, str):
                    keys.add(account)
        return keys

    # -- per event -----------------------------------------------------------------------------------------

    def redirect(self, key: str) -> str | None:
        if key in self.merging:
            return self.merging[key].target_key
        link = self.links.get(key)
        return link.merged_into if link is not None else None

    def divert(self, m: Message[EngagementEvent]) -> str | None:
        """Why the event must not reach the fold (``None`` = apply it): forwarded, merge, duplicate."""
        event = m.value
        key = event.person_key
        if event.type == IDENTITY_MERGE:
            self._merge(MergeInstruction.model_validate(event.properties))
            return "merge"
        target = self.redirect(key)
        if target is not None:
            self._detect_merges(event)
            self.forwards.append(record(self.topics.events, target, event.model_copy(update={"person_key": target})))
            self.metrics.forwarded.inc()
            return "forwarded"
        if self.seen.is_duplicate(key, event.event_id, event.received_at):
            return "duplicate"
        return None

    def apply(
        self, person: PersonState, account: AccountState | None, event: EngagementEvent, ruleset: Ruleset
    ) -> Applied | None:
        """The fold step for one event (:func:`apply_step`, as replays use it); ``None`` when consent withholds it."""
        applied = apply_step(person, account, event, ruleset)
        if event.type == IDENTITY_TRANSFER:
            self.metrics.merges.labels(step="transfer_applied").inc()
        elif applied is None:
            self.metrics.withheld.inc()
        return applied

    def record(self, event: EngagementEvent) -> None:
        """After an event was applied: remember its id (and a transfer's ids), and merge what it links."""
        key = event.person_key
        self.seen.add(key, event.event_id, event.received_at)
        if event.type == IDENTITY_TRANSFER:
            for seen in Transfer.model_validate(event.properties).seen:
                self.seen.carry(key, seen.event_id, seen.seen_at)
            return
        self._detect_merges(event)

    @staticmethod
    def history(messages: Sequence[Message[EngagementEvent]]) -> list[Message[EngagementEvent]]:
        """What replays fold: buyer events, and each applied transfer as a compact marker (merge id and source
        key, at the transfer's place in the target's order) so a replay merges the source's own stream there."""
        return [
            replace(m, value=merge_marker(m.value)) if m.value.type == IDENTITY_TRANSFER else m
            for m in messages
            if m.value.type == IDENTITY_TRANSFER or not is_internal(m.value)
        ]

    # -- end of batch --------------------------------------------------------------------------------------

    def finish(self, session: Session) -> list[OutgoingRecord]:
        """Store seen ids, move merged keys out, and return the outputs in the order targets must see them."""
        self.seen.write(session)
        transfers = self._move_out(session)
        return [*self.early, *self.instructions, *transfers, *self.forwards]

    def prune(self, session: Session) -> int:
        return prune_seen(session, self.now - self.config.dedup_window)

    # -- internals -----------------------------------------------------------------------------------------

    def _merges_for(self, event: EngagementEvent) -> list[MergeInstruction]:
        if self.config.secret is None or is_internal(event):
            return []
        ids = event.person
        previous = event.properties.get("previous_id") if event.type == "alias" else None
        identity = (
            event.person_key,
            ids.user_id,
            ids.email,
            ids.linkedin_member_urn,
            ids.anonymous_id,
            previous if isinstance(previous, str) else None,
        )
        found = self.identities.get(identity)
        if found is None:
            found = self.identities[identity] = merges_for(event, self.config.secret)
        return found

    def _detect_merges(self, event: EngagementEvent) -> None:
        for merge in self._merges_for(event):
            link = self.links.get(merge.source_key)
            if (link is not None and link.merged_into == merge.target_key) or merge.merge_id in self.emitted:
                continue
            self.emitted.add(merge.merge_id)
            self.instructions.append(
                record(self.topics.events, merge.source_key, merge_event(merge, event.occurred_at, self.now))
            )
            self.metrics.merges.labels(step="instruction").inc()

    def _merge(self, merge: MergeInstruction) -> None:
        """At the source key's worker: merge it now, or, if it already went elsewhere, merge the two targets."""
        source = merge.source_key
        current = self.merging.get(source)
        link = self.links.get(source)
        if current is None and link is None:
            self.merging[source] = merge
            return
        target, rank = (current.target_key, current.target_rank) if current else (link.merged_into, link.target_rank)  # type: ignore[union-attr]
        if target == merge.target_key:
            return  # repeated: already done
        onward = instruction((rank, target), (merge.target_rank, merge.target_key))
        if onward.merge_id not in self.emitted:
            self.emitted.add(onward.merge_id)
            self.instructions.append(record(self.topics.events, onward.source_key, merge_event(onward, self.now)))

    def _move_out(self, session: Session) -> list[OutgoingRecord]:
        """Every key this batch merged away: read its state, ledger and seen ids, delete them, leave a redirect,
        and build the transfers — one query per table for all of them."""
        if not self.merging:
            return []
        sources = sorted(self.merging)
        states = dict(
            session.exec(
                select(PersonRow.person_key, PersonRow.state).where(col(PersonRow.person_key).in_(sources))
            ).all()
        )
        moved = sorted(states)
        ledgers: dict[str, list[Award]] = defaultdict(list)
        seen: dict[str, list[SeenId]] = defaultdict(list)
        if moved:
            rows = session.exec(
                select(LedgerRow).where(col(LedgerRow.person_key).in_(moved)).order_by(col(LedgerRow.id))
            ).all()
            for row in rows:
                ledgers[row.person_key].append(Award.model_validate(row, from_attributes=True))
            for key, event_id, at in session.exec(
                select(SeenEventRow.person_key, SeenEventRow.event_id, SeenEventRow.seen_at).where(
                    col(SeenEventRow.person_key).in_(moved)
                )
            ).all():
                seen[key].append(SeenId(event_id=event_id, seen_at=at))
            for table, column in (
                (PersonRow, PersonRow.person_key),
                (LedgerRow, LedgerRow.person_key),
                (SeenEventRow, SeenEventRow.person_key),
                (AccountActivityRow, AccountActivityRow.person_key),
            ):
                session.execute(delete(table).where(col(column).in_(moved)))
        session.execute(
            insert(IdentityLinkRow.__table__),  # type: ignore[attr-defined]
            [
                {
                    "person_key": source,
                    "merged_into": self.merging[source].target_key,
                    "target_rank": self.merging[source].target_rank,
                    "merge_id": self.merging[source].merge_id,
                    "merged_at": self.now,
                }
                for source in sources
            ],
        )
        self.metrics.merges.labels(step="moved_out").inc(len(sources))
        transfers: list[OutgoingRecord] = []
        for source in sources:  # in key order: deterministic output order
            if source not in states:
                continue  # the key never scored anything: the redirect is all there is to record
            merge = self.merging[source]
            person = PersonState.model_validate(states[source])
            transfer = Transfer(
                merge_id=merge.merge_id, source_key=source, person=person, ledger=ledgers[source], seen=seen[source]
            )
            at = person.last_event_at or self.now
            transfers.append(
                record(self.topics.events, merge.target_key, transfer_event(transfer, merge.target_key, at, self.now))
            )
            # crm-sync makes the two people's CRM records one (keys only, see PersonMerged).
            notice = PersonMerged(
                merge_id=merge.merge_id, source_key=source, target_key=merge.target_key, merged_at=self.now
            )
            transfers.append(record(self.topics.merges, merge.target_key, notice))
        return transfers


def as_erasure(m: Message[EngagementEvent]) -> Message[EngagementEvent]:
    """A LinkedIn lead deletion (``leadAction: DELETED``) as an erasure of the person it is keyed by.

    LinkedIn sends it when the member asks for their lead data to be removed. The form's answers are folded into
    the person (traits, points, account) and cannot be told apart from the rest afterwards, so the whole person
    is erased, logged like ``DELETE /v1/people/{email}`` and passed on to crm-sync.
    """
    order = ErasureOrder(request_id=m.value.event_id, requested_at=m.value.received_at, keys=[m.value.person_key])
    return replace(m, value=erasure_event(m.value.person_key, order))


def _load_links(session: Session, keys: set[str]) -> dict[str, IdentityLinkRow]:
    if not keys:
        return {}
    rows = session.exec(select(IdentityLinkRow).where(col(IdentityLinkRow.person_key).in_(sorted(keys)))).all()
    return {r.person_key: r for r in rows}


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
