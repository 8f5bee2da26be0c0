"""Content and channel influence, the classifying half: one stored event → one :class:`Touch` (or none). Pure.

A touch says what the person met (the *content item*: a page class, an asset, a webinar, a LinkedIn post…) and
how they got there (the *channel*: UTM source, medium and campaign, the referrer's class, LinkedIn organic or
paid), and whether that was **paid** media (a paid ``utm_medium``, LinkedIn sponsored content or a lead-gen
form) or **earned** (everything else: search, social, review sites, direct, word of mouth).

It reads the event as the JSON document history stores (``json.loads`` of the row, no pydantic), because the
influence job classifies every stored event. Profile and system events are not touches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, cast
from urllib.parse import parse_qs, urlsplit

from .signals import PROFILE_TYPES, page_class

DIMENSIONS = ("content", "source", "medium", "campaign", "referrer", "linkedin")
"""What a report groups touches by; a touch's value for dimension ``i`` is ``touch[1 + i]`` (``""``: none)."""
NONE = "(none)"
UTM_KEYS = ("source", "medium", "campaign")
PAID_MEDIA = frozenset(
    {
        "cpc",
        "ppc",
        "paid",
        "paidsearch",
        "paid-search",
        "paid_search",
        "display",
        "cpm",
        "paid-social",
        "paid_social",
        "paidsocial",
        "sponsored",
        "retargeting",
        "banner",
    }
)
"""``utm_medium`` values that mean someone paid for the visit (lower-cased)."""
REVIEW_SITES = (
    "g2.com",
    "capterra.com",
    "trustradius.com",
    "gartner.com",
    "getapp.com",
    "softwareadvice.com",
    "peerspot.com",
    "trustpilot.com",
)
SEARCH_ENGINES = ("google.", "bing.com", "duckduckgo.com", "yahoo.", "baidu.com", "yandex.", "ecosia.org", "qwant.com")
SOCIAL_SITES = (
    "facebook.com",
    "twitter.com",
    "x.com",
    "t.co",
    "reddit.com",
    "youtube.com",
    "instagram.com",
    "news.ycombinator.com",
    "mastodon",
)
LINKEDIN_HOSTS = ("linkedin.com", "lnkd.in")
MAX_ITEM = 80
"""Item names longer than this are cut (they come from event data; keeps the snapshot bounded)."""
_EXTRA_PAGES = (
    ("webinar", re.compile(r"/(webinars?|events?/webinar)\b", re.IGNORECASE)),
    ("asset", re.compile(r"(/(downloads?|whitepapers?|ebooks?|reports?|guides?/download)\b|\.pdf$)", re.IGNORECASE)),
)


class Touch(NamedTuple):
    """One influencing event of one person: epoch seconds, one value per :data:`DIMENSIONS`, paid (1) or not."""

    at: int
    content: str
    source: str
    medium: str
    campaign: str
    referrer: str
    linkedin: str
    paid: int


def values(touch: Touch) -> tuple[str, ...]:
    """The touch's value per :data:`DIMENSIONS`, in that order (``""``: the touch has none)."""
    return cast(tuple[str, ...], touch[1:7])


def _text(value: Any) -> str:
    return value.strip()[:MAX_ITEM] if isinstance(value, str) and value.strip() else ""


def _host(url: str) -> str:
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")


def _matches(host: str, names: tuple[str, ...]) -> bool:
    return any(host == n or host.endswith("." + n) or (n.endswith(".") and n in host) for n in names)


@lru_cache(maxsize=65_536)
def referrer_class(referrer: str) -> str:
    """``review_site``, ``linkedin``, ``search``, ``social``, ``direct`` (no referrer) or ``other``."""
    host = _host(referrer) if referrer else ""
    if not host:
        return "direct"
    for name, hosts in (("review_site", REVIEW_SITES), ("linkedin", LINKEDIN_HOSTS), ("search", SEARCH_ENGINES)):
        if _matches(host, hosts):
            return name
    return "social" if _matches(host, SOCIAL_SITES) else "other"


@lru_cache(maxsize=65_536)
def _query_tags(raw: str) -> tuple[str, str, str]:
    query = parse_qs(raw.split("?", 1)[-1].split("#")[0])
    return tuple(_text((query.get(f"utm_{key}") or [""])[0]).lower() for key in UTM_KEYS)  # type: ignore[return-value]


def utm(properties: Mapping[str, Any]) -> dict[str, str]:
    """``source``/``medium``/``campaign`` from ``utm_*`` properties, else a ``campaign`` object (Segment's
    ``context.campaign`` shape), else the query string of ``search``/``url``; lower-cased, ``""`` when absent."""
    raw = properties.get("search") or properties.get("url")
    found = dict(
        zip(UTM_KEYS, _query_tags(raw) if isinstance(raw, str) and "utm_" in raw else ("", "", ""), strict=True)
    )
    campaign = properties.get("campaign")
    nested = campaign if isinstance(campaign, Mapping) else {}
    for key in UTM_KEYS:
        nested_value = _text(nested.get("name" if key == "campaign" else key)) or _text(nested.get(key))
        value = _text(properties.get(f"utm_{key}")) or nested_value
        if value:
            found[key] = value.lower()
    return found


def _page_path(properties: Mapping[str, Any]) -> str | None:
    for name in ("path", "url"):
        value = properties.get(name)
        if isinstance(value, str) and value.strip():
            value = value.strip()
            return (urlsplit(value).path if name == "url" else value.split("?")[0].split("#")[0]) or "/"
    return None


@lru_cache(maxsize=65_536)
def page_item(path: str | None) -> str:
    """``page:<class>`` of a path: :func:`~.signals.page_class`'s classes, webinars and downloadable assets."""
    for label, pattern in _EXTRA_PAGES:
        if path is not None and pattern.search(path):
            return f"page:{label}"
    return f"page:{page_class(path) or 'other'}"


def content_item(event_type: str, name: str, properties: Mapping[str, Any]) -> str:
    """``page:<class>``, ``asset:<name>``, ``webinar:<name>``, ``linkedin_post:<urn>``, ``linkedin_form:<id>``,
    ``review:<site>`` or ``event:<type>`` for any other action."""
    if event_type in ("page.viewed", "screen.viewed"):
        return page_item(_page_path(properties))
    if event_type.startswith("linkedin.post"):
        return "linkedin_post:" + (_text(properties.get("post")) or NONE)
    if event_type.startswith("linkedin.lead_form"):
        return "linkedin_form:" + (_text(properties.get("form")) or _text(properties.get("form_id")) or NONE)
    if event_type.startswith("review_site"):
        return "review:" + (_text(properties.get("site")) or _text(properties.get("source")) or NONE).lower()
    label = (_text(properties.get("title")) or _text(properties.get("name")) or name or NONE)[:MAX_ITEM]
    if event_type.startswith("webinar"):
        return f"webinar:{label}"
    if any(word in event_type for word in ("download", "whitepaper", "ebook", "content.", "asset")):
        return f"asset:{label}"
    return f"event:{event_type}"[:MAX_ITEM]


def _linkedin(event_type: str, source: str, properties: Mapping[str, Any], referrer: str, medium_paid: bool) -> str:
    """``organic``/``paid`` for a LinkedIn touch (its own events, or a visit referred or tagged from LinkedIn)."""
    from_linkedin = source == "linkedin" or event_type.startswith("linkedin.") or referrer == "linkedin"
    if not from_linkedin:
        return ""
    sponsored = properties.get("sponsored") is True or event_type.startswith("linkedin.lead_form")
    return "paid" if sponsored or medium_paid else "organic"


def is_touch(event_type: str) -> bool:
    return not (event_type in PROFILE_TYPES or event_type.startswith("system.") or event_type.endswith(".deleted"))


Channel = tuple[str, str, str, str, str, str, int]
"""A touch without its time: one value per :data:`DIMENSIONS`, then paid (1) or earned (0)."""


def classify(event_type: str, name: str, source: str, properties: Mapping[str, Any]) -> Channel | None:
    """What an event is as a touch (None for profile, system and deletion events)."""
    if not is_touch(event_type):
        return None
    tags = utm(properties)
    if tags["source"] in ("linkedin", "linkedin.com", "lnkd.in"):
        tags["source"] = "linkedin"
    referrer = referrer_class(_text(properties.get("referrer")))
    if event_type.startswith("review_site"):
        referrer = "review_site"
    elif source == "linkedin" or event_type.startswith("linkedin.") or tags["source"] == "linkedin":
        referrer = "linkedin" if referrer in ("direct", "other") else referrer
    medium_paid = tags["medium"] in PAID_MEDIA
    channel = _linkedin(event_type, source, properties, referrer, medium_paid)
    return (
        content_item(event_type, name, properties),
        tags["source"] or NONE,
        tags["medium"] or NONE,
        tags["campaign"] or NONE,
        referrer,
        channel,
        int(medium_paid or channel == "paid"),
    )


def epoch(occurred_at: str) -> int:
    """Seconds since the epoch of a stored ``occurred_at`` (ISO 8601 with a zone)."""
    return int(datetime.fromisoformat(occurred_at).timestamp())


def touch_of(document: Mapping[str, Any]) -> Touch | None:
    """The touch a stored event document is, or None for profile, system and deletion events."""
    properties = document.get("properties") or {}
    found = classify(
        str(document.get("type", "")), str(document.get("name") or ""), str(document.get("source", "")), properties
    )
    return None if found is None else Touch(epoch(str(document["occurred_at"])), *found)
