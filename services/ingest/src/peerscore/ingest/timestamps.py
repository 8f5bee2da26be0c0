"""Segment timestamp semantics: correct the client's clock with the ``sentAt``/receive-time skew.

A device whose clock runs an hour late sends ``timestamp`` and ``sentAt`` both an hour late; the difference
between our receive time and ``sentAt`` is that skew, so ``received_at - (sent_at - timestamp)`` is when it
really happened (Segment's formula; ``sentAt`` and receipt are taken to be simultaneous). Everything is
timezone-aware UTC: a naive time is ambiguous and refused, not guessed.
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


def occurred_at(
    timestamp: datetime | None,
    sent_at: datetime | None,
    received_at: datetime,
    path: str,
    *,
    original: datetime | None = None,
) -> datetime:
    """When the call happened, per Segment's spec.

    * ``sentAt`` present: ``receivedAt - (sentAt - originalTimestamp)``, where ``originalTimestamp`` is the
      call's own ``originalTimestamp`` (RudderStack's JS SDK sends it) or else the ``timestamp`` it carries;
    * no ``sentAt``: the timestamp as given (historical imports set it on purpose);
    * no timestamp at all: the receive time.
    """
    device_time = original or timestamp
    if device_time is None:
        return received_at
    if sent_at is None:
        return timestamp or device_time
    try:
        return received_at - (sent_at - device_time)
    except OverflowError:
        raise InvalidEvent.at(path, "is too far from sentAt to correct for clock skew") from None
