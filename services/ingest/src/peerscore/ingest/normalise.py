"""Segment/RudderStack calls → :class:`peerscore.events.EngagementEvent`. Pure: no web framework, no Kafka.

All six Segment call types are accepted. ``alias`` is published as type ``alias`` with ``previous_id`` in
its properties rather than refused: SDKs drop a whole batch answered with 400, so refusing alias would
silently lose the tracks batched with it, and identity resolution downstream can use the link later.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from peerscore.events import EngagementEvent, PersonIdentifiers
from peerscore.identity import normalise_email, person_key
from peerscore.ingest.errors import FieldError, InvalidEvent, join_path
from peerscore.ingest.timestamps import occurred_at, parse_timestamp
from peerscore.ingest.traits import group_account, person_account, person_traits, text

CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")
_FIXED_TYPES = {"page": "page.viewed", "screen": "screen.viewed", "identify": "identify", "group": "group"}
_WORD = re.compile(r"[A-Za-z0-9]+")
_NOT_HASHED = frozenset({"sentAt", "writeKey"})
_PAGE_FIELDS = ("path", "url", "title", "referrer", "search")
MAX_TYPE_CHARS = 128
MAX_TEXT_CHARS = 256


def event_type(event_name: str) -> str | None:
    """``"Case Study Viewed"`` → ``"case_study.viewed"``; one word ``"Foo"`` → ``"track.foo"``."""
    words = [w.lower() for w in _WORD.findall(event_name)]
    if not words:
        return None
    if len(words) == 1:
        return "track." + words[0]
    return "_".join(words[:-1]) + "." + words[-1]


def generated_event_id(call: Mapping[str, Any]) -> str:
    """A stable id for calls without ``messageId``: an SDK retry of the same call hashes the same.

    ``sentAt`` changes on every retry and ``writeKey`` is a credential, so neither is part of the hash.
    """
    canonical = {k: v for k, v in call.items() if k not in _NOT_HASHED}
    data = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


def _mapping(parent: Mapping[str, Any], field: str, path: str) -> Mapping[str, Any]:
    value = parent.get(field)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidEvent.at(join_path(path, field), "must be an object")
    return value


def _identifier(call: Mapping[str, Any], field: str, path: str) -> str | None:
    """Segment ids are strings, some SDKs send numbers; anything else is a client bug worth a 400."""
    value = call.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidEvent.at(join_path(path, field), "must be a string")
    result = str(value)
    if len(result) > MAX_TEXT_CHARS:
        raise InvalidEvent.at(join_path(path, field), f"must be at most {MAX_TEXT_CHARS} characters")
    return result


def _email(*candidates: Any) -> str | None:
    for candidate in candidates:
        value = text(candidate)
        if value is not None and "@" in value:
            return normalise_email(value)
    return None


def _consent(context: Mapping[str, Any], path: str) -> dict[str, bool]:
    consent_path = join_path(path, "context.consent")
    consent = _mapping(context, "consent", join_path(path, "context"))
    preferences = _mapping(consent, "categoryPreferences", consent_path)
    result: dict[str, bool] = {}
    for category, allowed in preferences.items():
        if not isinstance(allowed, bool):
            raise InvalidEvent.at(f"{consent_path}.categoryPreferences.{category}", "must be true or false")
        result[str(category)] = allowed
    return result


def _source(context: Mapping[str, Any]) -> str:
    library = context.get("library")
    name = text(library.get("name")) if isinstance(library, Mapping) else None
    return "rudderstack" if name and "rudder" in name.lower() else "segment"


def _bounded_text(call: Mapping[str, Any], field: str, path: str) -> str | None:
    value = text(call.get(field))
    if value is not None and len(value) > MAX_TEXT_CHARS:
        raise InvalidEvent.at(join_path(path, field), f"must be at most {MAX_TEXT_CHARS} characters")
    return value


def _call_type(call: Mapping[str, Any], path: str, expected: str | None) -> str:
    given = call.get("type")
    if given is None and expected is not None:
        return expected
    if given not in CALL_TYPES:
        raise InvalidEvent.at(join_path(path, "type"), "must be one of " + ", ".join(CALL_TYPES))
    if expected is not None and given != expected:
        raise InvalidEvent.at(join_path(path, "type"), f"must be {expected} on this endpoint")
    return str(given)


def _what(
    call: Mapping[str, Any], kind: str, path: str, context: Mapping[str, Any]
) -> tuple[str, str | None, dict[str, Any]]:
    """The dotted type, original name and properties of one call."""
    properties = dict(_mapping(call, "properties", path))
    if kind == "track":
        name = _bounded_text(call, "event", path)
        if name is None:
            raise InvalidEvent.at(join_path(path, "event"), "is required for track calls")
        dotted = event_type(name)
        if dotted is None:
            raise InvalidEvent.at(join_path(path, "event"), "needs at least one letter or digit")
        if len(dotted) > MAX_TYPE_CHARS:
            raise InvalidEvent.at(join_path(path, "event"), "is too long to map to an event type")
        return dotted, name, properties
    if kind in ("page", "screen"):
        name = _bounded_text(call, "name", path)
        page = _mapping(context, "page", join_path(path, "context")) if kind == "page" else {}
        for field in _PAGE_FIELDS:
            if field not in properties and page.get(field) is not None:
                properties[field] = page[field]
        for field, value in (("name", name), ("category", text(call.get("category")))):
            if value is not None:
                properties.setdefault(field, value)
        return _FIXED_TYPES[kind], name, properties
    if kind == "group":
        group_id = _identifier(call, "groupId", path)
        if group_id is None:
            raise InvalidEvent.at(join_path(path, "groupId"), "is required for group calls")
        return "group", None, {"group_id": group_id}
    if kind == "alias":
        previous_id = _identifier(call, "previousId", path)
        if previous_id is None:
            raise InvalidEvent.at(join_path(path, "previousId"), "is required for alias calls")
        return "alias", None, {"previous_id": previous_id}
    return "identify", None, {}


def normalise_call(
    call: Any,
    *,
    secret: bytes,
    received_at: datetime,
    path: str = "",
    batch_sent_at: datetime | None = None,
    batch_context: Mapping[str, Any] | None = None,
    expected_type: str | None = None,
) -> EngagementEvent:
    """One call → one event, or :class:`InvalidEvent` naming the first bad field under ``path``."""
    if not isinstance(call, Mapping):
        raise InvalidEvent.at(path or "$", "must be an object")
    kind = _call_type(call, path, expected_type)
    context = {**(batch_context or {}), **_mapping(call, "context", path)}
    context_traits = _mapping(context, "traits", join_path(path, "context"))
    call_traits = _mapping(call, "traits", path)
    properties_in = _mapping(call, "properties", path)

    user_id = _identifier(call, "userId", path)
    anonymous_id = _identifier(call, "anonymousId", path)
    if user_id is None and anonymous_id is None:
        raise InvalidEvent.at(path or "$", "needs userId or anonymousId")
    own_traits = call_traits if kind == "identify" else {}
    email = _email(own_traits.get("email"), context_traits.get("email"), properties_in.get("email"))
    ids = PersonIdentifiers(email=email, user_id=user_id, anonymous_id=anonymous_id)
    key = person_key(ids, secret)
    assert key is not None  # a user or anonymous id is present, checked above

    message_id = _identifier(call, "messageId", path)
    stamp = parse_timestamp(call.get("timestamp"), join_path(path, "timestamp"))
    sent_at = parse_timestamp(call.get("sentAt"), join_path(path, "sentAt")) or batch_sent_at
    dotted, name, properties = _what(call, kind, path, context)
    person_fields = {**context_traits, **own_traits}
    account = group_account(call_traits) if kind == "group" else person_account(person_fields, email)
    try:
        return EngagementEvent(
            event_id=message_id or generated_event_id(call),
            type=dotted,
            name=name,
            source=_source(context),
            person_key=key,
            occurred_at=occurred_at(stamp, sent_at, received_at, join_path(path, "timestamp")),
            received_at=received_at,
            person=ids,
            traits=person_traits(person_fields),
            account=account,
            properties=properties,
            consent=_consent(context, path),
        )
    except ValidationError as exc:
        # Locations and error kinds only: pydantic's own messages quote the input, which may be personal.
        raise InvalidEvent(
            [FieldError(path or "$", f"{'.'.join(map(str, e['loc']))}: {e['type']}") for e in exc.errors()]
        ) from None


def normalise_batch(body: Mapping[str, Any], *, secret: bytes, received_at: datetime) -> list[EngagementEvent]:
    """A ``/v1/batch`` body → events, all or nothing: every invalid call is reported, none is returned.

    Batch-level ``sentAt`` and ``context`` apply to every call that does not carry its own.
    """
    calls = body.get("batch")
    if not isinstance(calls, list):
        raise InvalidEvent.at("batch", "must be a list of calls")
    batch_sent_at = parse_timestamp(body.get("sentAt"), "sentAt")
    batch_context = _mapping(body, "context", "")
    events: list[EngagementEvent] = []
    errors: list[FieldError] = []
    for index, call in enumerate(calls):
        try:
            events.append(
                normalise_call(
                    call,
                    secret=secret,
                    received_at=received_at,
                    path=f"batch[{index}]",
                    batch_sent_at=batch_sent_at,
                    batch_context=batch_context,
                )
            )
        except InvalidEvent as exc:
            errors.extend(exc.errors)
    if errors:
        raise InvalidEvent(errors)
    return events
