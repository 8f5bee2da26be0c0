"""``peerscore import csv FILE``: import historical leads and events straight to the events topic.

Same rows, same normaliser and same all-or-nothing semantics as ``POST /v1/import/csv``
(:mod:`peerscore.ingest.csv_import`), but reading the file twice from disk, so its size is not bounded by
memory or an upload limit. Exit codes: 0 imported, 1 refused (invalid file or rows; nothing published),
2 interrupted (the broker failed; the output says what was published).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from peerscore.events import utcnow
from peerscore.ingest.csv_import import CsvImport, ImportInterrupted, ImportReport, run_import
from peerscore.ingest.csv_rows import CsvFormatError, RowError
from peerscore.ingest.settings import SOURCE_NAME, IngestSettings
from peerscore.kafka_io import make_publisher
from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings

SHOWN_ERRORS = 50


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from handle


def _print_errors(console: Console, errors: list[RowError]) -> None:
    for error in errors[:SHOWN_ERRORS]:
        console.print(f"  row {error.row}, column {error.column}: {error.message}", markup=False, highlight=False)
    if len(errors) > SHOWN_ERRORS:
        console.print(f"  … and {len(errors) - SHOWN_ERRORS} more")


def import_csv(path: Path, *, source: str, skip_invalid: bool, console: Console) -> int:
    """Run one import and print its report; returns the process exit code."""
    if not SOURCE_NAME.match(source):
        raise typer.BadParameter("lower-case letters, digits, '.', '_' or '-' (at most 64)", param_hint="--source")
    runtime = RuntimeSettings()
    identity = IdentitySettings().check(runtime)
    ingest = IngestSettings()
    kafka = KafkaSettings()
    job = CsvImport(
        open_lines=lambda: _lines(path),
        secret=identity.person_key_secret.get_secret_value().encode(),
        source=source,
        received_at=utcnow(),
        max_event_bytes=ingest.max_event_bytes,
    )
    publisher = make_publisher(kafka, "csv-import")
    try:
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("validating", total=None)

            def validated(report: ImportReport) -> None:
                progress.update(task, description="publishing", total=report.valid, completed=0)

            report = run_import(
                job,
                publisher,
                kafka.topics().events,
                skip_invalid=skip_invalid,
                chunk_rows=ingest.import_chunk_rows,
                on_validated=validated,
                on_published=lambda n: progress.advance(task, n),
            )
    except CsvFormatError as exc:
        console.print(f"{path.name}: cannot be imported, nothing was published")
        _print_errors(console, exc.errors)
        return 1
    except UnicodeDecodeError:
        console.print(f"{path.name}: is not UTF-8 text, nothing was published")
        return 1
    except ImportInterrupted as exc:
        console.print(f"{path.name}: interrupted. {exc}")
        return 2
    finally:
        publisher.close()
    if report.invalid_rows and not skip_invalid:
        console.print(
            f"{path.name}: {report.invalid_rows} of {report.rows} rows are invalid; nothing was published "
            "(fix them, or pass --skip-invalid to import the valid rows)"
        )
        _print_errors(console, report.errors)
        return 1
    console.print(f"{path.name}: published {report.published} of {report.rows} rows as source '{source}'")
    if report.invalid_rows:
        console.print(f"skipped {report.invalid_rows} invalid rows:")
        _print_errors(console, report.errors)
    return 0
