"""Segment/RudderStack calls → :class:`peerscore.events.EngagementEvent`. Pure: no web framework, no Kafka.

All six Segment call types are accepted. ``alias`` is published as type ``alias`` with ``previous_id`` in
its properties rather than refused: SDKs drop a whole batch answered with 400, so refusing alias would
silently lose the tracks batched with it, and identity resolution downstream can use the link later.

``messageId`` becomes ``event_id``, the dedup key: SDKs set it when a call is enqueued and resend the same
body on retry, so it is stable across retries. A call without one gets a fresh id, as Segment's HTTP API
does ("assigns each event a unique messageId when the message is ingested"; Segment never deduplicates on
payload content). Importers that need content-derived ids (CSV) set ``messageId`` themselves.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from peerscore import limits
from peerscore.consent import consent_from_traits
from peerscore.events import EngagementEvent, PersonIdentifiers, event_type_for
from peerscore.identity import normalise_email, person_key
from peerscore.ingest.errors import FieldError, InvalidEvent, breaks_contract, join_path
from peerscore.ingest.fields import bounded_email, identifier, mapping
from peerscore.ingest.timestamps import occurred_at, parse_timestamp
from peerscore.ingest.traits import group_account_fields, is_mapping, person_account_fields, person_trait_fields, text

CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")
_FIXED_TYPES = {"page": "page.viewed", "screen": "screen.viewed", "identify": "identify", "group": "group"}
_NOT_HASHED = frozenset({"sentAt", "writeKey"})
_PAGE_FIELDS = ("path", "url", "title", "referrer", "search")
MAX_TYPE_CHARS = limits.EVENT_TYPE
MAX_TEXT_CHARS = limits.IDENTIFIER


event_type = event_type_for
"""``"Case Study Viewed"`` → ``"case_study.viewed"``: the shared rule, so rulesets' aliases spell types alike."""


def generated_event_id(call: Mapping[str, Any], namespace: str = "") -> str:
    """A content-derived id (used by importers, where re-importing the same row must give the same id).

    ``sentAt`` changes on every retry and ``writeKey`` is a credential, so neither is part of the hash;
    ``namespace`` (e.g. the source name) keeps identical rows from different sources apart.
    """
    canonical = {k: v for k, v in call.items() if k not in _NOT_HASHED}
    data = json.dumps([namespace, canonical], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


def random_event_id() -> str:
    """The id of a call sent without ``messageId`` (Segment's HTTP API behaviour)."""
    return f"api-{uuid.uuid4()}"


def _email(path: str, *candidates: tuple[str, Any]) -> str | None:
    """The first candidate that looks like an email, normalised; refused (at its path) when it cannot be one."""
    for where, candidate in candidates:
        value = text(candidate)
        if value is not None and "@" in value:
            return bounded_email(normalise_email(value), join_path(path, where))
    return None


def _consent(context: Mapping[str, Any], path: str) -> dict[str, bool]:
    consent_path = join_path(path, "context.consent")
    consent = mapping(context, "consent", join_path(path, "context"))
    preferences = mapping(consent, "categoryPreferences", consent_path)
    result: dict[str, bool] = {}
    for category, allowed in preferences.items():
        if not isinstance(allowed, bool):
            raise InvalidEvent.at(f"{consent_path}.categoryPreferences.{category}", "must be true or false")
        result[str(category)] = allowed
    return result


def _source(context: Mapping[str, Any], bound: str | None) -> str:
    """The write key's source name when it has one, else the SDK family read from ``context.library``."""
    if bound is not None:
        return bound
    library = context.get("library")
    name = text(library.get("name")) if is_mapping(library) else None
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
    properties = dict(mapping(call, "properties", path))
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
        page = mapping(context, "page", join_path(path, "context")) if kind == "page" else {}
        for field in _PAGE_FIELDS:
            if field not in properties and page.get(field) is not None:
                properties[field] = page[field]
        for field, value in (("name", name), ("category", text(call.get("category")))):
            if value is not None:
                properties.setdefault(field, value)
        return _FIXED_TYPES[kind], name, properties
    if kind == "group":
        group_id = identifier(call, "groupId", path, max_chars=limits.GROUP_ID, strip=False)  # key: group:<groupId>
        if group_id is None:
            raise InvalidEvent.at(join_path(path, "groupId"), "is required for group calls")
        return "group", None, {"group_id": group_id}
    if kind == "alias":
        previous_id = identifier(call, "previousId", path, max_chars=MAX_TEXT_CHARS, strip=False)
        if previous_id is None:
            raise InvalidEvent.at(join_path(path, "previousId"), "is required for alias calls")
        return "alias", None, {"previous_id": previous_id}
    return "identify", None, {}


def _person_key(
    user_id: str | None,
    email: str | None,
    anonymous_id: str | None,
    secret: bytes,
    cache: dict[tuple[str | None, ...], str] | None,
) -> str:
    lookup = (user_id, email, anonymous_id)
    if cache is not None and lookup in cache:
        return cache[lookup]
    key = person_key(PersonIdentifiers(email=email, user_id=user_id, anonymous_id=anonymous_id), secret)
    assert key is not None  # a user id, anonymous id or (when allowed) email is present, checked by the caller
    if cache is not None:
        cache[lookup] = key
    return key


def normalise_call(
    call: Any,
    *,
    secret: bytes,
    received_at: datetime,
    path: str = "",
    batch_sent_at: datetime | None = None,
    batch_context: Mapping[str, Any] | None = None,
    expected_type: str | None = None,
    source: str | None = None,
    new_id: Callable[[], str] = random_event_id,
    email_identifies: bool = False,
    key_cache: dict[tuple[str | None, ...], str] | None = None,
) -> EngagementEvent:
    """One call → one event, or :class:`InvalidEvent` naming the first bad field under ``path``.

    ``source`` is the name bound to the write key (see :func:`_source`). Segment requires ``userId`` or
    ``anonymousId``; ``email_identifies`` lets importers whose rows only know an email use it as the identity.
    ``key_cache`` (one per batch) saves recomputing the person-key HMAC for a person's every call.
    """
    if not is_mapping(call):
        raise InvalidEvent.at(path or "$", "must be an object")
    kind = _call_type(call, path, expected_type)
    context = {**(batch_context or {}), **mapping(call, "context", path)}
    context_traits = mapping(context, "traits", join_path(path, "context"))
    call_traits = mapping(call, "traits", path)
    properties_in = mapping(call, "properties", path)

    user_id = identifier(call, "userId", path, max_chars=MAX_TEXT_CHARS, strip=False)
    anonymous_id = identifier(call, "anonymousId", path, max_chars=MAX_TEXT_CHARS, strip=False)
    own_traits = call_traits if kind == "identify" else {}
    email = _email(
        path,
        ("traits.email", own_traits.get("email")),
        ("context.traits.email", context_traits.get("email")),
        ("properties.email", properties_in.get("email")),
    )
    if user_id is None and anonymous_id is None and not (email_identifies and email):
        raise InvalidEvent.at(path or "$", "needs userId or anonymousId" + (" or an email" if email_identifies else ""))
    key = _person_key(user_id, email, anonymous_id, secret, key_cache)

    message_id = identifier(call, "messageId", path, max_chars=MAX_TEXT_CHARS, strip=False)
    stamp = parse_timestamp(call.get("timestamp"), join_path(path, "timestamp"))
    original = parse_timestamp(call.get("originalTimestamp"), join_path(path, "originalTimestamp"))
    sent_at = parse_timestamp(call.get("sentAt"), join_path(path, "sentAt")) or batch_sent_at
    dotted, name, properties = _what(call, kind, path, context)
    person_fields = {**context_traits, **own_traits}
    account = group_account_fields(call_traits) if kind == "group" else person_account_fields(person_fields, email)
    try:
        # One validation call for the event and its nested models (built as dicts): the hot path's largest cost.
        return EngagementEvent.model_validate(
            {
                "event_id": message_id or new_id(),
                "type": dotted,
                "name": name,
                "source": _source(context, source),
                "person_key": key,
                "occurred_at": occurred_at(
                    stamp, sent_at, received_at, join_path(path, "timestamp"), original=original
                ),
                "received_at": received_at,
                "person": {"email": email, "user_id": user_id, "anonymous_id": anonymous_id},
                "traits": person_trait_fields(person_fields),
                "account": account,
                "properties": properties,
                # Opt-outs said as traits (``unsubscribed: true``…) count like the consent context.
                "consent": {**consent_from_traits(person_fields), **_consent(context, path)},
            }
        )
    except ValidationError as exc:
        # Locations and error kinds only: pydantic's own messages quote the input, which may be personal.
        raise breaks_contract(exc, path) from None


def normalise_batch(
    body: Mapping[str, Any], *, secret: bytes, received_at: datetime, source: str | None = None
) -> list[EngagementEvent]:
    """A ``/v1/batch`` body → events, all or nothing: every invalid call is reported, none is returned.

    Batch-level ``sentAt`` and ``context`` apply to every call that does not carry its own.
    """
    calls = body.get("batch")
    if not isinstance(calls, list):
        raise InvalidEvent.at("batch", "must be a list of calls")
    batch_sent_at = parse_timestamp(body.get("sentAt"), "sentAt")
    batch_context = mapping(body, "context", "")
    events: list[EngagementEvent] = []
    errors: list[FieldError] = []
    key_cache: dict[tuple[str | None, ...], str] = {}
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
                    source=source,
                    key_cache=key_cache,
                )
            )
        except InvalidEvent as exc:
            errors.extend(exc.errors)
    if errors:
        raise InvalidEvent(errors)
    return events
