"""Scoring's ``peerscore`` commands (registered under the ``peerscore.commands`` entry point): ``backtest``,
``train``, ``drift`` and ``insights build``. They parse options and call the backtest and predictive modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress

from peerscore.events import utcnow

app = typer.Typer()


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


def scoring_engine_and_ruleset(database_url: str) -> tuple[Any, Any]:
    """Scoring's database, its schema prepared, and the live ruleset (what the model commands score with)."""
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
    force: bool = typer.Option(False, "--force", help="Make it champion even if it does not beat the rules"),
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
    engine, ruleset = scoring_engine_and_ruleset(database_url)
    try:
        code = run_train(
            engine,
            ruleset,
            settings,
            Console(),
            out=out,
            promote=promote,  # type: ignore[arg-type]
            iterations=iterations,
            force=force,
        )
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

    engine, ruleset = scoring_engine_and_ruleset(database_url)
    try:
        code = run_drift(engine, ruleset, PredictiveSettings(), Console(), days)
    finally:
        engine.dispose()
    raise typer.Exit(code)


insights_app = typer.Typer(help="The content and channel influence report.", no_args_is_help=True)
app.add_typer(insights_app, name="insights")


@insights_app.command("build")
def insights_build_cmd(
    database_url: str = typer.Option("sqlite:///var/scoring.db", envvar="DATABASE_URL", help="Scoring's database"),
    rebuild: bool = typer.Option(False, "--rebuild", help="Forget the per-person summaries and fold all history"),
    chunk: int = typer.Option(20_000, min=100, help="History rows read per transaction"),
) -> None:
    """Fold history past the watermark into per-person touches, recount the influence report, store it."""
    from peerscore.db import make_engine, prepare_schema
    from peerscore.scoring.insights.job import ConcurrentBuild, build
    from peerscore.scoring.models import SCORING_TABLES

    engine = make_engine(database_url)
    try:
        prepare_schema(engine, SCORING_TABLES)
        result = build(engine, chunk=chunk, rebuild=rebuild)
    except ConcurrentBuild as exc:
        typer.echo(f"not built: {exc}", err=True)
        raise typer.Exit(3) from None
    finally:
        engine.dispose()
    typer.echo(
        f"influence report built: {result.events_read:,} new events read, {result.people:,} people, "
        f"watermark {result.watermark}, {result.seconds:.1f} s"
    )
