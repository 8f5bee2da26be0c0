"""HTTP helpers shared by the services' FastAPI apps: bearer-token auth for personal-data and admin APIs."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from fastapi import Header, HTTPException, status

from peerscore.secrets_compare import secrets_equal
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
