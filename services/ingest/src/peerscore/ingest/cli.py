"""Ingest's ``peerscore`` commands (registered under the ``peerscore.commands`` entry point): ``import csv``."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer()
import_app = typer.Typer(help="Import historical leads and events.", no_args_is_help=True)
app.add_typer(import_app, name="import")


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
