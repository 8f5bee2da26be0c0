"""The influence job: fold new history into per-person touch summaries, then recount the report from them.

Bounded and incremental. History is read in ``event_history.id`` order from the stored watermark, ``chunk`` rows
at a time, and only the fields a touch needs are extracted by the database (``json_extract`` on SQLite, ``->>``
on PostgreSQL); events that look alike (same type, name, source and properties) are classified once per run.
Each chunk's touches are appended to their people's rows (nine int64s a touch, item names as codes of a
vocabulary kept with the watermark) and the watermark moved **in one transaction**, so a crash re-reads at most
one chunk and never counts an event twice. The report is then recounted from the per-person summaries with the
identity links, outcomes and MQL times as they are now (array operations, :mod:`..domain.attribution`): a late
outcome or merge changes the next report without re-reading history. The API and the console read the snapshot.

Ids are read up to the greatest id at the start of a run. On PostgreSQL a worker transaction still open at that
moment may commit a smaller id afterwards, which the watermark has passed: such events are missed until a
``rebuild`` (``peerscore insights build --rebuild``) folds everything again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    Select,
    cast,
    delete,
    extract,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from peerscore.events import utcnow
from peerscore.scoring.domain.attribution import METRICS, NEVER, Influence, TouchTable, influence, report_rows
from peerscore.scoring.domain.influence import classify
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.identity.canonical import canonical_keys
from peerscore.scoring.identity.models import IdentityLinkRow
from peerscore.scoring.insights.models import InfluencePersonRow, InfluenceSnapshotRow, MqlMilestoneRow
from peerscore.scoring.outcomes.models import OutcomeRow

REPORT = "content"
WINDOWS: dict[str, int | None] = {"all": None, "90d": 90, "30d": 30}
"""Report windows: days back from the newest touch (None: everything stored)."""
CHUNK = 20_000
WIDTH = 9
"""int64s per stored touch: history id, epoch seconds, six dimension codes, paid."""
OPPORTUNITY_KINDS = ("opportunity_created", "won")
CACHE_LIMIT = 100_000
HistoryRow = tuple[int, str, int, str | bytes]
UPSERT_SQLITE = """INSERT INTO influence_person (person_key, touches) VALUES (?, ?)
ON CONFLICT (person_key) DO UPDATE SET touches = excluded.touches"""
UPSERT_PG = """INSERT INTO influence_person (person_key, touches) VALUES (%s, %s)
ON CONFLICT (person_key) DO UPDATE SET touches = excluded.touches"""
FIELDS = ("type", "name", "source", "properties")


@dataclass(frozen=True)
class BuildResult:
    events_read: int
    people: int
    watermark: int
    seconds: float


class Folder:
    """Classifies history rows into coded touches: the vocabulary (item name → code) and a per-run cache."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = vocabulary
        self._codes = {word: code for code, word in enumerate(vocabulary)}
        self._cache: dict[str | bytes, tuple[int, ...] | None] = {}

    def code(self, word: str) -> int:
        if not word:
            return -1
        code = self._codes.get(word)
        if code is None:
            code = self._codes[word] = len(self.vocabulary)
            self.vocabulary.append(word)
        return code

    def coded(self, what: str | bytes) -> tuple[int, ...] | None:
        """The codes of ``[type, name, source, properties]`` (JSON text), classified once per distinct text."""
        if what in self._cache:
            return self._cache[what]
        event_type, name, source, properties = orjson.loads(what)
        if not isinstance(properties, dict):
            properties = {}
        found = classify(str(event_type or ""), str(name or ""), str(source or ""), properties)
        coded = None if found is None else (*(self.code(v) for v in found[:6]), found[6])
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[what] = coded
        return coded

    def fold(self, rows: Sequence[HistoryRow]) -> dict[str, bytes]:
        """Each person key's new touches, encoded."""
        new: dict[str, list[int]] = {}
        coded_of = self.coded
        for ident, key, at, what in rows:
            coded = coded_of(what)
            if coded is not None:
                new.setdefault(key, []).extend((ident, at, *coded))
        return {key: np.array(ints, dtype="<i8").tobytes() for key, ints in new.items()}


def history_query(dialect: str, after: int, upto: int, chunk: int) -> Select[Any]:
    """id, person key, epoch seconds, and what classifies the event, of the next ``chunk`` rows past ``after``.

    On SQLite ``[type, name, source, properties]`` as one JSON text, extracted in one parse of each event (that
    text is also the classification cache's key). On PostgreSQL the event's own text: casting it to ``jsonb`` on
    the server cost 4x more than ``orjson`` here (:func:`_what`)."""
    table = EventHistoryRow.__table__  # type: ignore[attr-defined]
    what: Any = table.c.event
    if dialect != "postgresql":
        what = func.json_extract(table.c.event, *(f"$.{f}" for f in FIELDS))
    at = _epoch(dialect, table.c.occurred_at)
    window = (table.c.id > after, table.c.id <= upto)
    return select(table.c.id, table.c.person_key, at, what).where(*window).order_by(table.c.id).limit(chunk)


def _what(event: str | bytes) -> bytes:
    """``[type, name, source, properties]`` of a stored event as JSON (what SQLite's ``json_extract`` returns)."""
    doc = orjson.loads(event)
    return orjson.dumps([doc.get(f) for f in FIELDS])


def _epoch(dialect: str, column: Any) -> Any:
    """A UTC timestamp column as whole epoch seconds, computed by the database."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def raw_rows(conn: Connection, query: Select[Any]) -> list[Any]:
    """All rows of ``query`` through the driver's own cursor: a million rows through SQLAlchemy's result objects
    cost seconds. Only for statements whose parameters are integers or constant strings (inlined)."""
    dialect = conn.dialect
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql.replace("%%", "%") if dialect.name == "postgresql" else sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _chunks(engine: Engine, after: int, upto: int, chunk: int) -> Iterator[list[HistoryRow]]:
    """History rows past ``after`` up to ``upto``, ``chunk`` at a time."""
    while after < upto:
        query = history_query(engine.dialect.name, after, upto, chunk)
        with engine.connect() as conn:
            rows: list[HistoryRow] = raw_rows(conn, query)
        if engine.dialect.name == "postgresql":
            rows = [(ident, key, at, _what(event)) for ident, key, at, event in rows]
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _append(session: Session, new: dict[str, bytes]) -> None:
    """Append the new touches to their people's rows (one read, one upsert)."""
    if not new:
        return
    stored = session.exec(
        select(InfluencePersonRow.person_key, InfluencePersonRow.touches).where(  # type: ignore[call-overload]
            col(InfluencePersonRow.person_key).in_(sorted(new))
        )
    ).all()
    for key, touches in stored:
        new[key] = bytes(touches) + new[key]
    # Straight to the driver's executemany: SQLAlchemy's per-row parameter handling was a third of a fold.
    upsert = UPSERT_PG if session.get_bind().dialect.name == "postgresql" else UPSERT_SQLITE
    session.connection().exec_driver_sql(upsert, sorted(new.items()))


def _state(session: Session) -> InfluenceSnapshotRow:
    state = session.get(InfluenceSnapshotRow, REPORT)
    if state is None:
        state = InfluenceSnapshotRow(name=REPORT, watermark=0, vocabulary=[], built_at=utcnow(), report={})
    return state


def fold_history(engine: Engine, *, chunk: int = CHUNK) -> tuple[int, int]:
    """Fold every history row past the watermark; returns (events read, new watermark)."""
    table = EventHistoryRow.__table__  # type: ignore[attr-defined]
    with Session(engine) as session:
        state = _state(session)
        watermark, folder = state.watermark, Folder(list(state.vocabulary))
        upto = session.execute(select(func.max(table.c.id))).scalar() or 0
    read = 0
    for rows in _chunks(engine, watermark, upto, chunk):
        commit_chunk(engine, folder, folder.fold(rows), watermark, rows[-1][0])
        read += len(rows)
        watermark = rows[-1][0]
    return read, watermark


class ConcurrentBuild(RuntimeError):
    """Another build moved the watermark first (overlapping cron runs): this one stops, having written nothing."""


def commit_chunk(engine: Engine, folder: Folder, new: dict[str, bytes], before: int, after: int) -> None:
    """Append one chunk's touches and move the watermark (with the vocabulary) in one transaction."""
    with Session(engine) as session:
        try:
            _claim(session, before, after, folder.vocabulary)
        except IntegrityError:  # a concurrent first build inserted the state row
            raise ConcurrentBuild("another influence build is running") from None
        _append(session, new)
        session.commit()


def _claim(session: Session, before: int, after: int, vocabulary: list[str]) -> None:
    """Move the watermark from ``before`` to ``after``, first thing in the transaction: the compare-and-set takes
    the row's write lock, so of two overlapping builds only the first folds a chunk, never both."""
    table = InfluenceSnapshotRow.__table__  # type: ignore[attr-defined]
    moved = session.execute(
        update(table)
        .where(table.c.name == REPORT, table.c.watermark == before)
        .values(watermark=after, vocabulary=list(vocabulary))
    )
    if getattr(moved, "rowcount", 0) == 1:
        return
    if before == 0 and session.get(InfluenceSnapshotRow, REPORT) is None:
        row = InfluenceSnapshotRow(
            name=REPORT, watermark=after, vocabulary=list(vocabulary), built_at=utcnow(), report={}
        )
        session.add(row)
        session.flush()
        return
    raise ConcurrentBuild("another influence build moved the watermark")


@dataclass(frozen=True)
class Stored:
    """What a recount reads: per-person touch rows, outcomes and MQL times (epoch seconds), identity links."""

    touches: list[tuple[str, bytes]]
    outcomes: list[tuple[str, str, int]]
    mqls: list[tuple[str, int]]
    links: dict[str, str]
    vocabulary: list[str]

    @staticmethod
    def read(session: Session) -> Stored:
        conn = session.connection()
        dialect = conn.dialect.name
        person, outcome, mql, link = (
            m.__table__  # type: ignore[union-attr]
            for m in (InfluencePersonRow, OutcomeRow, MqlMilestoneRow, IdentityLinkRow)
        )
        return Stored(
            touches=raw_rows(conn, select(person.c.person_key, person.c.touches)),
            outcomes=raw_rows(
                conn, select(outcome.c.person_key, outcome.c.kind, _epoch(dialect, outcome.c.occurred_at))
            ),
            mqls=raw_rows(conn, select(mql.c.person_key, _epoch(dialect, mql.c.qualified_at))),
            links=dict(raw_rows(conn, select(link.c.person_key, link.c.merged_into))),
            vocabulary=list(_state(session).vocabulary),
        )


def conversions(stored: Stored, canonical: dict[str, str]) -> dict[str, dict[str, int]]:
    """Each canonical person's first MQL, opportunity and win (epoch seconds)."""
    firsts: dict[str, dict[str, int]] = {}
    found = [(k, "opportunity", at) for k, kind, at in stored.outcomes if kind in OPPORTUNITY_KINDS]
    found += [(k, "won", at) for k, kind, at in stored.outcomes if kind == "won"]
    found += [(k, "mql", at) for k, at in stored.mqls]
    for key, metric, at in found:
        times = firsts.setdefault(canonical[key], {})
        times[metric] = min(times.get(metric, at), at)
    return firsts


def touch_table(stored: Stored, canonical: dict[str, str]) -> tuple[TouchTable, list[str]]:
    """Every touch under its canonical person (keys merged into one person are joined), and the people; one
    ``frombuffer`` over all the rows' bytes joined."""
    index: dict[str, int] = {}
    owners = [index.setdefault(canonical[key], len(index)) for key, _ in stored.touches]
    sizes = [len(touches) // (8 * WIDTH) for _, touches in stored.touches]
    joined = b"".join(bytes(t) for _, t in stored.touches)
    data = np.frombuffer(joined, dtype="<i8").reshape(-1, WIDTH).astype(np.int64)
    person = np.repeat(np.array(owners, dtype=np.int64), sizes)
    table = TouchTable.sorted(person, data[:, 1], data[:, 0], data[:, 2:8], data[:, 8], stored.vocabulary)
    return table, sorted(index, key=index.__getitem__)


def compute_report(session: Session, windows: dict[str, int | None] = WINDOWS) -> dict[str, Any]:
    """The report of every window from the stored summaries, outcomes and MQL times."""
    stored = Stored.read(session)
    keys = {k for k, _ in stored.touches} | {k for k, _, _ in stored.outcomes} | {k for k, _ in stored.mqls}
    canonical = canonical_keys(keys, stored.links)
    table, people = touch_table(stored, canonical)
    converted = conversions(stored, canonical)
    arrays = {m: np.array([converted.get(p, {}).get(m, NEVER) for p in people], dtype=np.int64) for m in METRICS}
    as_of = int(table.at.max()) if len(table.at) else None
    report: dict[str, Any] = {"as_of": as_of, "people": len(people), "windows": {}}
    for name, days in windows.items():
        since = None if days is None or as_of is None else as_of - int(timedelta(days=days).total_seconds())
        report["windows"][name] = window_report(influence(table, arrays, since=since), since)
    return report


def window_report(result: Influence, since: int | None) -> dict[str, Any]:
    return {"since": since, "people": result.people, "converted": result.converted, "rows": report_rows(result)}


def reset(engine: Engine) -> None:
    """Forget the summaries, the vocabulary and the watermark: the next build folds all history again."""
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
        state = _state(session)
        state.report, state.built_at = report, utcnow()
        session.add(state)
        session.commit()
    seconds = (utcnow() - started).total_seconds()
    return BuildResult(events_read=read, people=int(report["people"]), watermark=watermark, seconds=seconds)


def latest(session: Session) -> InfluenceSnapshotRow | None:
    """The stored snapshot (None before the first build)."""
    state = session.get(InfluenceSnapshotRow, REPORT)
    return state if state is not None and state.report else None
