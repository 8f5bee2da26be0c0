"""``peerscore db …``: run the packaged migrations against ``DATABASE_URL`` (what the Helm migration Job runs)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from peerscore.settings import DatabaseSettings

db_app = typer.Typer(help="Database schema migrations (Alembic, packaged with peerscore).", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_cmd(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Migrate DATABASE_URL to the given revision (default: the newest). Safe to run on every deploy."""
    from peerscore.db import make_engine
    from peerscore.migrations.runner import current_revision, upgrade

    engine = make_engine(DatabaseSettings().database_url)
    try:
        before = current_revision(engine)
        upgrade(engine, revision)
        typer.echo(f"database at {current_revision(engine)} (was {before or 'empty'})")
    finally:
        engine.dispose()


@db_app.command("downgrade")
def downgrade_cmd(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or a revision id")) -> None:
    """Migrate DATABASE_URL back to an older revision (drops what newer revisions added: back up first)."""
    from peerscore.db import make_engine
    from peerscore.migrations.runner import current_revision, downgrade

    engine = make_engine(DatabaseSettings().database_url)
    try:
        downgrade(engine, revision)
        typer.echo(f"database at {current_revision(engine) or 'empty'}")
    finally:
        engine.dispose()


@db_app.command("current")
def current_cmd() -> None:
    """Print the revision DATABASE_URL is at and whether it is the newest one (exit code 1 when behind)."""
    from peerscore.db import make_engine
    from peerscore.migrations.runner import current_revision, head_revision

    engine = make_engine(DatabaseSettings().database_url)
    try:
        current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    typer.echo(f"current {current or 'empty'}, head {head}")
    if current != head:
        raise typer.Exit(1)


@db_app.command("revision")
def revision_cmd(message: str = typer.Option(..., "-m", "--message", help="What the migration does")) -> None:
    """Autogenerate a migration from the models (developers: `make migration MSG=...`).

    Compares the models with a scratch SQLite database upgraded to the current head, so no server is needed;
    read the generated script before committing it.
    """
    from alembic import command

    from peerscore.db import make_engine
    from peerscore.migrations.runner import alembic_config, upgrade

    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        try:
            upgrade(engine)
            with engine.begin() as connection:
                script = command.revision(alembic_config(connection), message=message, autogenerate=True)
        finally:
            engine.dispose()
    paths = [s.path for s in (script if isinstance(script, list) else [script]) if s is not None]
    typer.echo(f"wrote {', '.join(paths)}" if paths else "nothing to do: the migrations already match the models")
