"""The ``peerscore`` command line: the generic commands (database migrations, topics) and whatever each installed
package registers.

Each service (and the workspace's developer tooling) declares a Typer app under the ``peerscore.commands``
entry-point group; this module merges them all in. The shared library so never imports a service, and an image
offers exactly the commands of the packages it contains (the scoring image: ``db``, ``topics``, ``train``…).
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from peerscore.migrations.commands import db_app
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics

COMMANDS_GROUP = "peerscore.commands"

app = typer.Typer(help="Peerscore: real-time B2B inbound lead scoring.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def topics() -> None:
    """Create the topics (KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC_PREFIX, KAFKA_SECURITY_PROTOCOL, KAFKA_RETENTION_*…)."""
    settings = KafkaSettings()
    created = ensure_topics(settings)
    typer.echo(f"created {len(created)} topics: {', '.join(created) or '-'}")


def register_commands(target: typer.Typer, group: str = COMMANDS_GROUP) -> list[str]:
    """Merge the commands and command groups of every entry point in ``group`` into ``target`` (in name order, so
    help output is stable). Returns the entry points' names. The commands import their heavy modules lazily, so
    loading them all costs little."""
    names = []
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        target.add_typer(entry.load())
        names.append(entry.name)
    return names


register_commands(app)


def main() -> None:
    app()
