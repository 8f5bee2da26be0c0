"""The packaged Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL.

A model changed without a migration fails ``test_head_matches_the_models`` (run ``make migration MSG=...``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, Table, inspect, select, text
from sqlmodel import Session
from typer.testing import CliRunner

from peerscore.cli import app
from peerscore.db import StoredOffset, create_tables, load_offsets, make_engine, prepare_schema, save_offsets
from peerscore.migrations.runner import (
    SchemaDriftError,
    current_revision,
    downgrade,
    head_revision,
    peerscore_metadata,
    revisions,
    upgrade,
)
from peerscore.scoring.models import PersonRow

pytestmark = pytest.mark.integration


def schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, peerscore_metadata()))


def test_head_matches_the_models(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine) == []


def test_every_model_table_is_migrated(engine: Engine) -> None:
    upgrade(engine)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(peerscore_metadata().tables)
    assert {"consumer_offset", "person_state", "crm_sync_ledger"} <= tables


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_upgrade_from_the_previous_revision_keeps_the_data(engine: Engine) -> None:
    """What a release upgrade does: the database is one revision behind and full of state."""
    history = revisions()
    previous = history[-2] if len(history) > 1 else None
    if previous is not None:
        upgrade(engine, previous)
    else:  # one revision only: the upgrade under test creates everything, there is nothing to keep yet
        upgrade(engine)
    offsets = Table("consumer_offset", MetaData(), autoload_with=engine)
    people = Table("person_state", MetaData(), autoload_with=engine)
    now = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(offsets.insert(), [{"consumer_group": "g", "topic": "t", "partition": 3, "next_offset": 42}])
        conn.execute(
            people.insert(),
            [
                {
                    "person_key": "p1",
                    "version": 2,
                    "qualified": True,
                    "total": 71.5,
                    "state": {"events": 3},
                    "updated_at": now if engine.dialect.name == "postgresql" else now.replace(tzinfo=None),
                }
            ],
        )
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(select(offsets.c.next_offset)).scalar_one() == 42
        row = conn.execute(select(people.c.version, people.c.total, people.c.state)).one()
    assert (row.version, row.total, row.state) == (2, 71.5, {"events": 3})
    assert schema_diff(engine) == []


def test_downgrade_and_upgrade_round_trip_every_revision(engine: Engine) -> None:
    history = revisions()
    for revision in history:
        upgrade(engine, revision)
        assert current_revision(engine) == revision
    for revision in reversed(["base", *history[:-1]]):
        downgrade(engine, revision)
        assert current_revision(engine) == (None if revision == "base" else revision)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert schema_diff(engine) == []


def test_a_table_missing_from_the_migrations_is_detected(engine: Engine) -> None:
    """What a model added without `make migration` looks like to the comparison above."""
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE consumer_offset"))
    assert [(op[0], op[1].name) for op in schema_diff(engine) if isinstance(op, tuple)] == [
        ("add_table", "consumer_offset")
    ]


def test_a_database_made_by_create_tables_is_adopted(engine: Engine) -> None:
    create_tables(engine, [StoredOffset, PersonRow])
    with Session(engine) as session:
        save_offsets(session, "g", {("t", 0): 7})
        session.commit()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine) == []
    with Session(engine) as session:
        assert load_offsets(session, "g", [("t", 0)]) == {("t", 0): 7}


def test_adoption_refuses_tables_that_differ_from_the_models(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE consumer_offset (consumer_group VARCHAR(255) PRIMARY KEY)"))
    with pytest.raises(SchemaDriftError, match="differ from the models"):
        upgrade(engine)
    assert current_revision(engine) is None


def test_service_start_up_migrates_an_empty_database(engine: Engine) -> None:
    prepare_schema(engine, [StoredOffset])
    assert current_revision(engine) == head_revision()
    prepare_schema(engine, [StoredOffset])  # the Job already ran: nothing to do
    assert current_revision(engine) == head_revision()


def test_start_up_on_a_create_tables_database_only_adds_missing_tables(engine: Engine) -> None:
    create_tables(engine, [StoredOffset])
    prepare_schema(engine, [StoredOffset, PersonRow])
    assert set(inspect(engine).get_table_names()) == {"consumer_offset", "person_state"}
    assert current_revision(engine) is None


def test_replicas_starting_together_migrate_once(engine: Engine, database_url: str) -> None:
    """Scoring and crm-sync may start at the same moment on one empty PostgreSQL database."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite files are per service in dev; the advisory lock is PostgreSQL's")
    engines = [make_engine(database_url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            list(pool.map(upgrade, engines))
    finally:
        for other in engines:
            other.dispose()
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine) == []


def test_cli_upgrades_and_reports_the_revision(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Helm Job runs (`peerscore db upgrade`) and what an operator checks (`peerscore db current`)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    behind = runner.invoke(app, ["db", "current"])
    assert (behind.exit_code, behind.output.strip()) == (1, f"current empty, head {head_revision()}")
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"database at {head_revision()} (was empty)" in upgraded.output
    assert runner.invoke(app, ["db", "current"]).exit_code == 0
