"""The end-of-batch half of a merge at the source key's worker: move every merged-away key out.

Each key the batch merged away has its state, ledger and seen ids read and deleted, a redirect left in its
place, and a transfer record (plus a :class:`PersonMerged` notice for crm-sync) built for the target key — one
query per table for all of them, in the batch's transaction, so a merge happens exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from peerscore.events import PersonMerged
from peerscore.kafka_io import OutgoingRecord, record
from peerscore.scoring.domain.engine import Award
from peerscore.scoring.domain.state import PersonState
from peerscore.scoring.identity.config import IdentityMetrics
from peerscore.scoring.identity.merge import MergeInstruction, SeenId, Transfer, transfer_event
from peerscore.scoring.identity.models import IdentityLinkRow, SeenEventRow
from peerscore.scoring.models import AccountActivityRow, LedgerRow, PersonRow
from peerscore.topics import Topics


def move_out(
    session: Session,
    merging: Mapping[str, MergeInstruction],
    *,
    topics: Topics,
    metrics: IdentityMetrics,
    now: datetime,
) -> list[OutgoingRecord]:
    """Move every key in ``merging`` out and return the transfers (in key order: deterministic outputs)."""
    if not merging:
        return []
    sources = sorted(merging)
    states = dict(
        session.exec(select(PersonRow.person_key, PersonRow.state).where(col(PersonRow.person_key).in_(sources))).all()
    )
    moved = sorted(states)
    ledgers, seen = _read_and_delete(session, moved)
    session.execute(
        insert(IdentityLinkRow.__table__),  # type: ignore[attr-defined]
        [
            {
                "person_key": source,
                "merged_into": merging[source].target_key,
                "target_rank": merging[source].target_rank,
                "merge_id": merging[source].merge_id,
                "merged_at": now,
            }
            for source in sources
        ],
    )
    metrics.merges.labels(step="moved_out").inc(len(sources))
    transfers: list[OutgoingRecord] = []
    for source in sources:
        if source not in states:
            continue  # the key never scored anything: the redirect is all there is to record
        merge = merging[source]
        person = PersonState.model_validate(states[source])
        transfer = Transfer(
            merge_id=merge.merge_id, source_key=source, person=person, ledger=ledgers[source], seen=seen[source]
        )
        at = person.last_event_at or now
        transfers.append(record(topics.events, merge.target_key, transfer_event(transfer, merge.target_key, at, now)))
        # crm-sync makes the two people's CRM records one (keys only, see PersonMerged).
        notice = PersonMerged(merge_id=merge.merge_id, source_key=source, target_key=merge.target_key, merged_at=now)
        transfers.append(record(topics.merges, merge.target_key, notice))
    return transfers


def _read_and_delete(
    session: Session, moved: list[str]
) -> tuple[defaultdict[str, list[Award]], defaultdict[str, list[SeenId]]]:
    """The moved keys' ledgers and seen ids, read before every row of theirs is deleted."""
    ledgers: defaultdict[str, list[Award]] = defaultdict(list)
    seen: defaultdict[str, list[SeenId]] = defaultdict(list)
    if not moved:
        return ledgers, seen
    rows = session.exec(select(LedgerRow).where(col(LedgerRow.person_key).in_(moved)).order_by(col(LedgerRow.id))).all()
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
    return ledgers, seen
