"""LinkedIn's webhook security: the validation challenge and the ``X-LI-Signature`` of each notification.

Both are HMAC-SHA256 keyed with the application's client secret, hex encoded (LinkedIn API guide, "Webhook
validation"): the challenge over the ``challengeCode`` itself, a notification over ``"hmacsha256=" + raw body``.
The body must be hashed exactly as received, before any JSON parsing.

The two share one key and one algorithm, so an endpoint that answered any challenge would sign any body: the
answer for ``"hmacsha256=" + body`` *is* that body's signature. LinkedIn's challenge code is a type-4 UUID, so
only that shape is answered; it contains no ``=`` and can never begin with the notification prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from peerscore.secrets_compare import secrets_equal

SIGNATURE_HEADER = "X-LI-Signature"
_SIGNED_PREFIX = b"hmacsha256="
_CHALLENGE_SHAPE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def challenge_code_acceptable(challenge_code: str) -> bool:
    """A UUID-shaped code only: anything else could collide with the signed-notification domain."""
    return _CHALLENGE_SHAPE.fullmatch(challenge_code) is not None


def challenge_response(client_secret: bytes, challenge_code: str) -> str:
    if not challenge_code_acceptable(challenge_code):
        raise ValueError("challenge code is not UUID-shaped; answering it could sign a notification")
    return hmac.new(client_secret, challenge_code.encode(), hashlib.sha256).hexdigest()


def expected_signature(client_secret: bytes, raw_body: bytes) -> str:
    return hmac.new(client_secret, _SIGNED_PREFIX + raw_body, hashlib.sha256).hexdigest()


def signature_valid(client_secret: bytes, raw_body: bytes, presented: str | None) -> bool:
    """Constant-time comparison; a missing header is simply invalid."""
    if not presented:
        return False
    candidate = presented.strip().lower()
    candidate = candidate.removeprefix("hmacsha256=")  # tolerate senders that repeat the prefix in the header
    return secrets_equal(candidate, expected_signature(client_secret, raw_body))
