"""Reading a request body safely: bounded size, gzip without bombs, JSON without pathological nesting.

Every limit is enforced on the bytes as they arrive or decompress, never after materialising an unbounded
buffer, so one hostile request cannot exhaust the process's memory. Every size check of the ingest API lives
here: the declared ``Content-Length``, the bytes read, the decompressed bytes, the calls per batch and the
bytes per call.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

import orjson

from peerscore.api import BodyTooLarge as BodyOverLimit
from peerscore.api import read_within
from peerscore.ingest.errors import FieldError
from peerscore.ingest.rejections import BodyTooLarge, InvalidBody, UnsupportedEncoding
from peerscore.secrets_compare import ascii_digits

MAX_JSON_DEPTH = 32


def too_large(message: str, path: str = "$", detail: Sequence[FieldError] = ()) -> BodyTooLarge:
    """413 naming where: ``$`` is the whole body, ``batch`` the list, ``batch[3]`` one call."""
    return BodyTooLarge(message, detail or [FieldError(path, message)])


def bad_request(message: str, path: str = "$") -> InvalidBody:
    return InvalidBody(message, [FieldError(path, message)])


def check_declared_length(headers: Mapping[str, str], limit: int, what: str = "request body", path: str = "$") -> None:
    """413 before reading anything when ``Content-Length`` already says the body is over ``limit``."""
    length = headers.get("content-length", "")
    if ascii_digits(length) and int(length) > limit:
        raise too_large(f"{what} is larger than {limit} bytes", path=path)


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, or 413 as soon as more than ``limit`` bytes have arrived."""
    try:
        return await read_within(chunks, limit)
    except BodyOverLimit as exc:
        raise too_large(str(exc)) from None


async def limited_stream(
    chunks: AsyncGenerator[bytes, None], limit: int, what: str, path: str
) -> AsyncGenerator[bytes, None]:
    """``chunks`` passed on as they arrive, and 413 as soon as more than ``limit`` bytes have (for parsers that
    read a stream themselves, like the multipart parser)."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise too_large(f"{what} is larger than {limit} bytes", path=path)
        yield chunk


async def read_json_body(headers: Mapping[str, str], chunks: AsyncIterator[bytes], limit: int) -> dict[str, Any]:
    """A JSON object of at most ``limit`` bytes, compressed or not (the Segment SDKs gzip their batches)."""
    check_declared_length(headers, limit)
    raw = await read_limited(chunks, limit)
    return parse_json(decode(raw, headers.get("content-encoding"), limit))


def check_call_sizes(calls: Sequence[Any], prefix: str, *, max_calls: int, max_call_bytes: int) -> None:
    """413 naming every call over the per-call limit (``batch[7]``; ``$`` for a single-call body)."""
    if len(calls) > max_calls:
        raise too_large(f"batch holds more than {max_calls} calls", path=prefix)
    message = f"is larger than {max_call_bytes} bytes"
    oversized = [
        FieldError(f"{prefix}[{index}]" if prefix else "$", message)
        for index, call in enumerate(calls)
        if serialised_size(call) > max_call_bytes
    ]
    if oversized:
        more = f" (and {len(oversized) - 1} more, see detail)" if len(oversized) > 1 else ""
        raise too_large(f"{oversized[0].path} {message}{more}", detail=oversized)


def gunzip_limited(data: bytes, limit: int) -> bytes:
    """Decompress (possibly multi-member) gzip, producing at most ``limit + 1`` bytes before refusing."""
    out = bytearray()
    remaining = data
    while remaining:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += decompressor.decompress(remaining, limit + 1 - len(out))
        except zlib.error:
            raise bad_request("body is not valid gzip") from None
        if len(out) > limit:
            raise too_large(f"decompressed body is larger than {limit} bytes")
        if not decompressor.eof:
            raise bad_request("gzip body is truncated")
        remaining = decompressor.unused_data
    return bytes(out)


def decode(data: bytes, content_encoding: str | None, limit: int) -> bytes:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        return gunzip_limited(data, limit)
    if encoding == "identity":
        return data
    raise UnsupportedEncoding("Content-Encoding must be gzip or identity")


def check_depth(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse objects/arrays nested deeper than ``max_depth``; iterative, so depth cannot blow the stack.

    Walks one level at a time and only through containers (scalars are most of a batch), which keeps this
    check a small fraction of the request's cost.
    """
    level = [value] if type(value) in (dict, list) else []
    depth = 1
    while level:
        below: list[Any] = []
        for node in level:
            children = node.values() if type(node) is dict else node
            below.extend(child for child in children if type(child) in (dict, list))
        if below and depth >= max_depth:
            raise bad_request(f"JSON is nested deeper than {max_depth} levels")
        level = below
        depth += 1


def parse_json(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """A JSON object, or 400. orjson refuses invalid UTF-8, NaN and >1024 levels by itself."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise bad_request("body is not valid JSON") from None
    check_depth(value, max_depth)
    if not isinstance(value, dict):
        raise bad_request("body must be a JSON object")
    return value


def serialised_size(call: Any) -> int:
    """Size of one call as compact JSON: the unit Segment's 32 KB per-event limit is measured in."""
    return len(orjson.dumps(call))
