"""``POST /v1/import/csv``: a multipart CSV upload, imported with the semantics of :mod:`csv_import`.

The upload is bounded while it streams (413 past ``INGEST_MAX_IMPORT_BYTES``, before any parsing), the file
name is only ever echoed back — never used as a path — and names carrying directory parts are refused, so a
client bug or a hostile name (``../../etc/passwd``) is answered plainly instead of being trusted later.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable
from typing import Any

import anyio.to_thread
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from peerscore.events import utcnow
from peerscore.ingest.auth import WriteKeys, header_write_key
from peerscore.ingest.body import bad_request, too_large
from peerscore.ingest.csv_import import CsvImport, ImportInterrupted, run_import
from peerscore.ingest.csv_rows import CsvFormatError
from peerscore.ingest.errors import RequestRejected
from peerscore.ingest.settings import IngestSettings
from peerscore.kafka_io import Publisher
from peerscore.secrets_compare import ascii_digits

log = structlog.get_logger(__name__)

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


async def limited(chunks: AsyncGenerator[bytes, None], limit: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise too_large(f"upload is larger than {limit} bytes", path="file")
        yield chunk


async def read_upload(request: Request, limit: int) -> tuple[str, str]:
    """(file name, text) of the one ``file`` part, read within ``limit`` bytes."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise RequestRejected(415, "invalid", "unsupported_media_type", "send the CSV as multipart/form-data")
    length = request.headers.get("content-length", "")
    if ascii_digits(length) and int(length) > limit:
        raise too_large(f"upload is larger than {limit} bytes", path="file")
    parser = MultiPartParser(
        request.headers, limited(request.stream(), limit), max_files=1, max_fields=4, max_part_size=64 * 1024
    )
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


def add_csv_import_route(
    app: FastAPI,
    *,
    settings: IngestSettings,
    keys: WriteKeys,
    secret: bytes,
    topic: str,
    publisher: Callable[[], Publisher],
    rejected: Callable[[RequestRejected], JSONResponse],
) -> None:
    async def import_csv(request: Request, skip_invalid: bool = False) -> JSONResponse:
        presented = header_write_key(request.headers.get("authorization"), request.headers.get("x-write-key"))
        matched = keys.match(presented)
        try:
            if matched is None:
                raise RequestRejected(401, "auth", "unauthorized", "missing or wrong write key")
            name, text = await read_upload(request, settings.max_import_bytes)
        except RequestRejected as exc:
            return rejected(exc)
        source = matched.source or DEFAULT_SOURCE
        job = CsvImport(
            open_lines=lambda: text.splitlines(keepends=True),
            secret=secret,
            source=source,
            received_at=utcnow(),
            max_event_bytes=settings.max_event_bytes,
        )
        run = functools.partial(
            run_import,
            job,
            publisher(),
            topic,
            skip_invalid=skip_invalid,
            chunk_rows=settings.import_chunk_rows,
        )
        head: dict[str, object] = {"file": name, "source": source}
        try:
            report = await anyio.to_thread.run_sync(run)
        except CsvFormatError as exc:
            errors = [e.as_dict() for e in exc.errors]
            body: dict[str, object] = {
                "error": "invalid_csv",
                "message": "the file cannot be imported",
                **head,
                "errors": errors,
            }
            return JSONResponse(body, 400)
        except ImportInterrupted as exc:
            log.warning("csv_import_interrupted", published=exc.report.published, resume_row=exc.resume_row)
            body = {"error": "unavailable", "message": str(exc), **head, **exc.report.as_dict()}
            return JSONResponse(
                {**body, "resume_row": exc.resume_row}, 503, headers={"Retry-After": str(settings.retry_after_s)}
            )
        log.info("csv_imported", rows=report.rows, published=report.published, invalid_rows=report.invalid_rows)
        if report.invalid_rows and not skip_invalid:
            message = f"{report.invalid_rows} invalid rows; nothing was published (fix them or use skip_invalid)"
            return JSONResponse({"error": "invalid_rows", "message": message, **head, **report.as_dict()}, 400)
        return JSONResponse({**head, **report.as_dict()})

    app.add_api_route("/v1/import/csv", import_csv, methods=["POST"], openapi_extra=OPENAPI)
