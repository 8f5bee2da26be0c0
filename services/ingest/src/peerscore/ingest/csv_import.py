"""Importing a CSV file: validate every row first, then publish in acknowledged chunks.

Semantics (the same for ``peerscore import csv`` and ``POST /v1/import/csv``):

1. The whole file is read once to validate it. Any file-level problem (no header, unknown column, broken
   quoting) refuses the file. If any row is invalid, nothing is published and every bad row is reported
   (row, column, reason) — unless ``skip_invalid`` is set, in which case the valid rows are published and
   the skipped rows are reported.
2. The file is read a second time and the valid rows are published in chunks; each chunk is acknowledged by
   Kafka (``acks=all``) before the next one is sent, and before the import is reported done.
3. If the broker fails mid-way, :class:`ImportInterrupted` says how many rows were acknowledged and from which
   row to resume. Rows without ``message_id`` get ids derived from their content, so simply re-running the
   import is safe: rows already published carry the same ``event_id`` and are deduplicated downstream.

Reading twice instead of keeping every event in memory lets the CLI import files of any size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from peerscore.events import EngagementEvent
from peerscore.ingest.csv_rows import RowError, normalise_rows
from peerscore.kafka_io import Publisher, record

MAX_REPORTED = 1000


@dataclass
class ImportReport:
    rows: int = 0
    valid: int = 0
    published: int = 0
    errors: list[RowError] = field(default_factory=list)
    invalid_rows: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "published": self.published,
            "invalid_rows": self.invalid_rows,
            "errors": [e.as_dict() for e in self.errors[:MAX_REPORTED]],
            "errors_truncated": len(self.errors) > MAX_REPORTED,
        }


class ImportInterrupted(Exception):
    """Publishing stopped part-way; ``published`` rows (all before ``resume_row``) were acknowledged."""

    def __init__(self, report: ImportReport, resume_row: int, cause: Exception) -> None:
        super().__init__(
            f"{report.published} rows were published before the broker failed ({type(cause).__name__}); "
            f"resume from row {resume_row}, or re-run the whole import (published rows are deduplicated)"
        )
        self.report = report
        self.resume_row = resume_row


@dataclass(frozen=True)
class CsvImport:
    """One import: where the lines come from (callable, so the file can be read twice) and how to publish."""

    open_lines: Callable[[], Iterable[str]]
    secret: bytes
    source: str
    received_at: datetime
    max_event_bytes: int

    def _results(self) -> Iterable[tuple[int, EngagementEvent | None, tuple[RowError, ...]]]:
        for result in normalise_rows(
            self.open_lines(),
            secret=self.secret,
            received_at=self.received_at,
            source=self.source,
            max_event_bytes=self.max_event_bytes,
        ):
            yield result.row, result.event, result.errors

    def validate(self, on_row: Callable[[int], None] | None = None) -> ImportReport:
        """Pass 1: count rows and collect every error. Raises ``CsvFormatError`` for file-level problems."""
        report = ImportReport()
        for _row, event, errors in self._results():
            report.rows += 1
            if event is None:
                report.invalid_rows += 1
                report.errors.extend(errors)
            else:
                report.valid += 1
            if on_row is not None:
                on_row(1)
        return report

    def publish(
        self,
        report: ImportReport,
        publisher: Publisher,
        topic: str,
        *,
        chunk_rows: int,
        on_published: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Pass 2: publish the valid rows in acknowledged chunks; ``report`` comes from :meth:`validate`."""
        chunk: list[EngagementEvent] = []
        first_row_of_chunk = 0

        def flush() -> None:
            try:
                publisher.publish([record(topic, e.person_key, e) for e in chunk], wait=True)
            except Exception as exc:  # any failure to get an ack: report exactly what did land
                raise ImportInterrupted(report, first_row_of_chunk, exc) from exc
            report.published += len(chunk)
            if on_published is not None:
                on_published(len(chunk))
            chunk.clear()

        for row, event, _errors in self._results():
            if event is None:
                continue
            if not chunk:
                first_row_of_chunk = row
            chunk.append(event)
            if len(chunk) >= chunk_rows:
                flush()
        if chunk:
            flush()
        return report


def run_import(
    job: CsvImport,
    publisher: Publisher,
    topic: str,
    *,
    skip_invalid: bool,
    chunk_rows: int,
    on_validated: Callable[[ImportReport], None] | None = None,
    on_published: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate, then publish unless invalid rows refuse the file (see the module docstring)."""
    report = job.validate()
    if on_validated is not None:
        on_validated(report)
    if report.invalid_rows and not skip_invalid:
        return report
    return job.publish(report, publisher, topic, chunk_rows=chunk_rows, on_published=on_published)
