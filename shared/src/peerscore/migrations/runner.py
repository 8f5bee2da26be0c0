"""Running the packaged migrations: upgrade, downgrade, current/head revisions, and the models' metadata.

Kept apart from the package's ``__init__`` so the ``peerscore`` CLI can register ``peerscore db …`` without
importing Alembic until a command runs.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text
from sqlmodel import SQLModel

from peerscore.migrations import SCRIPT_LOCATION

_SKIPPED_PACKAGES = ("peerscore.migrations", "peerscore.dev")


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """A configuration pointing at the packaged scripts; ``env.py`` uses ``connection`` when given, else ``url``."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # Script files must be importable module names (mypy checks them; a leading digit is not allowed).
    config.set_main_option("file_template", "rev_%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


_LOCK_KEY = 0x70656572_73636F72
"""PostgreSQL advisory lock key ("peerscor"): replicas starting together migrate one after the other."""


class SchemaDriftError(RuntimeError):
    """A database made without migrations differs from the models: adopting it would hide the difference."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (idempotent: an up-to-date database is left untouched).

    On PostgreSQL the whole upgrade holds a transaction-scoped advisory lock, so services and the Job starting
    at once do not race; the second one finds the database up to date. A database whose tables were made by
    ``create_tables`` before migrations existed is adopted first (see :func:`_adopt`).
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        if _unversioned(connection):
            _adopt(connection)
        command.upgrade(alembic_config(connection), revision)


def _unversioned(connection: Connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    return "alembic_version" not in tables and bool(tables & set(peerscore_metadata().tables))


def _adopt(connection: Connection) -> None:
    """Create the missing tables, check the result equals the models, and record it as the newest revision.

    Refuses (``SchemaDriftError``) when existing tables differ from the models: stamping would then claim a
    schema the database does not have. Fix those tables by hand (or start from an empty database).
    """
    metadata = peerscore_metadata()
    metadata.create_all(connection)
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    drift = compare_metadata(context, metadata)
    if drift:
        raise SchemaDriftError(f"the existing tables differ from the models, not adopting them: {drift[:5]}")
    command.stamp(alembic_config(connection), "head")


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for a database no migration has touched."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts packaged"
    return head


def revisions() -> list[str]:
    """Every revision from the first to the head, in upgrade order."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def import_model_modules() -> list[str]:
    """Import every ``peerscore`` module that declares a table, so new tables are found without a list to keep.

    A module qualifies when its source contains ``table=True``; the dev tooling and the migrations themselves are
    skipped. Returns the imported module names.
    """
    import peerscore

    imported: list[str] = []
    for info in pkgutil.walk_packages(peerscore.__path__, prefix="peerscore."):
        if info.ispkg or info.name.startswith(_SKIPPED_PACKAGES):
            continue
        spec = importlib.util.find_spec(info.name)
        origin = spec.origin if spec is not None else None
        if origin is None or not origin.endswith(".py"):
            continue
        if "table=True" in Path(origin).read_text(encoding="utf-8"):
            importlib.import_module(info.name)
            imported.append(info.name)
    return imported


def peerscore_metadata() -> MetaData:
    """The tables of every Peerscore model (and nothing else: tests may declare their own SQLModel tables)."""
    import_model_modules()
    metadata = MetaData()
    for model in _table_models(SQLModel):
        table = model.__table__  # type: ignore[attr-defined]
        if table.name not in metadata.tables:
            table.to_metadata(metadata)
    return metadata


def _table_models(base: type[SQLModel]) -> list[type[SQLModel]]:
    found: list[type[SQLModel]] = []
    for sub in base.__subclasses__():
        if getattr(sub, "__table__", None) is not None and sub.__module__.startswith("peerscore."):
            found.append(sub)
        found.extend(_table_models(sub))
    return found
