"""Database layer: one engine factory for SQLite (embedded default) and PostgreSQL, batch upserts, and the
consumer offsets that workers store in the same transaction as their state."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, event, func, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from peerscore.observability import ReadinessCheck


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps that always read back timezone-aware UTC.

    SQLite has no zoned timestamp type (``DateTime(timezone=True)`` reads back naive there): normalise to UTC on
    write and re-attach UTC on read, so both databases behave the same and no naive datetime leaks in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("refusing to store a naive datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class RawJson(str):
    """JSON text that is already serialised, stored as is in a JSON column of an engine from :func:`make_engine`.

    Why: pydantic's ``model_dump_json`` is several times faster than ``model_dump(mode="json")`` followed by the
    column's own ``json.dumps``, and the scoring worker writes one state document per person per batch.
    """


def _json_serializer(value: Any) -> str:
    return value if isinstance(value, RawJson) else json.dumps(value)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Build an engine from a URL (``?options=-csearch_path%3Dname`` pins a PostgreSQL schema)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_json_serializer,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, json_serializer=_json_serializer)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_tables(engine: Engine, models: Iterable[type[SQLModel]]) -> None:
    """Create the given models' tables if missing (each service owns its own tables)."""
    SQLModel.metadata.create_all(engine, tables=[m.__table__ for m in models])  # type: ignore[attr-defined]


def prepare_schema(engine: Engine, models: Iterable[type[SQLModel]]) -> None:
    """Service start-up: run the packaged Alembic migrations on an empty database or on one they manage (a
    quick no-op when the Helm migration Job already ran). A database made by :func:`create_tables` before
    migrations existed (tests' fresh schemas, older dev files) only gets its missing tables, as before."""
    from peerscore.migrations.runner import upgrade  # late: the migrations import this module

    tables = set(inspect(engine).get_table_names())
    if tables and "alembic_version" not in tables:
        create_tables(engine, models)
        return
    upgrade(engine)


def database_check(engine: Engine) -> ReadinessCheck:
    def check() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return check


def upsert(
    session: Session,
    model: type[SQLModel],
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str] | None = None,
    keep_greatest: Sequence[str] = (),
) -> None:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` in one executemany: ~50x faster than per-row ORM merges.

    Columns in ``keep_greatest`` take the greater of the stored and the new value, so concurrent writers merge
    (a "last activity" time never moves backwards) instead of the last writer winning.
    """
    if not rows:
        return
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    greatest = func.greatest if dialect == "postgresql" else func.max  # SQLite's two-argument max() is scalar
    stmt = insert(table)
    columns = update if update is not None else [c for c in rows[0] if c not in keys]
    if columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={
                c: greatest(table.c[c], stmt.excluded[c]) if c in keep_greatest else stmt.excluded[c] for c in columns
            },
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    session.execute(stmt, list(rows))


class StoredOffset(SQLModel, table=True):
    """Next offset to read per group and partition, committed with the effects of the records before it."""

    __tablename__ = "consumer_offset"

    consumer_group: str = Field(primary_key=True, max_length=255)
    topic: str = Field(primary_key=True, max_length=255)
    partition: int = Field(primary_key=True)
    next_offset: int


def load_offsets(session: Session, group: str, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    wanted = set(partitions)
    topics = {t for t, _ in wanted}
    if not wanted:
        return {}
    rows = session.exec(
        select(StoredOffset).where(StoredOffset.consumer_group == group, col(StoredOffset.topic).in_(topics))
    ).all()
    return {(r.topic, r.partition): r.next_offset for r in rows if (r.topic, r.partition) in wanted}


def save_offsets(session: Session, group: str, next_offsets: Mapping[tuple[str, int], int]) -> None:
    upsert(
        session,
        StoredOffset,
        [
            {"consumer_group": group, "topic": t, "partition": p, "next_offset": o}
            for (t, p), o in sorted(next_offsets.items())
        ],
        keys=("consumer_group", "topic", "partition"),
    )
