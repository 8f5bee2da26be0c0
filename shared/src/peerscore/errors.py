"""One error vocabulary for the services' HTTP APIs.

Routes used to raise ``HTTPException`` with a status picked on the spot, 46 times, so the same situation ("no
such ruleset", "the body is too large") answered differently from one service to the next. Domain and route
code raises one of these instead; the status lives with the error, and :func:`install_error_handlers` gives
every app the same body::

    {"error": "not_found", "detail": "no ruleset version 7"}

``detail`` keeps FastAPI's key (a string, or the list of field errors for a 400/422), so existing clients and
tests read it unchanged; ``error`` is a stable machine-readable code. Messages name fields and what was
expected, never the value sent: values may be personal data, and these bodies are logged by proxies.

The classes subclass ``HTTPException`` so that an app without the handler (or a test app built by hand) still
answers with the right status.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "ApiError",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "UnsupportedMediaType",
    "install_error_handlers",
]


class ApiError(HTTPException):
    """An error a client can act on: ``status`` and ``code`` are fixed per class, ``detail`` per raise."""

    status: ClassVar[int] = status.HTTP_500_INTERNAL_SERVER_ERROR
    code: ClassVar[str] = "internal"

    def __init__(self, detail: Any = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(self.status, detail if detail is not None else self.code.replace("_", " "), headers)

    def body(self) -> dict[str, Any]:
        """The JSON answer; a service's own errors may add keys (ingest adds ``message`` and report fields)."""
        return {"error": self.code, "detail": self.detail}


class InvalidInput(ApiError):
    """The request is malformed: a field is missing, of the wrong type or out of range (400)."""

    status = status.HTTP_400_BAD_REQUEST
    code = "invalid_input"


class Unauthorized(ApiError):
    """No credential, or one this service does not know (401, with a ``WWW-Authenticate`` challenge)."""

    status = status.HTTP_401_UNAUTHORIZED
    code = "unauthorized"

    def __init__(self, detail: Any = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail, headers=headers if headers is not None else {"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    """A known credential without the right for this action (403)."""

    status = status.HTTP_403_FORBIDDEN
    code = "forbidden"


class NotFound(ApiError):
    """The named thing does not exist, or is not visible to this caller (404)."""

    status = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Conflict(ApiError):
    """The request contradicts the current state, e.g. publishing over a newer version (409)."""

    status = status.HTTP_409_CONFLICT
    code = "conflict"


class PayloadTooLarge(ApiError):
    """The body (or one item of it) is over the documented limit (413)."""

    status = status.HTTP_413_CONTENT_TOO_LARGE
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    """The body is not in a format this endpoint reads (415)."""

    status = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_media_type"


class Unprocessable(ApiError):
    """Well-formed, but the content cannot be used, e.g. a ruleset that does not validate (422)."""

    status = status.HTTP_422_UNPROCESSABLE_CONTENT
    code = "unprocessable"


class Unavailable(ApiError):
    """A dependency (broker, database, CRM) cannot take the request now; retrying later can succeed (503)."""

    status = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "unavailable"

    def __init__(
        self, detail: Any = None, *, retry_after: float | None = None, headers: dict[str, str] | None = None
    ) -> None:
        hints = dict(headers or {})
        if retry_after is not None:
            hints.setdefault("Retry-After", str(max(1, round(retry_after))))
        super().__init__(detail, headers=hints or None)


_CODES = {
    status.HTTP_400_BAD_REQUEST: InvalidInput.code,
    status.HTTP_401_UNAUTHORIZED: Unauthorized.code,
    status.HTTP_403_FORBIDDEN: Forbidden.code,
    status.HTTP_404_NOT_FOUND: NotFound.code,
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_409_CONFLICT: Conflict.code,
    status.HTTP_413_CONTENT_TOO_LARGE: PayloadTooLarge.code,
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: UnsupportedMediaType.code,
    status.HTTP_422_UNPROCESSABLE_CONTENT: Unprocessable.code,
    status.HTTP_429_TOO_MANY_REQUESTS: "rate_limited",
    status.HTTP_503_SERVICE_UNAVAILABLE: Unavailable.code,
}


def error_code(exc: StarletteHTTPException) -> str:
    """The stable code for an exception: its class's, or the one its status maps to."""
    if isinstance(exc, ApiError):
        return exc.code
    return _CODES.get(exc.status_code, "internal" if exc.status_code >= 500 else "invalid_input")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Every HTTP error, raised by a route, a dependency or the framework (404 on an unknown path), in one shape."""
    assert isinstance(exc, StarletteHTTPException)
    body = exc.body() if isinstance(exc, ApiError) else {"error": error_code(exc), "detail": exc.detail}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Give ``app`` the shared error body. Request-validation errors keep FastAPI's own 422 handler: its body
    already names each field's path, and clients read it."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
