"""A real SQLite database per test (no mocks): the handler and the local CRM run their actual SQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from peerscore.crm_sync.models import TABLES
from peerscore.db import create_tables, make_engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    create_tables(engine, TABLES)
    yield engine
    engine.dispose()


@pytest.fixture
def crm_engine(engine: Engine) -> Engine:
    """The crm-sync tables on SQLite, and on PostgreSQL too when ``TEST_DATABASE_URL`` is set (the shared
    ``engine`` fixture): the ledger and ``crm_retry_state`` queries must behave the same on both."""
    create_tables(engine, TABLES)
    return engine
