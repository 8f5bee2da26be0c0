"""Per-event rows (history, ledger) written as plain tuples in one driver ``executemany``, and the statements
every batch runs (upserts, the stored offsets) built once.

SQLAlchemy's insert of a list of dicts runs every row through its parameter handling; for rows the worker
writes by the hundred per batch, with no defaults or conflicts to resolve, that is most of their cost. The
statement is built once per table, columns and dialect; only the columns whose type converts values (the UTC
timestamps) go through the type's bind processor, so what is stored is exactly what the ORM would store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Executable, Table, bindparam, func
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from peerscore.db import StoredOffset

Processor = Callable[[Any], Any]


def insert_tuples(session: Session, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values in ``columns`` order) inside the caller's transaction."""
    if not rows:
        return
    connection = session.connection()
    sql, processors = _statement(table, columns, connection.dialect)
    if processors:
        rows = [tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True)) for row in rows]
    connection.exec_driver_sql(sql, list(rows))


@lru_cache(maxsize=64)
def _statement(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[str, tuple[Processor | None, ...]]:
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    # Only the table's own identifiers (quoted by the dialect) go into the text; every value is bound.
    target = f"{dialect.identifier_preparer.format_table(table)} ({', '.join(quote(c) for c in columns)})"
    sql = f"INSERT INTO {target} VALUES ({', '.join(marker for _ in columns)})"  # noqa: S608
    processors = tuple(table.c[c].type.bind_processor(dialect) for c in columns)
    return sql, processors if any(p is not None for p in processors) else ()


def upsert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: tuple[str, ...],
    update: tuple[str, ...] | None = None,
    keep_greatest: tuple[str, ...] = (),
) -> None:
    """:func:`peerscore.db.upsert` with the statement built once per table, columns and dialect: building an
    ``ON CONFLICT`` statement (and its cache key) costs more than running it for the few rows of a live batch."""
    if not rows:
        return
    columns = update if update is not None else tuple(c for c in rows[0] if c not in keys)
    session.connection().execute(
        _upsert(table, keys, columns, keep_greatest, session.get_bind().dialect.name), list(rows)
    )


@lru_cache(maxsize=64)
def _upsert(
    table: Table, keys: tuple[str, ...], columns: tuple[str, ...], keep_greatest: tuple[str, ...], dialect: str
) -> Executable:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    greatest = func.greatest if dialect == "postgresql" else func.max  # SQLite's two-argument max() is scalar
    stmt = insert(table)
    if not columns:
        return stmt.on_conflict_do_nothing(index_elements=list(keys))
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: greatest(table.c[c], stmt.excluded[c]) if c in keep_greatest else stmt.excluded[c] for c in columns},
    )


_OFFSETS = StoredOffset.__table__  # type: ignore[attr-defined]
_LOAD_OFFSETS = sa_select(_OFFSETS.c.topic, _OFFSETS.c.partition, _OFFSETS.c.next_offset).where(
    _OFFSETS.c.consumer_group == bindparam("group"), _OFFSETS.c.topic.in_(bindparam("topics", expanding=True))
)


def load_offsets(session: Session, group: str, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """:func:`peerscore.db.load_offsets` as plain rows by a statement built once (read on every batch)."""
    wanted = set(partitions)
    if not wanted:
        return {}
    rows = session.connection().execute(_LOAD_OFFSETS, {"group": group, "topics": sorted({t for t, _ in wanted})})
    return {(r.topic, r.partition): r.next_offset for r in rows if (r.topic, r.partition) in wanted}


def save_offsets(session: Session, group: str, next_offsets: Mapping[tuple[str, int], int]) -> None:
    """:func:`peerscore.db.save_offsets` through :func:`upsert_rows` (written on every batch)."""
    rows = [
        {"consumer_group": group, "topic": t, "partition": p, "next_offset": o}
        for (t, p), o in sorted(next_offsets.items())
    ]
    upsert_rows(session, _OFFSETS, rows, keys=("consumer_group", "topic", "partition"))
