"""The database a bench measures on: a SQLite file by default, or a throw-away schema on the PostgreSQL server
named by ``BENCH_DATABASE_URL`` (dropped afterwards), so the same bench runs on both."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text


@contextmanager
def bench_database(tmp: str, name: str) -> Iterator[str]:
    """The URL of a fresh database for one measurement; ``tmp`` holds the SQLite file ``name``.db."""
    server = os.environ.get("BENCH_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp}/{name}.db"
        return
    schema = f"bench_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
