"""Segment timestamp semantics: correct the client's clock with the ``sentAt``/receive-time skew.

A device whose clock runs an hour late sends ``timestamp`` and ``sentAt`` both an hour late; the difference
between our receive time and ``sentAt`` is that skew, so ``timestamp + (received_at - sent_at)`` is when it
really happened. Everything is timezone-aware UTC: a naive time is ambiguous and refused, not guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from peerscore.ingest.errors import InvalidEvent

ISO_HINT = "must be an ISO 8601 date-time with a timezone, e.g. 2024-05-01T12:00:00Z"


def parse_timestamp(value: Any, path: str) -> datetime | None:
    """None when absent; a UTC datetime when valid; :class:`InvalidEvent` at ``path`` otherwise."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent.at(path, ISO_HINT)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidEvent.at(path, ISO_HINT) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidEvent.at(path, "has no timezone; " + ISO_HINT)
    return parsed.astimezone(UTC)


def occurred_at(timestamp: datetime | None, sent_at: datetime | None, received_at: datetime, path: str) -> datetime:
    """When the call happened: corrected timestamp, else raw timestamp, else receive time."""
    if timestamp is None:
        return received_at
    if sent_at is None:
        return timestamp
    try:
        return timestamp + (received_at - sent_at)
    except OverflowError:
        raise InvalidEvent.at(path, "is too far from sentAt to correct for clock skew") from None
