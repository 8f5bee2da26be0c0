"""HTTP helpers shared by the services' FastAPI apps: bearer-token auth for personal-data and admin APIs, and
bounded body reads for endpoints that must not buffer whatever a stranger sends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import structlog
from fastapi import Header, HTTPException, Request, status

from peerscore.secrets_compare import ascii_digits, secrets_equal
from peerscore.settings import ApiAuthSettings, RuntimeSettings

log = structlog.get_logger(__name__)


def bearer_auth(auth: ApiAuthSettings, runtime: RuntimeSettings) -> Callable[[str | None], None]:
    """A dependency that requires ``Authorization: Bearer <PEERSCORE_API_TOKEN>`` outside dev.

    In dev with no token configured the APIs are open, and the service says so loudly at start.
    """
    token = auth.api_token.get_secret_value()
    if not token:
        if not runtime.is_dev:
            raise ValueError("PEERSCORE_API_TOKEN must be set outside dev")
        log.warning("api_open_without_token", hint="dev mode: lead and CRM APIs need no token")

    def require(authorization: str | None = Header(default=None)) -> None:
        if not token:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets_equal(given, token):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"}
            )

    return require


class BodyTooLarge(Exception):
    """More than the allowed bytes arrived; nothing past the limit was buffered."""


async def read_within(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as more than ``limit`` bytes have arrived."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            raise BodyTooLarge(f"request body is larger than {limit} bytes")
    return bytes(buffer)


async def read_body_or_413(request: Request, limit: int) -> bytes:
    """The body of a request that must stay small (webhooks): 413 on a declared or streamed size over ``limit``,
    before anything is parsed or authenticated, so a stranger cannot make the service buffer megabytes."""
    length = request.headers.get("content-length", "")
    too_large = HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"request body is larger than {limit} bytes")
    if ascii_digits(length) and int(length) > limit:
        raise too_large
    try:
        return await read_within(request.stream(), limit)
    except BodyTooLarge:
        raise too_large from None
