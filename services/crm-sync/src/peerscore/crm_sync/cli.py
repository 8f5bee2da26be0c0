"""crm-sync's ``peerscore`` commands (registered under the ``peerscore.commands`` entry point): ``crm replay``,
``crm check`` and ``crm setup``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress

app = typer.Typer()
crm_app = typer.Typer(help="CRM sync operations.", no_args_is_help=True)
app.add_typer(crm_app, name="crm")


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
