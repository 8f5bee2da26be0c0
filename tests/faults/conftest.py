"""Fixtures of the failure suite (``make test-faults``; excluded from ``make test`` by the ``faults`` marker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, postgres_schema


@pytest.fixture
def one_database_url(tmp_path: Path) -> Iterator[str]:
    """One database per scenario to keep the suite short: PostgreSQL (production's) when TEST_DATABASE_URL is
    set, else a SQLite file. Scenarios about the database itself use the parametrised ``database_url``."""
    if POSTGRES_URL is None:
        yield f"sqlite:///{tmp_path / 'faults.db'}"
        return
    with postgres_schema("f") as url:
        yield url
