"""The ingest API's answers to requests it refuses, as :mod:`peerscore.errors` classes.

Each class carries its HTTP status and stable ``error`` code (from the shared vocabulary) plus ``reason``, the
label of the ``peerscore_ingest_rejected_requests_total`` metric. SDKs and tests read two things from these
bodies: ``message`` (one sentence) and ``detail``, the list of field paths at fault (``batch[3]`` is over 32 KB),
so a client can find what to split or fix. :meth:`RequestRejected.body` adds them to the shared handler's
``{"error", "detail"}``; errors without a message (:class:`InvalidEvents`, :class:`InvalidChallenge`) keep it as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from peerscore.errors import (
    ApiError,
    InvalidInput,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from peerscore.ingest.errors import FieldError, InvalidEvent

MAX_REPORTED_ERRORS = 100
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="peerscore"'}


class RequestRejected(ApiError):
    """The request as a whole is unacceptable (credential, size, encoding, syntax, broker down).

    ``detail`` (the field paths at fault, else the message) is what the shared handler would render too;
    ``extra`` adds top-level keys to the body (the CSV import's report of what was published).
    """

    reason: ClassVar[str] = "invalid"

    def __init__(
        self,
        message: str,
        detail: Sequence[FieldError] = (),
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        self.message = message
        self.fields = [d.as_dict() for d in detail[:MAX_REPORTED_ERRORS]]
        self.extra = dict(extra or {})
        super().__init__(self.fields or message, headers=dict(headers) if headers is not None else None)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.fields:
            body["detail"] = self.fields
        return {**body, **self.extra}


class BodyTooLarge(RequestRejected, PayloadTooLarge):
    """The body, the batch or one call of it is over its limit (413)."""

    reason = "too_large"


class InvalidBody(RequestRejected, InvalidInput):
    """Not gzip, not JSON, nested too deep, not a multipart upload (400)."""

    code = "invalid_body"


class UnsupportedEncoding(RequestRejected, UnsupportedMediaType):
    """A ``Content-Encoding`` other than gzip or identity (415)."""

    code = "unsupported_encoding"


class NotMultipart(RequestRejected, UnsupportedMediaType):
    """The CSV import was not sent as ``multipart/form-data`` (415)."""


class Unauthenticated(RequestRejected, Unauthorized):
    """No write key, a wrong one, or a webhook whose signature does not verify (401)."""

    reason = "auth"

    def __init__(self, message: str = "missing or wrong write key", *, challenge: bool = True) -> None:
        super().__init__(message, headers=BASIC_CHALLENGE if challenge else {})


class BrokerUnavailable(RequestRejected, Unavailable):
    """Kafka did not acknowledge in time: nothing is claimed accepted, the client retries (503)."""

    reason = "unavailable"

    def __init__(
        self, retry_after_s: int, message: str = "event broker unavailable", extra: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)}, extra=extra)


class UpstreamUnavailable(BrokerUnavailable):
    """LinkedIn's API did not answer: LinkedIn redelivers the notification later (503)."""

    code = "upstream_unavailable"
    reason = "linkedin_unavailable"


class InvalidCsv(RequestRejected, InvalidInput):
    """The file cannot be imported at all (header, encoding): the body lists the row errors (400)."""

    code = "invalid_csv"


class InvalidRows(RequestRejected, InvalidInput):
    """Some rows are invalid and ``skip_invalid`` is off: nothing was published (400)."""

    code = "invalid_rows"


class InvalidEvents(InvalidInput):
    """Calls that cannot be normalised; ``detail`` lists every field path at fault (400, nothing published)."""

    code = "invalid_event"
    reason: ClassVar[str] = "invalid"

    def __init__(self, exc: InvalidEvent) -> None:
        super().__init__([e.as_dict() for e in exc.errors[:MAX_REPORTED_ERRORS]])
        self.paths = [e.path for e in exc.errors]


class InvalidChallenge(InvalidInput):
    """A LinkedIn validation challenge without a UUID-shaped code (400)."""

    code = "invalid_challenge"

    def __init__(self) -> None:
        super().__init__([{"path": "challengeCode", "message": "is required and must be a UUID as LinkedIn sends it"}])
