"""Replaying one canonical person's stored history with the live step (:func:`.step.apply_step`). Pure.

History keeps every row under the key it was applied with: a key merged away keeps its own stream, and the key it
was merged into has a marker row where the transfer was applied. A :class:`PersonHistory` holds all the streams of
one canonical person (the readers group them through ``identity_link``); replaying the canonical stream folds a
merged key's stream when its marker comes, under the ruleset being replayed, and merges it exactly as the worker
did. Chains need nothing special: a merged key's stream has markers of its own.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from peerscore.events import EngagementEvent
from peerscore.scoring.domain.engine import Applied
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.state import PersonState, new_person
from peerscore.scoring.identity.merge import MERGED_MARKER, MergeMarker, internal_event, merge_id
from peerscore.scoring.identity.step import apply_step


@dataclass(frozen=True)
class PersonHistory:
    """A canonical person's stream (``streams[key]``) and those of the keys merged into it, each in applied order."""

    key: str
    streams: Mapping[str, Sequence[EngagementEvent]] = field(default_factory=dict)
    added: int = 0
    """Markers :func:`complete_markers` added (not stored rows, so not counted as events)."""

    @classmethod
    def single(cls, key: str, events: Sequence[EngagementEvent]) -> PersonHistory:
        return cls(key, {key: events})

    def stream(self, key: str) -> Sequence[EngagementEvent]:
        return self.streams.get(key, ())

    @property
    def events(self) -> int:
        return sum(len(s) for s in self.streams.values()) - self.added


def marker_source(event: EngagementEvent) -> MergeMarker:
    return MergeMarker.model_validate(event.properties)


def complete_markers(history: PersonHistory, links: Mapping[str, str]) -> PersonHistory:
    """Add the markers a history written before markers existed lacks (or one written by a generator that only
    stores links): a merged key no marker names is merged into the key it links to, before that key's first
    event dated after the merged key's last one (identifying after browsing, as it happens live)."""
    named = {marker_source(e).source_key for s in history.streams.values() for e in s if e.type == MERGED_MARKER}
    missing = sorted(k for k, s in history.streams.items() if k != history.key and k not in named and s)
    if not missing:
        return history
    streams = {k: list(s) for k, s in history.streams.items()}
    for source in missing:
        target = links.get(source, history.key)
        target = target if target in streams or target == history.key else history.key
        at = max(e.occurred_at for e in streams[source])
        mid = merge_id(source, target)
        marker = internal_event(
            MERGED_MARKER, target, f"transfer:{mid}", at, MergeMarker(merge_id=mid, source_key=source)
        )
        into = streams.setdefault(target, [])
        into.insert(bisect_right([e.occurred_at for e in into], at), marker)
    return PersonHistory(history.key, streams, history.added + len(missing))


def replay_steps(
    history: PersonHistory, ruleset: Ruleset, key: str | None = None, *, folding: frozenset[str] = frozenset()
) -> Iterator[tuple[EngagementEvent, Applied | None]]:
    """Each row of ``key``'s stream (the canonical one by default) with what :func:`apply_step` made of it
    (``None``: withheld), merged keys folded in at their markers; the state before a row is the previous
    ``Applied.person`` that was neither ``None`` nor a duplicate."""
    key = key or history.key
    person = new_person(key)
    for event in history.stream(key):
        transfer = None
        if event.type == MERGED_MARKER:
            marker = marker_source(event)
            source = new_person(marker.source_key)
            if marker.source_key not in folding:  # a loop cannot be written live; it merges nothing
                source = replay(history, ruleset, marker.source_key, folding=folding | {key})
            transfer = marker.transfer(source)
        applied = apply_step(person, None, event, ruleset, transfer)
        if applied is not None and not applied.duplicate:
            person = applied.person
        yield event, applied


def replay(
    history: PersonHistory, ruleset: Ruleset, key: str | None = None, *, folding: frozenset[str] = frozenset()
) -> PersonState:
    """The state the worker holds for ``key`` (the canonical key by default) after its history."""
    person = new_person(key or history.key)
    for _, applied in replay_steps(history, ruleset, key, folding=folding):
        if applied is not None and not applied.duplicate:
            person = applied.person
    return person
