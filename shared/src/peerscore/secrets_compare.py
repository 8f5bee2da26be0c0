"""One constant-time comparison for every secret a request presents (tokens, signatures, cookies, CSRF tokens).

``hmac.compare_digest`` raises ``TypeError`` on a ``str`` that is not ASCII, and Starlette decodes headers as
Latin-1, so a single ``é`` in a signature header turned a refusal into an unauthenticated 500. Comparing the UTF-8
bytes of both sides never raises and still takes the same time whatever the content. Pure; no dependencies.
"""

from __future__ import annotations

import hmac
from typing import TypeGuard


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def secrets_equal(presented: str | bytes | None, expected: str | bytes) -> bool:
    """Whether a presented secret equals the expected one; ``None`` (not presented) is simply unequal."""
    if presented is None:
        return False
    return hmac.compare_digest(_as_bytes(presented), _as_bytes(expected))


def ascii_digits(value: str | None) -> TypeGuard[str]:
    """A decimal number written in ASCII: ``str.isdigit`` also accepts ``²`` or ``١``, which ``int()`` refuses."""
    return value is not None and value.isascii() and value.isdigit()
