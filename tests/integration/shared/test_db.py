"""The database layer on SQLite and PostgreSQL: aware timestamps, merging upserts, stored offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.db import StoredOffset, create_tables, load_offsets, save_offsets, upsert
from peerscore.scoring.models import AccountActivityRow

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_timestamps_read_back_aware_utc_and_greatest_wins(engine: Engine) -> None:
    create_tables(engine, [AccountActivityRow])
    row = {"account_key": "acme.example", "person_key": "p_1"}
    with Session(engine) as session, session.begin():
        upsert(
            session,
            AccountActivityRow,
            [{**row, "last_active_at": T0}],
            keys=("account_key", "person_key"),
            keep_greatest=("last_active_at",),
        )
    with Session(engine) as session, session.begin():  # an older time arriving later must not win
        upsert(
            session,
            AccountActivityRow,
            [{**row, "last_active_at": T0 - timedelta(days=3)}],
            keys=("account_key", "person_key"),
            keep_greatest=("last_active_at",),
        )
    with Session(engine) as session:
        stored = session.exec(select(AccountActivityRow)).one()
    assert stored.last_active_at == T0 and stored.last_active_at.tzinfo is not None

    with Session(engine) as session, session.begin():
        upsert(
            session,
            AccountActivityRow,
            [{**row, "last_active_at": T0 + timedelta(hours=1)}],
            keys=("account_key", "person_key"),
            keep_greatest=("last_active_at",),
        )
    with Session(engine) as session:
        assert session.exec(select(AccountActivityRow)).one().last_active_at == T0 + timedelta(hours=1)


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    create_tables(engine, [AccountActivityRow])
    with pytest.raises(Exception, match="naive"), Session(engine) as session, session.begin():
        naive = datetime(2026, 11, 1)  # noqa: DTZ001 - the point of the test
        upsert(
            session,
            AccountActivityRow,
            [{"account_key": "a", "person_key": "p", "last_active_at": naive}],
            keys=("account_key", "person_key"),
        )


def test_offsets_round_trip_per_group(engine: Engine) -> None:
    create_tables(engine, [StoredOffset])
    with Session(engine) as session, session.begin():
        save_offsets(session, "g1", {("events", 0): 10, ("events", 1): 4})
        save_offsets(session, "g2", {("events", 0): 99})
    with Session(engine) as session, session.begin():
        save_offsets(session, "g1", {("events", 0): 12})
    with Session(engine) as session:
        assert load_offsets(session, "g1", [("events", 0), ("events", 1), ("events", 2)]) == {
            ("events", 0): 12,
            ("events", 1): 4,
        }
        assert load_offsets(session, "g2", [("events", 0)]) == {("events", 0): 99}
        assert load_offsets(session, "g1", []) == {}
