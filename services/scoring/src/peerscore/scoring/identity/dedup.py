"""Durable event deduplication: an event id applied to a person is applied once within the dedup window.

Sources redeliver (Segment SDK retries reuse ``messageId``, LinkedIn sends a notification more than once), days
apart and after restarts or rebalances, so the person state's short list of recent ids is not enough. The
worker loads the seen ids of a whole batch in one query, checks every event against them (and against the ids
applied earlier in the same batch), and writes the new ones in the batch's transaction: the decision is
exactly-once like the state it protects. Rows older than the window are pruned now and then; whether a copy is
a duplicate is decided from the stored first-seen time, so pruning early or late never changes a result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from peerscore.db import upsert
from peerscore.scoring.identity.models import SeenEventRow

_LOAD_CHUNK = 5000


@dataclass
class SeenEvents:
    """The seen ids a batch can collide with, plus the ones it adds (written by :meth:`write`)."""

    window: timedelta
    known: dict[tuple[str, str], datetime] = field(default_factory=dict)
    added: dict[tuple[str, str], datetime] = field(default_factory=dict)
    carried: dict[tuple[str, str], datetime] = field(default_factory=dict)
    """Ids a merge brought along: the target may hold some already (never loaded), so they never overwrite."""

    @classmethod
    def load(cls, session: Session, pairs: Iterable[tuple[str, str]], window: timedelta) -> SeenEvents:
        wanted = set(pairs)
        ids = sorted({event_id for _, event_id in wanted})
        known: dict[tuple[str, str], datetime] = {}
        for start in range(0, len(ids), _LOAD_CHUNK):
            rows = session.exec(
                select(SeenEventRow.person_key, SeenEventRow.event_id, SeenEventRow.seen_at).where(
                    col(SeenEventRow.event_id).in_(ids[start : start + _LOAD_CHUNK])
                )
            ).all()
            known.update({(k, e): at for k, e, at in rows if (k, e) in wanted})
        return cls(window=window, known=known)

    def is_duplicate(self, person_key: str, event_id: str, at: datetime) -> bool:
        """Whether this id was applied to the person within the window of ``at`` (the copy's receive time)."""
        pair = (person_key, event_id)
        first = self.added.get(pair) or self.carried.get(pair) or self.known.get(pair)
        return first is not None and abs(at - first) <= self.window

    def add(self, person_key: str, event_id: str, at: datetime) -> None:
        self.added[(person_key, event_id)] = at

    def carry(self, person_key: str, event_id: str, at: datetime) -> None:
        if (person_key, event_id) not in self.added:
            self.carried[(person_key, event_id)] = at

    def write(self, session: Session) -> None:
        """Plain inserts for ids never seen (the common case, cheaper than an upsert); an upsert moves the
        first-seen time of ids seen again after their window. A transfer's ids may already be known: kept."""
        rows = [{"event_id": e, "person_key": k, "seen_at": at} for (k, e), at in sorted(self.added.items())]
        new = [r for r in rows if (r["person_key"], r["event_id"]) not in self.known]
        again = [r for r in rows if (r["person_key"], r["event_id"]) in self.known]
        if new:
            session.execute(insert(SeenEventRow.__table__), new)  # type: ignore[attr-defined]
        upsert(session, SeenEventRow, again, keys=("event_id", "person_key"))
        carried = [{"event_id": e, "person_key": k, "seen_at": at} for (k, e), at in sorted(self.carried.items())]
        upsert(session, SeenEventRow, carried, keys=("event_id", "person_key"), update=())


def prune_seen(session: Session, older_than: datetime) -> int:
    """Forget ids first seen before ``older_than`` (now minus the window); returns how many rows went."""
    result = session.execute(delete(SeenEventRow).where(col(SeenEventRow.seen_at) < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
