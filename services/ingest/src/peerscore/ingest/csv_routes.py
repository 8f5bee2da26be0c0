"""``POST /v1/import/csv``: a multipart CSV upload, imported with the semantics of :mod:`csv_import`.

The upload is bounded while it streams (413 past ``INGEST_MAX_IMPORT_BYTES``, before any parsing), the file
name is only ever echoed back — never used as a path — and names carrying directory parts are refused, so a
client bug or a hostile name (``../../etc/passwd``) is answered plainly instead of being trusted later.
"""

from __future__ import annotations

import functools
from typing import Any

import anyio.to_thread
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from peerscore.events import utcnow
from peerscore.ingest.auth import header_key, require_key
from peerscore.ingest.body import bad_request, check_declared_length, limited_stream
from peerscore.ingest.csv_import import CsvImport, ImportInterrupted, ImportReport, run_import
from peerscore.ingest.csv_rows import CsvFormatError
from peerscore.ingest.deps import IngestDep, IngestState
from peerscore.ingest.metrics import counted
from peerscore.ingest.rejections import BrokerUnavailable, InvalidCsv, InvalidRows, NotMultipart

log = structlog.get_logger(__name__)

router = APIRouter()

DEFAULT_SOURCE = "csv"
MAX_NAME_CHARS = 255
_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "Every valid row published and acknowledged; skipped rows listed in errors",
            "content": {"application/json": {"schema": {"type": "object", "required": ["rows", "published"]}}},
        },
        **{
            str(code): {"description": text, "content": {"application/json": {"schema": _ERROR}}}
            for code, text in (
                (400, "Invalid file or rows (nothing published)"),
                (401, "Missing or wrong write key"),
                (413, "Upload too large"),
                (415, "Not a multipart upload"),
                (503, "The broker failed part-way; the answer says what was published"),
            )
        },
    },
}


def safe_upload_name(name: str | None) -> str:
    """The client's file name for the report, refused if it tries to be a path."""
    if not name:
        return "upload.csv"
    if (
        len(name) > MAX_NAME_CHARS
        or "/" in name
        or "\\" in name
        or name in (".", "..")
        or any(ord(c) < 32 for c in name)
    ):
        raise bad_request("the upload's file name must be a plain file name", path="file.filename")
    return name


async def read_upload(request: Request, limit: int) -> tuple[str, str]:
    """(file name, text) of the one ``file`` part, read within ``limit`` bytes."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise NotMultipart("send the CSV as multipart/form-data")
    check_declared_length(request.headers, limit, what="upload", path="file")
    chunks = limited_stream(request.stream(), limit, what="upload", path="file")
    parser = MultiPartParser(request.headers, chunks, max_files=1, max_fields=4, max_part_size=64 * 1024)
    try:
        form = await parser.parse()
    except MultiPartException:
        raise bad_request("the body is not a valid multipart upload", path="file") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise bad_request("a file part named 'file' is required", path="file")
        name = safe_upload_name(upload.filename)
        data = await upload.read()
    finally:
        await form.close()
    try:
        return name, data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_request("the file is not UTF-8 text", path="file") from None


async def run_csv(
    state: IngestState, text: str, head: dict[str, object], *, source: str, skip_invalid: bool
) -> ImportReport:
    """Import the rows (off the event loop); 400 for a file that cannot be read, 503 with what was published."""
    job = CsvImport(
        open_lines=lambda: text.splitlines(keepends=True),
        secret=state.secret,
        source=source,
        received_at=utcnow(),
        max_event_bytes=state.settings.max_event_bytes,
    )
    run = functools.partial(
        run_import,
        job,
        state.sink.publisher,
        state.sink.topic,
        skip_invalid=skip_invalid,
        chunk_rows=state.settings.import_chunk_rows,
    )
    try:
        return await anyio.to_thread.run_sync(run)
    except CsvFormatError as exc:
        errors = [e.as_dict() for e in exc.errors]
        raise InvalidCsv("the file cannot be imported", extra={**head, "errors": errors}) from None
    except ImportInterrupted as exc:
        log.warning("csv_import_interrupted", published=exc.report.published, resume_row=exc.resume_row)
        extra = {**head, **exc.report.as_dict(), "resume_row": exc.resume_row}
        raise BrokerUnavailable(state.settings.retry_after_s, str(exc), extra=extra) from None


@router.post("/v1/import/csv", openapi_extra=OPENAPI)
async def import_csv(request: Request, state: IngestDep, skip_invalid: bool = False) -> JSONResponse:
    """Import one CSV upload; every valid row published and acknowledged, or an answer saying what was."""
    with counted(state.metrics, "import_csv"):
        matched = header_key(state.keys, request.headers) or require_key(state.keys, None)
        name, text = await read_upload(request, state.settings.max_import_bytes)
    source = matched.source or DEFAULT_SOURCE
    head: dict[str, object] = {"file": name, "source": source}
    report = await run_csv(state, text, head, source=source, skip_invalid=skip_invalid)
    log.info("csv_imported", rows=report.rows, published=report.published, invalid_rows=report.invalid_rows)
    if report.invalid_rows and not skip_invalid:
        message = f"{report.invalid_rows} invalid rows; nothing was published (fix them or use skip_invalid)"
        raise InvalidRows(message, extra={**head, **report.as_dict()})
    return JSONResponse({**head, **report.as_dict()})
