"""Reading fields out of third-party JSON (LinkedIn, intent feeds) with errors that name the field path.

Every reader either returns a value of the promised type or raises :class:`InvalidEvent` at the path; none
raises anything else for any JSON input, which is what the parsers' property tests rely on. Messages never
quote the offending value: it may be personal data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from peerscore import limits
from peerscore.ingest.errors import InvalidEvent, join_path
from peerscore.ingest.timestamps import parse_timestamp
from peerscore.ingest.traits import is_mapping

MAX_ID_CHARS = 200
MAX_EPOCH_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last instant a Python datetime can hold."""


def mapping(parent: Mapping[str, Any], field: str, path: str, *, required: bool = False) -> Mapping[str, Any]:
    value = parent.get(field)
    if value is None:
        if required:
            raise InvalidEvent.at(join_path(path, field), "is required")
        return {}
    if not is_mapping(value):
        raise InvalidEvent.at(join_path(path, field), "must be an object")
    return value


def object_list(parent: Mapping[str, Any], field: str, path: str) -> list[Mapping[str, Any]]:
    value = parent.get(field)
    if value is None:
        return []
    where = join_path(path, field)
    if not isinstance(value, list):
        raise InvalidEvent.at(where, "must be a list")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise InvalidEvent.at(f"{where}[{index}]", "must be an object")
    return value


def identifier(
    parent: Mapping[str, Any],
    field: str,
    path: str,
    *,
    required: bool = False,
    max_chars: int = MAX_ID_CHARS,
    strip: bool = True,
) -> str | None:
    """An id or URN: a non-empty string (or an integer, as LinkedIn's numeric ids and some SDKs send) of bounded
    length; anything else is a client bug worth a 400.

    Ids are keys (of people, events, accounts): one that does not fit its column is refused, never cut, since two
    cut ids could collide. ``strip=False`` keeps an id exactly as sent (Segment ids: the person key hashes them).
    """
    value = parent.get(field)
    where = join_path(path, field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidEvent.at(where, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidEvent.at(where, "must be a string")
    result = str(value).strip() if strip else str(value)
    if len(result) > max_chars:
        raise InvalidEvent.at(where, f"must be at most {max_chars} characters")
    if "\x00" in result:  # ids become keys and columns; PostgreSQL text cannot hold NUL
        raise InvalidEvent.at(where, "must not contain NUL characters")
    return result


def bounded_email(email: str | None, where: str) -> str | None:
    """An email is a key (the person's, the CRM's): one longer than a mailbox can be, or holding NUL, is refused."""
    if email is not None and (len(email) > limits.EMAIL or "\x00" in email):
        raise InvalidEvent.at(where, f"must be an email address of at most {limits.EMAIL} characters")
    return email


def urn(parent: Mapping[str, Any], field: str, path: str, *, required: bool = False) -> str | None:
    value = identifier(parent, field, path, required=required)
    if value is not None and not value.startswith("urn:li:"):
        raise InvalidEvent.at(join_path(path, field), "must be a LinkedIn URN (urn:li:…)")
    return value


def choice(parent: Mapping[str, Any], field: str, path: str, allowed: Iterable[str], default: str | None = None) -> str:
    options = tuple(allowed)
    value = parent.get(field, default)
    if value not in options:
        raise InvalidEvent.at(join_path(path, field), "must be one of " + ", ".join(options))
    return str(value)


def epoch_ms(parent: Mapping[str, Any], field: str, path: str, *, required: bool = False) -> datetime | None:
    """LinkedIn times are integers of milliseconds since the Unix epoch (UTC)."""
    value = parent.get(field)
    where = join_path(path, field)
    if value is None:
        if required:
            raise InvalidEvent.at(where, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent.at(where, "must be an integer of milliseconds since the epoch")
    if not 0 <= value <= MAX_EPOCH_MS:
        raise InvalidEvent.at(where, "is out of range")
    return datetime.fromtimestamp(value / 1000, UTC)


def instant(parent: Mapping[str, Any], fields: Iterable[str], path: str) -> datetime | None:
    """The first of ``fields`` present, as epoch milliseconds or an ISO 8601 date-time with a zone."""
    for field in fields:
        value = parent.get(field)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            return epoch_ms(parent, field, path)
        try:
            return parse_timestamp(value, join_path(path, field))
        except OverflowError:  # a zone offset pushing year 1 or 9999 out of range
            raise InvalidEvent.at(join_path(path, field), "is out of range") from None
    return None


def flat_urns(value: Any, path: str) -> dict[str, str]:
    """LinkedIn unions such as ``owner: {"sponsoredAccount": "urn:li:sponsoredAccount:1"}`` → that mapping;
    a bare URN string is kept under ``"value"``. Members that are not strings are dropped (informational)."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"value": value[:MAX_ID_CHARS]} if value.strip() else {}
    if not isinstance(value, Mapping):
        raise InvalidEvent.at(path, "must be an object or a URN")
    return {str(k)[:64]: v[:MAX_ID_CHARS] for k, v in value.items() if isinstance(v, str) and v.strip()}
