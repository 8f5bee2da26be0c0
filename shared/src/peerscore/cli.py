"""The ``peerscore`` command line: the local pipeline, topics, and sample traffic."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from peerscore.events import utcnow
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics

app = typer.Typer(help="Peerscore: real-time B2B inbound lead scoring.", no_args_is_help=True)
crm_app = typer.Typer(help="CRM sync operations.", no_args_is_help=True)
app.add_typer(crm_app, name="crm")


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


@crm_app.command("replay")
def crm_replay(
    idle: float = typer.Option(3.0, help="Stop reading once the dead-letter topic is quiet this many seconds"),
    attempts: int = typer.Option(5, help="Tries per batch while the CRM is still failing"),
) -> None:
    """Re-send the CRM dead-letter topic to the configured CRM (CRM_ADAPTER…); the sync ledger skips what is done."""
    from peerscore.crm_sync.replay_command import run_replay

    with Progress() as progress:
        task = progress.add_task("reading crm.dlq", total=None)
        report = run_replay(
            idle_s=idle,
            attempts=attempts,
            on_total=lambda n: progress.update(task, total=n, description="replaying"),
            on_progress=lambda n: progress.advance(task, n),
        )
    typer.echo(
        f"read {report.read} dead letters: {report.synced} synced, {report.skipped} already synced or newer, "
        f"{len(report.failed)} refused, {report.other_crm} for another CRM, {report.unreadable} unreadable"
    )
    for person_key, error in sorted(report.failed.items()):
        typer.echo(f"  refused {person_key}: {error}")


@app.command("backtest")
def backtest_cmd(
    ruleset: Path = typer.Option(..., exists=True, dir_okay=False, help="The candidate ruleset (YAML)"),
    since: str = typer.Option("90d", help="Start of the replayed period: 90d, 12w, 48h or an ISO time with a zone"),
    until: str | None = typer.Option(None, help="End of the period (same forms); now when absent"),
    database_url: str = typer.Option("sqlite:///var/scoring.db", envvar="DATABASE_URL", help="Scoring's database"),
    live: Path | None = typer.Option(None, exists=True, dir_okay=False, help="Compare with this ruleset instead"),
    workers: int = typer.Option(2, min=1, help="Processes to fold in (one per core)"),
) -> None:
    """Replay stored history under a candidate ruleset and compare with the live one."""
    from rich.console import Console

    from peerscore.db import create_tables, make_engine
    from peerscore.scoring.backtest import Period, parse_moment, run_backtest
    from peerscore.scoring.backtest.render import current_live_ruleset, render_report
    from peerscore.scoring.domain import RulesetError, parse_ruleset
    from peerscore.scoring.models import SCORING_TABLES
    from peerscore.scoring.settings import ScoringSettings

    try:
        candidate = parse_ruleset(ruleset.read_text())
        period = Period(since=parse_moment(since, utcnow()), until=parse_moment(until, utcnow()) if until else None)
    except (RulesetError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    engine = make_engine(database_url)
    try:
        create_tables(engine, SCORING_TABLES)
        baseline = parse_ruleset(live.read_text()) if live else current_live_ruleset(engine, ScoringSettings())
        with Progress() as progress:
            task = progress.add_task("replaying history", total=None)
            report = run_backtest(
                engine,
                baseline,
                candidate,
                period,
                workers=workers,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        render_report(report, Console())
    finally:
        engine.dispose()


def main() -> None:
    app()
