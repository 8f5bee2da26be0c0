"""LinkedIn organisation social action notifications → ``linkedin.post.engaged`` events. Pure.

LinkedIn batches notifications (``{"type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS", "notifications": […]}``)
and retries undelivered batches, so each event's id is the notification id. Only actions by a member on the
company's posts are buyer signals (likes, comments, reshares, mentions); the company's own comments, edits and
deletions, and actions by organisations, are skipped with a reason rather than refused: refusing would make
LinkedIn redeliver the whole batch for hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from peerscore.events import EngagementEvent, PersonIdentifiers
from peerscore.identity import person_key
from peerscore.ingest.errors import FieldError, InvalidEvent, breaks_contract, join_path
from peerscore.ingest.fields import choice, identifier, instant, mapping, object_list, urn

SOURCE = "linkedin"
POST_ENGAGED = "linkedin.post.engaged"
NOTIFICATIONS_TYPE = "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS"
ENGAGEMENTS = {"LIKE": "like", "COMMENT": "comment", "SHARE": "share", "SHARE_MENTION": "mention"}
"""LinkedIn action → ``properties.action`` (the default ruleset gives comments extra intent points)."""
NOT_ENGAGEMENTS = ("ADMIN_COMMENT", "COMMENT_EDIT", "COMMENT_DELETE")
MEMBER_URN_PREFIXES = ("urn:li:person:", "urn:li:member:")


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


def _actor(notification: Mapping[str, Any], path: str) -> str | None:
    """The member who acted: ``actor`` when given, else the owner of the generated comment or share."""
    actor = urn(notification, "actor", path)
    if actor is not None:
        return actor
    decorated = mapping(notification, "decoratedGeneratedActivity", path)
    for kind in ("comment", "share", "like"):
        activity = decorated.get(kind)
        if isinstance(activity, Mapping):
            for field in ("actor", "owner", "author"):
                found = urn(activity, field, join_path(path, f"decoratedGeneratedActivity.{kind}"))
                if found is not None:
                    return found
    return None


def social_action_event(
    notification: Any, *, secret: bytes, received_at: datetime, path: str = ""
) -> EngagementEvent | Skipped:
    if not isinstance(notification, Mapping):
        raise InvalidEvent.at(path or "$", "must be an object")
    notification_id = identifier(notification, "notificationId", path, required=True)
    action = choice(notification, "action", path, (*ENGAGEMENTS, *NOT_ENGAGEMENTS))
    if action in NOT_ENGAGEMENTS:
        return Skipped(path or "$", f"action {action} is not a buyer's engagement")
    post = urn(notification, "sourcePost", path, required=True)
    actor = _actor(notification, path)
    if actor is None:
        return Skipped(path or "$", "no actor member URN (LinkedIn hides some actors)")
    if not actor.startswith(MEMBER_URN_PREFIXES):
        return Skipped(path or "$", "the actor is not a member (an organisation acted)")
    occurred = instant(notification, ("lastModifiedAt", "createdAt", "time"), path) or received_at
    ids = PersonIdentifiers(linkedin_member_urn=actor)
    key = person_key(ids, secret)
    assert key is not None  # a member URN identifies the person
    properties: dict[str, Any] = {"action": ENGAGEMENTS[action], "post": post}
    for field, name in (("organizationalEntity", "organization"), ("generatedActivity", "activity")):
        value = urn(notification, field, path)
        if value is not None:
            properties[name] = value
    try:
        return EngagementEvent(
            event_id=f"linkedin:social:{notification_id}",
            type=POST_ENGAGED,
            name=f"LinkedIn Post {ENGAGEMENTS[action].title()}",
            source=SOURCE,
            person_key=key,
            occurred_at=occurred,
            received_at=received_at,
            person=ids,
            properties=properties,
        )
    except ValidationError as exc:
        raise breaks_contract(exc, path) from None


def social_action_events(
    body: Any, *, secret: bytes, received_at: datetime
) -> tuple[list[EngagementEvent], list[Skipped]]:
    """A webhook batch, or one notification on its own (as pushed on Kafka) → events and skipped notifications.

    All or nothing: one malformed notification refuses the whole body, naming every bad field path.
    """
    if not isinstance(body, Mapping):
        raise InvalidEvent.at("$", "must be an object")
    if "notifications" in body:
        choice(body, "type", "", (NOTIFICATIONS_TYPE,), default=NOTIFICATIONS_TYPE)
        items: list[tuple[str, Any]] = [
            (f"notifications[{i}]", n) for i, n in enumerate(object_list(body, "notifications", ""))
        ]
    else:
        items = [("", body)]
    events: list[EngagementEvent] = []
    skipped: list[Skipped] = []
    errors: list[FieldError] = []
    for path, notification in items:
        try:
            result = social_action_event(notification, secret=secret, received_at=received_at, path=path)
        except InvalidEvent as exc:
            errors.extend(exc.errors)
            continue
        if isinstance(result, Skipped):
            skipped.append(result)
        else:
            events.append(result)
    if errors:
        raise InvalidEvent(errors)
    return events, skipped
