"""The developer commands of ``peerscore`` (registered under the ``peerscore.commands`` entry point by the
workspace's ``peerscore-tools`` package, never installed in an image): ``dev``, ``replay`` and ``generate-history``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from peerscore.events import utcnow

app = typer.Typer()


@app.command()
def dev(people: int = typer.Option(150, help="People in the sample traffic"), var: Path = Path("var")) -> None:
    """Start broker, services and sample traffic on embedded defaults (what `make run` does)."""
    from peerscore.dev.runner import run_dev

    run_dev(people=people, var=var)


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


@app.command("generate-history")
def generate_history_cmd(
    database_url: str = typer.Option("sqlite:///var/scoring.db", envvar="DATABASE_URL", help="Scoring's database"),
    people: int = typer.Option(3000, min=10),
    days: int = typer.Option(150, min=45),
    seed: int = 7,
) -> None:
    """Write generated buyer journeys + CRM outcomes into scoring's history (to train a first model)."""
    from peerscore.dev.generated import generate_history
    from peerscore.scoring.cli import scoring_engine_and_ruleset
    from peerscore.settings import IdentitySettings

    engine, _ = scoring_engine_and_ruleset(database_url)
    secret = IdentitySettings().person_key_secret.get_secret_value().encode()
    try:
        events, outcomes = generate_history(engine, people, days, seed, secret, utcnow())
    finally:
        engine.dispose()
    typer.echo(f"wrote {events} events and {outcomes} outcomes of {people} people over {days} days")
