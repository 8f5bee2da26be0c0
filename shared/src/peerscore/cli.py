"""The ``peerscore`` command line: the local pipeline, topics, and sample traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress

from peerscore.events import utcnow
from peerscore.migrations.commands import db_app
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics

app = typer.Typer(help="Peerscore: real-time B2B inbound lead scoring.", no_args_is_help=True)
crm_app = typer.Typer(help="CRM sync operations.", no_args_is_help=True)
app.add_typer(crm_app, name="crm")
app.add_typer(db_app, name="db")
import_app = typer.Typer(help="Import historical leads and events.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@app.command()
def dev(people: int = typer.Option(150, help="People in the sample traffic"), var: Path = Path("var")) -> None:
    """Start broker, services and sample traffic on embedded defaults (what `make run` does)."""
    from peerscore.dev.runner import run_dev

    run_dev(people=people, var=var)


@app.command()
def topics() -> None:
    """Create the topics (KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC_PREFIX, KAFKA_SECURITY_PROTOCOL, KAFKA_RETENTION_*…)."""
    settings = KafkaSettings()
    created = ensure_topics(settings)
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


@crm_app.command("check")
def crm_check() -> None:
    """Compare the field mapping with the configured CRM's live schema; exit 1 when fields are missing."""
    from peerscore.crm_sync.schema_command import run

    report = run("check", Path("."))
    _print_schema(report.crm, report.missing, report.note)
    if report.missing:
        raise typer.Exit(1)


@crm_app.command("setup")
def crm_setup(
    package_dir: Path = typer.Option(
        Path("var/peerscore-salesforce-package"), help="Where the Salesforce deploy package goes if it is needed"
    ),
) -> None:
    """Create the CRM properties/fields Peerscore writes (idempotent); exit 1 when some are still missing."""
    from peerscore.crm_sync.schema_command import run

    report = run("setup", package_dir)
    typer.echo(f"{report.crm}: created {len(report.created)}: {', '.join(report.created) or '-'}")
    if report.package is not None:
        typer.echo(
            f"the token may not create fields; deploy the package written to {report.package} "
            f"(e.g. sf project deploy start --metadata-dir {report.package.with_suffix('')}), then grant field access"
        )
    _print_schema(report.crm, report.missing, report.note)
    if report.missing and report.package is None:
        raise typer.Exit(1)


def _print_schema(crm: str, missing: list[Any], note: str | None) -> None:
    if note:
        typer.echo(note)
    if not missing:
        typer.echo(f"{crm}: every mapped field exists")
        return
    typer.echo(f"{crm}: {len(missing)} field(s) missing:")
    for spec in missing:
        kind = "Peerscore field" if spec.custom else "standard field (map it elsewhere or fix the mapping)"
        typer.echo(f"  {spec.object_name}.{spec.name}  ({kind})")


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

    from peerscore.db import make_engine, prepare_schema
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
        prepare_schema(engine, SCORING_TABLES)
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


@import_app.command("csv")
def import_csv_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="UTF-8 CSV, header row first"),
    source: str = typer.Option("csv", help="Source name recorded on every imported event"),
    skip_invalid: bool = typer.Option(False, help="Publish the valid rows and report the invalid ones"),
) -> None:
    """Validate a CSV of leads/events, then publish it to the events topic (nothing if any row is invalid)."""
    from rich.console import Console

    from peerscore.ingest.csv_command import import_csv

    raise typer.Exit(import_csv(file, source=source, skip_invalid=skip_invalid, console=Console()))


def _scoring_engine_and_ruleset(database_url: str) -> tuple[Any, Any]:
    from peerscore.db import make_engine, prepare_schema
    from peerscore.scoring.backtest.render import current_live_ruleset
    from peerscore.scoring.models import SCORING_TABLES
    from peerscore.scoring.settings import ScoringSettings

    engine = make_engine(database_url)
    prepare_schema(engine, SCORING_TABLES)
    return engine, current_live_ruleset(engine, ScoringSettings())


@app.command("train")
def train_cmd(
    database_url: str = typer.Option("sqlite:///var/scoring.db", envvar="DATABASE_URL", help="Scoring's database"),
    out: Path = typer.Option(Path("var/models/latest"), help="Where the model card (JSON, Markdown, PNG) goes"),
    promote: str | None = typer.Option(None, help="Promote the new version: champion or challenger"),
    min_positives: int | None = typer.Option(None, help="Train only with at least this many converted leads"),
    iterations: int = typer.Option(500, min=1, help="Most boosting rounds (early stopping usually ends sooner)"),
    dask: bool | None = typer.Option(None, "--dask/--no-dask", help="Train through LightGBM's Dask integration"),
    dask_scheduler: str | None = typer.Option(None, help="Dask scheduler address (default: a LocalCluster)"),
) -> None:
    """Train the conversion model on stored history + CRM outcomes, write its card and register it."""
    from rich.console import Console

    from peerscore.scoring.predictive.commands import run_train
    from peerscore.scoring.predictive.settings import PredictiveSettings

    if promote not in (None, "champion", "challenger"):
        raise typer.BadParameter("--promote must be champion or challenger")
    overrides: dict[str, Any] = {"min_positives": min_positives, "dask": dask, "dask_scheduler": dask_scheduler}
    settings = PredictiveSettings.model_validate({k: v for k, v in overrides.items() if v is not None})
    engine, ruleset = _scoring_engine_and_ruleset(database_url)
    try:
        code = run_train(engine, ruleset, settings, Console(), out=out, promote=promote, iterations=iterations)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    raise typer.Exit(code)


@app.command("drift")
def drift_cmd(
    database_url: str = typer.Option("sqlite:///var/scoring.db", envvar="DATABASE_URL", help="Scoring's database"),
    days: float = typer.Option(14, help="Recent period compared with the champion's training window"),
) -> None:
    """PSI per feature and for the probability: recent leads vs the champion's training window (exit 3 on alert)."""
    from rich.console import Console

    from peerscore.scoring.predictive.commands import run_drift
    from peerscore.scoring.predictive.settings import PredictiveSettings

    engine, ruleset = _scoring_engine_and_ruleset(database_url)
    try:
        code = run_drift(engine, ruleset, PredictiveSettings(), Console(), days)
    finally:
        engine.dispose()
    raise typer.Exit(code)


@app.command("generate-history")
def generate_history_cmd(
    database_url: str = typer.Option("sqlite:///var/scoring.db", envvar="DATABASE_URL", help="Scoring's database"),
    people: int = typer.Option(3000, min=10),
    days: int = typer.Option(150, min=45),
    seed: int = 7,
) -> None:
    """Write generated buyer journeys + CRM outcomes into scoring's history (to train a first model)."""
    from peerscore.scoring.predictive.commands import generate_history
    from peerscore.settings import IdentitySettings

    engine, _ = _scoring_engine_and_ruleset(database_url)
    secret = IdentitySettings().person_key_secret.get_secret_value().encode()
    try:
        events, outcomes = generate_history(engine, people, days, seed, secret, utcnow())
    finally:
        engine.dispose()
    typer.echo(f"wrote {events} events and {outcomes} outcomes of {people} people over {days} days")


def main() -> None:
    app()
