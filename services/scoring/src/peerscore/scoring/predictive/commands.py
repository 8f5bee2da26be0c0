"""What ``peerscore train`` and ``peerscore drift`` do (the commands in ``peerscore.scoring.cli`` only parse
options and call these)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.events import utcnow
from peerscore.scoring.domain.ruleset import Ruleset

from . import model_registry
from .dataset import DatasetConfig
from .drift import default_since, drift_report
from .pipeline import TrainRun, register_run, train_from_database
from .selection import verdict
from .settings import PredictiveSettings
from .training import TrainConfig


def run_train(
    engine: Engine,
    ruleset: Ruleset,
    settings: PredictiveSettings,
    console: Console,
    *,
    out: Path,
    promote: model_registry.Role | None,
    iterations: int,
    force: bool = False,
) -> int:
    """Train, write the card, register (and promote). Exit code: 0 trained, 2 rules fallback, 1 no history,
    4 registered but the champion promotion was refused (the model does not beat the rules; ``force`` overrides)."""
    dataset = DatasetConfig(horizon_days=settings.horizon_days, snapshot_every_days=settings.snapshot_every_days)
    config = TrainConfig(
        min_positives=settings.min_positives,
        num_boost_round=iterations,
        dask=settings.dask,
        dask_scheduler=settings.dask_scheduler,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeRemainingColumn(), console=console) as progress:
        replay = progress.add_task("replaying history (point in time)", total=None)
        boost = progress.add_task("boosting", total=iterations, visible=False)

        def on_iteration(done: int, total: int) -> None:
            progress.update(boost, completed=done, total=total, visible=True)

        run = train_from_database(
            engine,
            ruleset,
            dataset=dataset,
            config=config,
            out=out,
            on_events=lambda n: progress.advance(replay, n),
            on_iteration=on_iteration,
        )
    if run is None:
        console.print("[red]No event history stored yet: nothing to train on.[/red]")
        return 1
    if run.result.fallback_reason is not None:
        console.print(f"[yellow]Rules only: no model trained ({run.result.fallback_reason}).[/yellow]")
        console.print(f"Card: {run.card_path}")
        return 2
    return finish_run(engine, run, promote, console, force=force)


def finish_run(
    engine: Engine, run: TrainRun, promote: model_registry.Role | None, console: Console, *, force: bool
) -> int:
    """Register a trained run, try the promotion, rewrite the card with its version and print the comparison."""
    card = run.result.card
    refused: model_registry.RulesNotBeaten | None = None
    try:
        register_run(engine, run, promote, force=force)
    except model_registry.RulesNotBeaten as exc:
        refused = exc
    card["version"] = run.version
    if run.card_path is not None:
        from .card import write_card

        write_card(card, run.card_path.parent)
    _print_card(console, card)
    if refused is not None:
        console.print(f"[red]Registered model version {run.version}, not promoted: {refused}.[/red]")
        console.print("Promote it anyway with --force (recorded in the promotion's note).")
        return 4
    role = f", promoted to {promote}" if promote else f" (not promoted: POST /v1/models/{run.version}/promote)"
    if promote == "champion" and not verdict(card).beats_rules:
        role += " [yellow](forced past the rules check)[/yellow]"
    console.print(f"Registered model version {run.version}{role}. Card: {run.card_path}")
    return 0


def _print_card(console: Console, card: dict[str, Any]) -> None:
    table = Table(title=f"Held-out test period ({card['splits']['test']['rows']} leads)")
    table.add_column("metric")
    sides = [("model", "model"), ("rules", "rules only"), ("baseline", "baseline (logistic)")]
    for _, title in sides:
        table.add_column(title, justify="right")
    for key in ("roc_auc", "pr_auc", "top_decile_lift", "brier"):
        values = [card["test"].get(side, {}).get(key) for side, _ in sides]
        table.add_row(key, *(f"{v:.3f}" if v is not None else "–" for v in values))
    console.print(table)
    console.print(f"Promotion check: the model {verdict(card).reason()}.")


def run_drift(engine: Engine, ruleset: Ruleset, settings: PredictiveSettings, console: Console, days: float) -> int:
    with Session(engine) as session:
        champion = model_registry.current_roles(session).champion
        model = model_registry.get_version(session, champion) if champion is not None else None
    if model is None:
        console.print("No champion model: scoring is rules-only, nothing to compare.")
        return 1
    report = drift_report(
        engine,
        model,
        ruleset,
        since=default_since(utcnow(), days),
        warn=settings.drift_warn_psi,
        alert=settings.drift_alert_psi,
    )
    table = Table(title=f"Drift of model {model.version}: last {days:g} days vs training window (PSI)")
    table.add_column("feature")
    table.add_column("PSI", justify="right")
    table.add_column("level")
    if "score" in report:
        table.add_row("[bold]probability[/bold]", f"{report['score']['psi']:.3f}", report["score"]["level"])
    for row in report["features"][:15]:
        table.add_row(row["feature"], f"{row['psi']:.3f}", row["level"])
    console.print(table)
    console.print(json.dumps({k: report[k] for k in ("recent_rows", "alerts", "warnings")}))
    return 3 if report["alerts"] else 0


__all__ = ["finish_run", "run_drift", "run_train"]
