"""The ``peerscore`` command line: the local pipeline, topics, and sample traffic."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from peerscore.events import utcnow
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics

app = typer.Typer(help="Peerscore: real-time B2B inbound lead scoring.", no_args_is_help=True)


@app.command()
def dev(people: int = typer.Option(150, help="People in the sample traffic"), var: Path = Path("var")) -> None:
    """Start broker, services and sample traffic on embedded defaults (what `make run` does)."""
    from peerscore.dev.runner import run_dev

    run_dev(people=people, var=var)


@app.command()
def topics() -> None:
    """Create the topics (KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC_PREFIX, KAFKA_EVENT_PARTITIONS)."""
    settings = KafkaSettings()
    created = ensure_topics(settings.bootstrap_servers, settings.topics())
    typer.echo(f"created {len(created)} topics: {', '.join(created) or '-'}")


@app.command("replay")
def replay_cmd(
    ingest_url: str = "http://127.0.0.1:8000",
    write_key: str = typer.Option("peerscore-dev-write-key", envvar="PEERSCORE_WRITE_KEY"),
    people: int = 150,
    seed: int = 7,
) -> None:
    """Send generated buyer journeys to an ingest endpoint."""
    from peerscore.dev.journeys import JourneyGenerator
    from peerscore.dev.replay import replay

    calls = JourneyGenerator(seed=seed).calls(people, end=utcnow())
    with Progress() as progress:
        task = progress.add_task("replaying", total=len(calls))
        replay(calls, ingest_url=ingest_url, write_key=write_key, on_batch=lambda n: progress.advance(task, n))


def main() -> None:
    app()
