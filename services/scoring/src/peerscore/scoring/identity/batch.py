"""The worker side of identity, dedup, consent and erasure for one polled batch, inside its transaction.

The scoring handler calls, in order: :meth:`IdentityBatch.begin` (erasures first, then one query each for the
batch's redirects and seen event ids), :meth:`divert` for every event (duplicates, events of merged keys and
merge instructions never reach the fold), :meth:`apply` instead of ``apply_event`` (transfers and consent),
:meth:`record` after an event was applied, and :meth:`finish` after the states and ledger are written: it
stores the seen ids, turns this batch's merge instructions into transfer records and returns every output in
the order the targets must see them (transfers before the events forwarded after them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session

from peerscore.consumer import Message
from peerscore.events import IDENTITY_MERGE, IDENTITY_TRANSFER, EngagementEvent
from peerscore.kafka_io import OutgoingRecord, record
from peerscore.scoring.domain.engine import Applied
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.state import AccountState, PersonState
from peerscore.scoring.identity.config import IdentityMetrics, PrivacyConfig, is_internal, validate_internal
from peerscore.scoring.identity.dedup import SeenEvents, prune_seen
from peerscore.scoring.identity.erase_step import erasures_first
from peerscore.scoring.identity.merge import (
    MergeInstruction,
    Transfer,
    instruction,
    merge_event,
    merge_marker,
    merges_for,
)
from peerscore.scoring.identity.models import IdentityLinkRow
from peerscore.scoring.identity.move_out import move_out
from peerscore.scoring.identity.step import apply_step
from peerscore.topics import Topics

__all__ = ["IdentityBatch", "IdentityMetrics", "PrivacyConfig", "is_internal", "validate_internal"]
"""Re-exported: the worker, the app and tests import the configuration and the internal-event check from here."""


@dataclass
class IdentityBatch:
    config: PrivacyConfig
    topics: Topics
    metrics: IdentityMetrics
    now: datetime
    events: list[Message[EngagementEvent]]
    links: dict[str, Link]
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
        events, early = erasures_first(session, fresh, topics, metrics, now)
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
        transfers = move_out(session, self.merging, topics=self.topics, metrics=self.metrics, now=self.now)
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


class Link(NamedTuple):
    """Where a merged key's events go now (a plain row: read once per batch, never written back)."""

    merged_into: str
    target_rank: int


_LINKS = IdentityLinkRow.__table__  # type: ignore[attr-defined]
_LOAD_LINKS = sa_select(_LINKS.c.person_key, _LINKS.c.merged_into, _LINKS.c.target_rank).where(
    _LINKS.c.person_key.in_(bindparam("keys", expanding=True))
)
"""Built once: most batches find no link, and building the select would cost more than running it."""


def _load_links(session: Session, keys: set[str]) -> dict[str, Link]:
    if not keys:
        return {}
    rows = session.connection().execute(_LOAD_LINKS, {"keys": sorted(keys)})
    return {r.person_key: Link(r.merged_into, r.target_rank) for r in rows}
