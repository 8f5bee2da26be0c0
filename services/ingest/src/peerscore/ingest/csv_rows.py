"""CSV rows of historical leads and events → Segment calls → events, through the same normaliser as HTTP.

Pure: no Kafka, no files. A row becomes the Segment call a tracking plan would have sent, then
:func:`peerscore.ingest.normalise.normalise_call` turns it into an event, so a CSV import and a live SDK
produce the same event for the same fact. Errors name the row (the header is row 1, as in a spreadsheet) and
the *column*, never the value (it may be personal data).

Columns (header names are case-insensitive; spaces and dashes count as underscores):

* identity, at least one: ``email``, ``user_id``, ``anonymous_id``;
* what happened: ``type`` (track, identify, page, screen, group, alias; default ``track`` when ``event`` is
  set, else ``identify``), ``event``, ``timestamp`` (ISO 8601 with a zone; import time when empty),
  ``message_id`` (the dedup key; when empty a hash of the row and source, so re-importing a file is harmless),
  ``url``, ``path``, ``referrer``, ``name``, ``group_id``, ``previous_id``;
* the person: ``first_name``, ``last_name``, ``title``, ``seniority``, ``function``, ``country``;
* the account: ``company``, ``domain``, ``employees``, ``industry``;
* anything else: ``properties.<key>``, ``traits.<key>``, and ``consent.<category>`` (true/false, yes/no, 1/0).

An unknown column refuses the whole file: a misspelt column would otherwise drop its data silently.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from peerscore.events import EngagementEvent
from peerscore.ingest.errors import InvalidEvent
from peerscore.ingest.normalise import CALL_TYPES, generated_event_id, normalise_call

PERSON_COLUMNS = ("first_name", "last_name", "title", "seniority", "function", "country")
ACCOUNT_COLUMNS = ("company", "domain", "employees", "industry")
PAGE_COLUMNS = ("url", "path", "referrer")
CALL_COLUMNS = {
    "email": "email",
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "type": "type",
    "event": "event",
    "timestamp": "timestamp",
    "message_id": "messageId",
    "name": "name",
    "group_id": "groupId",
    "previous_id": "previousId",
}
KNOWN_COLUMNS = frozenset(CALL_COLUMNS) | frozenset(PERSON_COLUMNS + ACCOUNT_COLUMNS + PAGE_COLUMNS)
PREFIXES = ("properties.", "traits.", "consent.")
_COLUMN_OF_FIELD = {field: column for column, field in CALL_COLUMNS.items()}
_TRUE = frozenset({"true", "yes", "1", "y"})
_FALSE = frozenset({"false", "no", "0", "n"})
_SEPARATORS = re.compile(r"[\s\-]+")


@dataclass(frozen=True)
class RowError:
    """``row`` counts the header as row 1; ``column`` is the header name (``*`` for the row as a whole)."""

    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "message": self.message}


class CsvFormatError(Exception):
    """The file as a whole cannot be read (no header, unknown columns, broken quoting): nothing is imported."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(f"row {e.row} {e.column}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class RowResult:
    row: int
    event: EngagementEvent | None
    errors: tuple[RowError, ...] = ()


def column_name(raw: str) -> str:
    return _SEPARATORS.sub("_", raw.strip().lower())


def check_header(header: list[str]) -> list[str]:
    columns = [column_name(h) for h in header]
    errors: list[RowError] = []
    seen: set[str] = set()
    for original, column in zip(header, columns, strict=True):
        if column in seen:
            errors.append(RowError(1, original, "appears twice"))
        seen.add(column)
        prefix = next((p for p in PREFIXES if column.startswith(p)), None)
        if prefix is not None and len(column) > len(prefix):
            continue
        if column not in KNOWN_COLUMNS:
            errors.append(RowError(1, original or f"#{len(seen)}", "is not a known column (see the import format)"))
    if not ({"email", "user_id", "anonymous_id"} & seen):
        errors.append(RowError(1, "*", "needs an email, user_id or anonymous_id column"))
    if errors:
        raise CsvFormatError(errors)
    return columns


def read_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(row number, {column: value})`` for every non-empty data row; :class:`CsvFormatError` if unreadable."""
    reader = csv.reader(lines, strict=True)
    row = 1
    try:
        header = next(reader, None)
        if not header:
            raise CsvFormatError([RowError(1, "*", "the file is empty; the first row must be the header")])
        columns = check_header(header)
        for row, values in enumerate(reader, start=2):  # noqa: B007 - ``row`` is reported on csv.Error
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                yield row, {"\0": f"has {len(values)} fields, the header has {len(columns)}"}
                continue
            yield row, {c: v.strip() for c, v in zip(columns, values, strict=True) if v.strip()}
    except csv.Error as exc:
        raise CsvFormatError([RowError(row + 1, "*", f"unreadable CSV: {type(exc).__name__}")]) from None


def _flag(value: str) -> bool | None:
    lowered = value.lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


def row_to_call(values: Mapping[str, str], source: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The Segment call for one row, and (column, message) problems found before normalisation."""
    problems: list[tuple[str, str]] = []
    kind = values.get("type", "").lower() or ("track" if "event" in values else "identify")
    call: dict[str, Any] = {CALL_COLUMNS[c]: v for c, v in values.items() if c in CALL_COLUMNS and c != "email"}
    call["type"] = kind
    traits: dict[str, Any] = {c: values[c] for c in PERSON_COLUMNS if c in values}
    if "email" in values:
        traits["email"] = values["email"]
    company = {"name": values.get("company"), "domain": values.get("domain"), "industry": values.get("industry")}
    company["employee_count"] = values.get("employees")
    company = {k: v for k, v in company.items() if v is not None}
    properties: dict[str, Any] = {c: values[c] for c in PAGE_COLUMNS if c in values}
    consent: dict[str, bool] = {}
    for column, value in values.items():
        if column.startswith("properties."):
            properties[column.removeprefix("properties.")] = value
        elif column.startswith("traits."):
            traits[column.removeprefix("traits.")] = value
        elif column.startswith("consent."):
            flag = _flag(value)
            if flag is None:
                problems.append((column, "must be true or false"))
            else:
                consent[column.removeprefix("consent.")] = flag
    if company:
        traits["company"] = company
    context: dict[str, Any] = {"traits": traits}
    if consent:
        context["consent"] = {"categoryPreferences": consent}
    call["context"] = context
    if properties:
        call["properties"] = properties
    if kind == "identify":
        call["traits"] = traits
    elif kind == "group":
        call["traits"] = {k: v for k, v in company.items()}
    if "messageId" not in call:
        call["messageId"] = "csv:" + generated_event_id(call, namespace=source).removeprefix("sha256:")
    return call, problems


def _column_for(path: str) -> str:
    head = path.split(".", 1)[0]
    if head in _COLUMN_OF_FIELD:
        return _COLUMN_OF_FIELD[head]
    if path.startswith("properties."):
        return path
    if path.startswith("context.consent.categoryPreferences."):
        return "consent." + path.removeprefix("context.consent.categoryPreferences.")
    if path.startswith(("traits.", "context.traits.")):
        return "traits." + path.rsplit(".", 1)[-1]
    return "*"


def normalise_row(
    row: int,
    values: Mapping[str, str],
    *,
    secret: bytes,
    received_at: datetime,
    source: str,
    max_event_bytes: int,
) -> RowResult:
    if "\0" in values:
        return RowResult(row, None, (RowError(row, "*", values["\0"]),))
    call, problems = row_to_call(values, source)
    errors = [RowError(row, column, message) for column, message in problems]
    if call["type"] not in CALL_TYPES:
        errors.append(RowError(row, "type", "must be one of " + ", ".join(CALL_TYPES)))
    if len(orjson.dumps(call)) > max_event_bytes:
        errors.append(RowError(row, "*", f"is larger than {max_event_bytes} bytes as an event"))
    if errors:
        return RowResult(row, None, tuple(errors))
    try:
        event = normalise_call(call, secret=secret, received_at=received_at, source=source, email_identifies=True)
    except InvalidEvent as exc:
        found = tuple(RowError(row, _column_for(e.path), e.message) for e in exc.errors)
        return RowResult(row, None, found)
    return RowResult(row, event)


def normalise_rows(
    lines: Iterable[str], *, secret: bytes, received_at: datetime, source: str, max_event_bytes: int
) -> Iterator[RowResult]:
    """Every data row as an event or its errors; raises :class:`CsvFormatError` for file-level problems."""
    for row, values in read_rows(lines):
        yield normalise_row(
            row, values, secret=secret, received_at=received_at, source=source, max_event_bytes=max_event_bytes
        )
