"""LinkedIn's webhook security: the validation challenge and the ``X-LI-Signature`` of each notification.

Both are HMAC-SHA256 keyed with the application's client secret, hex encoded (LinkedIn API guide, "Webhook
validation"): the challenge over the ``challengeCode`` itself, a notification over ``"hmacsha256=" + raw body``.
The body must be hashed exactly as received, before any JSON parsing.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-LI-Signature"
_SIGNED_PREFIX = b"hmacsha256="


def challenge_response(client_secret: bytes, challenge_code: str) -> str:
    return hmac.new(client_secret, challenge_code.encode(), hashlib.sha256).hexdigest()


def expected_signature(client_secret: bytes, raw_body: bytes) -> str:
    return hmac.new(client_secret, _SIGNED_PREFIX + raw_body, hashlib.sha256).hexdigest()


def signature_valid(client_secret: bytes, raw_body: bytes, presented: str | None) -> bool:
    """Constant-time comparison; a missing header, or one that is not ASCII, is simply invalid."""
    if not presented or not presented.isascii():
        return False
    candidate = presented.strip().lower()
    candidate = candidate.removeprefix("hmacsha256=")  # tolerate senders that repeat the prefix in the header
    return hmac.compare_digest(expected_signature(client_secret, raw_body), candidate)
