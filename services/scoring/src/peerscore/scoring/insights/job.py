"""The influence job: fold new history into per-person touch summaries, then recount the report from them.

Bounded and incremental. History is read in ``event_history.id`` order from the stored watermark, ``chunk`` rows
at a time; each chunk's touches are appended to their people's rows and the watermark moved **in one
transaction**, so a crash re-reads at most one chunk and never counts an event twice. The report is then
recounted from the per-person summaries (one row per person, not per event) with the identity links and the
outcomes and MQL times as they are now: a late outcome or merge changes the next report without re-reading
history. The API and the console only read the snapshot this writes.

Ids are read up to the greatest id at the start of a run. On PostgreSQL a worker transaction still open at that
moment may commit a smaller id afterwards, which the watermark has passed: such events are missed until a
``rebuild`` (``peerscore insights build --rebuild``) folds everything again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlmodel import Session, col

from peerscore.db import upsert
from peerscore.events import utcnow
from peerscore.scoring.domain.attribution import Influence, influence, report_rows
from peerscore.scoring.domain.influence import Touch, touch_of
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.identity.canonical import canonical_keys, load_links
from peerscore.scoring.insights.models import InfluencePersonRow, InfluenceSnapshotRow, MqlMilestoneRow
from peerscore.scoring.outcomes.store import load_outcomes

REPORT = "content"
WINDOWS: dict[str, int | None] = {"all": None, "90d": 90, "30d": 30}
"""Report windows: days back from the newest touch (None: everything stored)."""
CHUNK = 20_000
OPPORTUNITY_KINDS = ("opportunity_created", "won")


@dataclass(frozen=True)
class BuildResult:
    events_read: int
    people: int
    watermark: int
    seconds: float


def _state(session: Session) -> InfluenceSnapshotRow | None:
    return session.get(InfluenceSnapshotRow, REPORT)


def _chunks(engine: Engine, after: int, upto: int, chunk: int) -> Iterator[list[tuple[int, str, str]]]:
    table = EventHistoryRow.__table__  # type: ignore[attr-defined]
    while after < upto:
        query = (
            select(table.c.id, table.c.person_key, table.c.event)
            .where(table.c.id > after, table.c.id <= upto)
            .order_by(table.c.id)
            .limit(chunk)
        )
        with engine.connect() as conn:
            rows = [(int(i), str(k), str(e)) for i, k, e in conn.execute(query)]
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _fold_chunk(session: Session, rows: Sequence[tuple[int, str, str]]) -> None:
    """Append the chunk's touches to their people's rows (one read, one upsert)."""
    new: dict[str, list[list[Any]]] = {}
    for _, key, text in rows:
        touch = touch_of(json.loads(text))
        if touch is not None:
            new.setdefault(key, []).append(list(touch))
    if not new:
        return
    stored = session.exec(
        select(InfluencePersonRow.person_key, InfluencePersonRow.touches).where(  # type: ignore[call-overload]
            col(InfluencePersonRow.person_key).in_(sorted(new))
        )
    ).all()
    for key, touches in stored:
        new[key] = [*touches, *new[key]]
    upsert(
        session,
        InfluencePersonRow,
        [{"person_key": k, "touches": v} for k, v in sorted(new.items())],
        keys=("person_key",),
    )


def fold_history(engine: Engine, *, chunk: int = CHUNK) -> tuple[int, int]:
    """Fold every history row past the watermark; returns (events read, new watermark)."""
    table = EventHistoryRow.__table__  # type: ignore[attr-defined]
    with Session(engine) as session:
        state = _state(session)
        watermark = state.watermark if state is not None else 0
        upto = session.execute(select(func.max(table.c.id))).scalar() or 0
    read = 0
    for rows in _chunks(engine, watermark, upto, chunk):
        with Session(engine) as session:
            _fold_chunk(session, rows)
            watermark = rows[-1][0]
            _save(session, watermark, None)
            session.commit()
        read += len(rows)
    return read, watermark


def _save(session: Session, watermark: int, report: dict[str, Any] | None) -> None:
    state = _state(session)
    if state is None:
        state = InfluenceSnapshotRow(name=REPORT, watermark=watermark, built_at=utcnow(), report=report or {})
    else:
        state.watermark = watermark
        if report is not None:
            state.report = report
            state.built_at = utcnow()
    session.add(state)


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def conversions(session: Session) -> dict[str, dict[str, int]]:
    """Each canonical person's first MQL, opportunity and win (epoch seconds)."""
    firsts: dict[str, dict[str, int]] = {}

    def note(key: str, metric: str, at: int) -> None:
        times = firsts.setdefault(key, {})
        times[metric] = min(times.get(metric, at), at)

    for key, kind, at in load_outcomes(session):
        if kind in OPPORTUNITY_KINDS:
            note(key, "opportunity", _epoch(at))
        if kind == "won":
            note(key, "won", _epoch(at))
    mqls = session.exec(select(MqlMilestoneRow.person_key, MqlMilestoneRow.qualified_at)).all()  # type: ignore[call-overload]
    canonical = canonical_keys({k for k, _ in mqls}, load_links(session))
    for key, at in mqls:
        note(canonical[key], "mql", _epoch(at))
    return firsts


def people_touches(session: Session) -> dict[str, list[Touch]]:
    """Every canonical person's touches in time order (keys merged into one person are joined)."""
    rows = session.exec(select(InfluencePersonRow.person_key, InfluencePersonRow.touches)).all()  # type: ignore[call-overload]
    canonical = canonical_keys({k for k, _ in rows}, load_links(session))
    intern = sys.intern
    people: dict[str, list[Touch]] = {}
    for key, touches in rows:
        people.setdefault(canonical[key], []).extend(
            Touch._make([t[0], *(intern(v) for v in t[1:7]), t[7]]) for t in touches
        )
    for touches in people.values():
        touches.sort()
    return people


def window_report(result: Influence, since: int | None) -> dict[str, Any]:
    return {"since": since, "people": result.people, "converted": result.converted, "rows": report_rows(result)}


def compute_report(session: Session, windows: dict[str, int | None] = WINDOWS) -> dict[str, Any]:
    """The report of every window from the stored summaries, outcomes and MQL times."""
    people = people_touches(session)
    converted = conversions(session)
    as_of = max((t[-1].at for t in people.values() if t), default=None)
    report: dict[str, Any] = {"as_of": as_of, "windows": {}}
    for name, days in windows.items():
        since = None if days is None or as_of is None else as_of - int(timedelta(days=days).total_seconds())
        pairs = ((touches, converted.get(key, {})) for key, touches in people.items())
        report["windows"][name] = window_report(influence(pairs, since=since), since)
    report["people"] = len(people)
    return report


def reset(engine: Engine) -> None:
    """Forget the summaries and the watermark: the next build folds all history again."""
    with Session(engine) as session:
        session.execute(delete(InfluencePersonRow))
        session.execute(delete(InfluenceSnapshotRow))
        session.commit()


def build(engine: Engine, *, chunk: int = CHUNK, rebuild: bool = False) -> BuildResult:
    """Fold new history (all of it with ``rebuild``), recount, store the snapshot."""
    started = utcnow()
    if rebuild:
        reset(engine)
    read, watermark = fold_history(engine, chunk=chunk)
    with Session(engine) as session:
        report = compute_report(session)
        _save(session, watermark, report)
        session.commit()
    seconds = (utcnow() - started).total_seconds()
    return BuildResult(events_read=read, people=int(report["people"]), watermark=watermark, seconds=seconds)


def latest(session: Session) -> InfluenceSnapshotRow | None:
    """The stored snapshot (None before the first build)."""
    state = _state(session)
    return state if state is not None and state.report else None
