"""The Peerscore webhook signature, used for outgoing lead webhooks and incoming generic outcome webhooks.

``X-Peerscore-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`` with the Unix timestamp in
``X-Peerscore-Timestamp``. Signing the timestamp with the body lets a receiver refuse replays of an old request
(we refuse anything older than five minutes) without keeping state. Pure so senders, receivers and docs agree.
"""

from __future__ import annotations

import hashlib
import hmac

from peerscore.secrets_compare import ascii_digits, secrets_equal

SIGNATURE_HEADER = "X-Peerscore-Signature"
TIMESTAMP_HEADER = "X-Peerscore-Timestamp"
MAX_AGE_S = 300


def peerscore_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp`` (seconds since the epoch)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_peerscore_signature(
    secret: bytes, timestamp_header: str | None, signature_header: str | None, body: bytes, now: float
) -> bool:
    """Constant-time check of the signature, and of a timestamp no older (or newer) than five minutes."""
    if not signature_header or not ascii_digits(timestamp_header):
        return False
    timestamp = int(timestamp_header)
    if abs(now - timestamp) > MAX_AGE_S:
        return False
    return secrets_equal(signature_header.strip(), peerscore_signature(secret, timestamp, body))
