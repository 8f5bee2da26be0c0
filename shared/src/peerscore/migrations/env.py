"""Alembic environment: runs on the connection handed over by :func:`peerscore.migrations.upgrade`, or on
``sqlalchemy.url`` / ``DATABASE_URL`` when started from the ``alembic`` command line."""

from __future__ import annotations

import os
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlmodel.sql.sqltypes import AutoString

from peerscore.db import UtcDateTime, make_engine
from peerscore.migrations.runner import peerscore_metadata

config = context.config


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the project's column types by their import path (the scripts import ``peerscore.db``)."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        autogen_context.imports.add("import peerscore.db")
        return "peerscore.db.UtcDateTime()"
    if type_ == "type" and isinstance(obj, AutoString):  # SQLModel's str column: a plain VARCHAR in the database
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def skip_empty(_context: Any, _revision: Any, directives: list[Any]) -> None:
    """Autogenerate writes nothing when the models already match the migrations (no empty revision files)."""
    if directives and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=peerscore_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        process_revision_directives=skip_empty,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        run(given)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL", "sqlite:///var/peerscore.db")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")
main()
