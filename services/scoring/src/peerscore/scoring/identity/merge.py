"""Pure identity merges: the instruction, the transfer record, and folding one person's state into another's.

Determinism rules:

* A merge always goes from the weaker to the stronger ``(rank, key)`` (ranks: user id > email > LinkedIn
  member > anonymous id; keys break ties). It is a total order, so chains (a→b, b→c) end and never loop, and
  two workers that learn about the same people in a different order still converge on the same final key.
* ``merge_id`` is a hash of ``(source, target)``: repeating a merge repeats the id, so it is applied once.
* :func:`merge_people` keeps "ledger = score": the transferred ledger rows plus the correction rows it returns
  add up to the merged state's points (per-rule caps and once-only rules are re-applied; fit is recomputed
  from the merged profile, each fit rule counted once).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from peerscore.events import (
    IDENTITY_MERGE,
    IDENTITY_TRANSFER,
    INTERNAL_SOURCE,
    AwareDatetime,
    EngagementEvent,
    PersonIdentifiers,
)
from peerscore.identity import identifier_keys
from peerscore.scoring.domain.engine import Applied, Award
from peerscore.scoring.domain.lines import LineMoves, decide_lines
from peerscore.scoring.domain.policy import Transition
from peerscore.scoring.domain.ruleset import FIT, Rule, Ruleset
from peerscore.scoring.domain.scorecard import compute_scorecard, matched_fit_rules
from peerscore.scoring.domain.state import (
    RECENT_EVENT_IDS,
    RECENT_OCCURRENCES,
    AccountState,
    PersonState,
    RuleTally,
    merged_traits,
)
from peerscore.scoring.identity.consent import withheld_score

_EPSILON = 1e-9

MERGED_MARKER = "system.identity.merged"
"""The history row a transfer leaves in the target's stream (never on Kafka): which key was folded in, and where
in the target's order. Replays fold that key's own stream and merge it here, as the worker did."""


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MergeInstruction(_Payload):
    """Move ``source_key`` into ``target_key`` (published keyed by the source)."""

    merge_id: str
    source_key: str
    source_rank: int
    target_key: str
    target_rank: int


class SeenId(_Payload):
    event_id: str
    seen_at: AwareDatetime


class Transfer(_Payload):
    """Everything the source key held, for the target's worker to fold in once (published keyed by the target)."""

    merge_id: str
    source_key: str
    person: PersonState
    ledger: list[Award] = Field(default_factory=list)
    seen: list[SeenId] = Field(default_factory=list)


class MergeMarker(_Payload):
    """A transfer as history keeps it: the merge and the source key, not the state (a replay rebuilds that
    from the source's own stream, under whatever ruleset it replays)."""

    merge_id: str
    source_key: str

    def transfer(self, source: PersonState) -> Transfer:
        """The transfer the worker applied here, with ``source`` as a replay rebuilt it (no ledger: a replay
        keeps none, and dedup ids are in the state)."""
        return Transfer(merge_id=self.merge_id, source_key=self.source_key, person=source)


def merge_marker(transfer: EngagementEvent) -> EngagementEvent:
    """The compact history row of an applied transfer event, with the transfer's event id and time."""
    payload = Transfer.model_validate(transfer.properties)
    marker = MergeMarker(merge_id=payload.merge_id, source_key=payload.source_key)
    return internal_event(
        MERGED_MARKER, transfer.person_key, transfer.event_id, transfer.occurred_at, marker, transfer.received_at
    )


def precedes(a: tuple[int, str], b: tuple[int, str]) -> bool:
    """Whether ``a`` must merge into ``b``: the weaker ``(rank, key)`` always moves into the stronger."""
    return a < b


def merge_id(source_key: str, target_key: str) -> str:
    return hashlib.sha256(f"{source_key}>{target_key}".encode()).hexdigest()[:32]


def instruction(source: tuple[int, str], target: tuple[int, str]) -> MergeInstruction:
    """The instruction merging two ranked keys, oriented by :func:`precedes` whatever order they come in."""
    if source == target:
        raise ValueError("a key cannot merge into itself")
    low, high = (source, target) if precedes(source, target) else (target, source)
    return MergeInstruction(
        merge_id=merge_id(low[1], high[1]),
        source_key=low[1],
        source_rank=low[0],
        target_key=high[1],
        target_rank=high[0],
    )


def merges_for(event: EngagementEvent, secret: bytes) -> list[MergeInstruction]:
    """What an event's identifiers say: every weaker identifier's key belongs to the event's canonical key.

    Only events still under their canonical key say it (a forwarded copy would repeat it at every hop).
    """
    ids = event.person
    previous = event.properties.get("previous_id") if event.type == "alias" else None
    if not isinstance(previous, str) or not previous:
        previous = None
        if sum(v is not None for v in (ids.user_id, ids.email, ids.anonymous_id, ids.linkedin_member_urn)) < 2:
            return []
    ranked = identifier_keys(ids, secret)
    canonical = ranked[0]
    if canonical[1] != event.person_key:
        return []
    others = ranked[1:]
    if previous is not None:
        # Segment alias: ``previousId`` is the anonymous id or the user id the person was known by before.
        others += identifier_keys(PersonIdentifiers(user_id=previous, anonymous_id=previous), secret)
    return [instruction(other, canonical) for other in dict.fromkeys(others) if other[1] != canonical[1]]


def internal_event(
    event_type: str, key: str, event_id: str, at: datetime, payload: _Payload, received_at: datetime | None = None
) -> EngagementEvent:
    """``received_at`` is when the worker wrote it (its dedup window starts then); ``at`` the person's time."""
    return EngagementEvent(
        event_id=event_id,
        type=event_type,
        source=INTERNAL_SOURCE,
        person_key=key,
        occurred_at=at,
        received_at=received_at or at,
        properties=payload.model_dump(mode="json"),
    )


def merge_event(merge: MergeInstruction, at: datetime, received_at: datetime | None = None) -> EngagementEvent:
    return internal_event(IDENTITY_MERGE, merge.source_key, f"merge:{merge.merge_id}", at, merge, received_at)


def transfer_event(
    transfer: Transfer, target_key: str, at: datetime, received_at: datetime | None = None
) -> EngagementEvent:
    event_id = f"transfer:{transfer.merge_id}"
    return internal_event(IDENTITY_TRANSFER, target_key, event_id, at, transfer, received_at)


def _merge_tally(
    rule: Rule | None, half_life: float | None, mine: RuleTally | None, theirs: RuleTally | None, at: datetime
) -> tuple[RuleTally, float]:
    """Both tallies decayed to ``at`` and added, then the rule's limits re-applied: returns the tally and the
    points taken away to respect them (as worth at ``at``)."""
    a = mine or RuleTally()
    b = theirs or RuleTally()
    va, vb = a.value_at(at, half_life), b.value_at(at, half_life)
    value = va + vb
    kept = value
    if rule is not None:
        if not rule.repeatable and a.count and b.count:
            kept = max(va, vb, key=abs)  # a once-only rule counts once for one person
        if rule.cap is not None:
            kept = max(min(kept, rule.cap), -rule.cap)
    recent = sorted([*a.recent, *b.recent])[-RECENT_OCCURRENCES:]
    tally = RuleTally(value=kept, as_of=at, count=a.count + b.count, recent=recent)
    return tally, value - kept


def _fit_points(person: PersonState, ruleset: Ruleset, at: datetime) -> dict[str, float]:
    if person.version < 1:
        return {}
    return {rule.id: rule.points for rule in matched_fit_rules(person, ruleset, at)}


def merge_people(
    target: PersonState, source: PersonState, ruleset: Ruleset, merge: str
) -> tuple[PersonState, list[Award]]:
    """Fold ``source`` into ``target`` (the surviving key): the merged state and the ledger corrections.

    The target's profile wins where both know a value (it is the stronger identity); the source fills gaps.
    Activity tallies are added at the later of the two persons' times; consent is the cautious one (opted out
    if either was). ``version`` counts both persons' events plus the merge, so it keeps growing for the target.
    """
    times = [t for t in (target.last_event_at, source.last_event_at) if t is not None]
    if source.version < 1 or not times:
        return target, []
    at = max(times)
    keep_target_company = target.account_key is not None
    seen = set(target.recent_event_ids)
    merged = target.model_copy(
        update={
            "version": target.version + source.version + 1,
            "email": target.email or source.email,
            "traits": merged_traits(source.traits, target.traits),
            "account_key": target.account_key if keep_target_company else source.account_key,
            "company": target.company if keep_target_company else source.company,
            "last_event_at": at,
            "recent_event_ids": [
                *target.recent_event_ids,
                *(e for e in source.recent_event_ids if e not in seen),
                f"transfer:{merge}",
            ][-RECENT_EVENT_IDS:],
            "opted_out": target.opted_out or source.opted_out,
            "signals": target.signals.merge(source.signals),
        }
    )
    rules = {rule.id: rule for rule in ruleset.all_rules()}
    tallies: dict[str, RuleTally] = {}
    corrections: list[Award] = []
    for rule_id in sorted(set(target.rules) | set(source.rules)):
        rule = rules.get(rule_id)
        half_life = ruleset.groups[rule.group].half_life_days if rule is not None else None
        tallies[rule_id], taken = _merge_tally(
            rule, half_life, target.rules.get(rule_id), source.rules.get(rule_id), at
        )
        if rule is not None and abs(taken) > _EPSILON:
            corrections.append(_award(rule.id, rule.group, -taken, merge, at, ruleset))
    merged = merged.model_copy(update={"rules": tallies})
    # Fit: each side's ledger holds +points for the fit rules that held for it; the merged profile decides.
    held_target, held_source = _fit_points(target, ruleset, at), _fit_points(source, ruleset, at)
    held_now = _fit_points(merged, ruleset, at)
    for rule_id in sorted(set(held_target) | set(held_source) | set(held_now)):
        diff = held_now.get(rule_id, 0.0) - held_target.get(rule_id, 0.0) - held_source.get(rule_id, 0.0)
        if abs(diff) > _EPSILON:
            corrections.append(_award(rule_id, FIT, diff, merge, at, ruleset))
    return merged, corrections


def _award(rule_id: str, group: str, points: float, merge: str, at: datetime, ruleset: Ruleset) -> Award:
    return Award(
        rule_id=rule_id,
        group=group,
        points=points,
        event_id=f"merge:{merge}",
        occurred_at=at,
        ruleset_version=ruleset.version,
    )


def apply_transfer(person: PersonState, account: AccountState | None, transfer: Transfer, ruleset: Ruleset) -> Applied:
    """The target side of a merge, shaped like :func:`apply_event`'s result so the worker stores it the same way:
    the source's ledger rows move over with the corrections, and qualification is decided on the merged score.
    """
    if f"transfer:{transfer.merge_id}" in person.recent_event_ids:  # a redelivered transfer: applied already
        return Applied(person=person, account=account, awards=[], score=None, transition=None, duplicate=True)
    merged, corrections = merge_people(person, transfer.person, ruleset, transfer.merge_id)
    if merged is person:  # the source had never applied an event: nothing to fold in, nothing to store
        return Applied(person=person, account=account, awards=[], score=None, transition=None, duplicate=True)
    at = merged.last_event_at
    assert at is not None  # merge_people returns the target unchanged when neither side has a time
    awards = [*transfer.ledger, *corrections]
    if merged.opted_out:
        recycled: Transition | None = "recycled" if merged.qualified else None
        merged = merged.model_copy(update={"qualified": False, "qualified_lines": []})
        withheld = withheld_score(merged, ruleset, at)
        return Applied(
            person=merged, account=account, awards=awards, score=withheld, transition=recycled, duplicate=False
        )
    card = compute_scorecard(merged, ruleset, at)
    transition = ruleset.qualification.decide(merged.qualified, card.grade, card.activity)
    if transition is not None:
        merged = merged.model_copy(update={"qualified": transition == "qualified"})
    moves: LineMoves = ()
    if ruleset.product_lines:
        lines, moves = decide_lines(ruleset.index().lines, card.groups, tuple(merged.qualified_lines))
        merged = merged.model_copy(update={"qualified_lines": list(lines)})
    if account is not None and account.account_key == merged.account_key and transfer.person.last_event_at:
        account = account.with_activity(merged.person_key, transfer.person.last_event_at)
    # The score is built from ``card`` when read (the worker reads one per batch; replays only the total).
    return Applied(
        person=merged,
        account=account,
        awards=awards,
        transition=transition,
        duplicate=False,
        card=card,
        as_of=at,
        ruleset=ruleset,
        line_transitions=moves,
    )
