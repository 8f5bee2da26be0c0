"""HTTP helpers shared by the services' FastAPI apps: bearer-token auth for personal-data and admin APIs, and
bounded body reads for endpoints that must not buffer whatever a stranger sends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import structlog
from fastapi import Header, HTTPException, Request, Response, status
from starlette.types import ASGIApp, Receive, Scope, Send

from peerscore.secrets_compare import ascii_digits, secrets_equal
from peerscore.settings import ApiAuthSettings, RuntimeSettings

log = structlog.get_logger(__name__)


BearerCheck = Callable[[str | None], None]


@dataclass(frozen=True)
class ApiAccess:
    """Two FastAPI dependencies: ``read`` accepts the read or the admin token, ``admin`` only the admin token
    (401 without a known token, 403 for the read token on an admin route)."""

    read: BearerCheck
    admin: BearerCheck


def api_access(auth: ApiAuthSettings, runtime: RuntimeSettings, *, serves_admin: bool = True) -> ApiAccess:
    """The read and admin checks for these settings. Outside dev an admin token is required (a read token is
    enough for a service with no admin routes, ``serves_admin=False``); in dev without any token the APIs are
    open, and the service says so loudly at start."""
    auth.check(runtime)
    admin, read = auth.admin(), auth.read_token.get_secret_value()
    if auth.api_token.get_secret_value():
        log.warning(
            "deprecated_api_token",
            hint="PEERSCORE_API_TOKEN acts as PEERSCORE_ADMIN_TOKEN for one release; give readers PEERSCORE_READ_TOKEN",
        )
    if not admin:
        if not runtime.is_dev and (serves_admin or not read):
            needed = "PEERSCORE_ADMIN_TOKEN" if serves_admin else "PEERSCORE_READ_TOKEN (or the admin token)"
            raise ValueError(f"{needed} must be set outside dev (PEERSCORE_API_TOKEN is its deprecated name)")
        if not read:
            log.warning("api_open_without_token", hint="dev mode: lead and CRM APIs need no token")
    open_in_dev = not admin and not read

    def presented(authorization: str | None) -> str | None:
        scheme, _, given = (authorization or "").partition(" ")
        return given if scheme.lower() == "bearer" and given else None

    def matches(given: str | None, token: str) -> bool:
        return bool(token) and secrets_equal(given, token)

    def unauthorized() -> HTTPException:
        return HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"}
        )

    def require_read(authorization: str | None = Header(default=None)) -> None:
        if open_in_dev:
            return
        given = presented(authorization)
        is_admin, is_read = matches(given, admin), matches(given, read)  # both compared, no early exit
        if not (is_admin or is_read):
            raise unauthorized()

    def require_admin(authorization: str | None = Header(default=None)) -> None:
        if open_in_dev:
            return
        given = presented(authorization)
        if matches(given, admin):
            return
        if matches(given, read):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the read token cannot do this: use the admin token")
        raise unauthorized()

    return ApiAccess(read=require_read, admin=require_admin)


def bearer_auth(auth: ApiAuthSettings, runtime: RuntimeSettings) -> BearerCheck:
    """The read check alone, for apps that only serve reads (kept for callers of the single-token API)."""
    return api_access(auth, runtime).read


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


def deprecate_email_in_url(response: Response, *, endpoint: str, successor: str) -> None:
    """Mark a response from an old route that carries an email in its URL (where proxies and access logs keep it):
    ``Deprecation`` and the successor link for clients, a warning naming the route — never the email — for
    operators. The old routes stay for one release."""
    response.headers["Deprecation"] = "true"
    response.headers["Link"] = f'<{successor}>; rel="successor-version"'
    log.warning("email_in_url_deprecated", endpoint=endpoint, successor=successor)


class RefuseNulInUrl:
    """ASGI middleware answering 400 to a path or query string carrying U+0000 (``%00``).

    Why: PostgreSQL text can neither store nor compare a NUL, so a route passing such a parameter to a query
    fails with a DataError (a 500) while SQLite answers normally. No parameter of ours can hold one; refusing
    it here covers every route, present and future, the way the contracts' ``NO_NUL`` pattern covers bodies.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            await Response(
                '{"detail":"a NUL character (%00) is not allowed in the URL"}',
                status_code=status.HTTP_400_BAD_REQUEST,
                media_type="application/json",
            )(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    query = bytes(scope.get("query_string", b"")).lower()
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query
