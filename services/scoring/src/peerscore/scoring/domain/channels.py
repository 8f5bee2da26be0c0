"""Where a visit came from, as one of a few channel classes: a feature a model can use across sites.

B2B buyers who arrive from a review site or a LinkedIn ad behave differently from those who type the address;
the raw UTM values and referrers differ per site, so they are folded into :data:`CHANNELS`. The order of
evidence: UTM tags (properties ``utm_medium``/``utm_source``, a ``campaign`` object, or the page URL's query),
then LinkedIn's own events (a lead form with a sponsored campaign is paid, anything else organic), then the
referrer's host; a page view with none of these is ``direct``. Other events carry no channel (``None``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from peerscore.events import EngagementEvent

CHANNELS = ("direct", "search", "social", "linkedin_organic", "linkedin_paid", "review", "email", "paid", "referral")

_PAID = frozenset({"cpc", "ppc", "paid", "paidsocial", "paid_social", "paid-social", "cpm", "display", "sponsored"})
_EMAIL = frozenset({"email", "e-mail", "newsletter"})
_SOCIAL = frozenset({"social", "organic_social", "social-organic", "organic-social", "social_organic"})
_SEARCH_HOSTS = ("google.", "bing.", "duckduckgo.", "yahoo.", "baidu.", "yandex.", "ecosia.")
_SOCIAL_HOSTS = ("facebook.", "twitter.", "t.co", "x.com", "instagram.", "reddit.", "youtube.", "news.ycombinator.")
_LINKEDIN_HOSTS = ("linkedin.", "lnkd.in")
_REVIEW_HOSTS = ("g2.", "capterra.", "trustradius.", "gartner.", "getapp.", "softwareadvice.", "peerspot.")


def _text(value: Any) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def _utm(properties: Mapping[str, Any]) -> tuple[str, str]:
    """``(medium, source)`` from the event's properties, its campaign object or its URL's query string."""
    medium, source = _text(properties.get("utm_medium")), _text(properties.get("utm_source"))
    campaign = properties.get("campaign")
    if isinstance(campaign, Mapping):
        medium = medium or _text(campaign.get("medium"))
        source = source or _text(campaign.get("source"))
    url = properties.get("url")
    if (not medium or not source) and isinstance(url, str) and "utm_" in url:
        query = parse_qs(urlsplit(url).query)
        medium = medium or _text((query.get("utm_medium") or [""])[0])
        source = source or _text((query.get("utm_source") or [""])[0])
    return medium, source


def _host_class(host: str) -> str | None:
    for hosts, name in (
        (_LINKEDIN_HOSTS, "linkedin_organic"),
        (_REVIEW_HOSTS, "review"),
        (_SEARCH_HOSTS, "search"),
        (_SOCIAL_HOSTS, "social"),
    ):
        if any(host.startswith(h) or f".{h}" in host for h in hosts):
            return name
    return None


def _from_utm(medium: str, source: str) -> str | None:
    linkedin = "linkedin" in source
    if medium in _PAID:
        return "linkedin_paid" if linkedin else "paid"
    if medium in _EMAIL:
        return "email"
    if medium in _SOCIAL or (linkedin and not medium):
        return "linkedin_organic" if linkedin else "social"
    if medium == "organic":
        return "search"
    if medium in ("referral", "partner"):
        return "referral"
    if source:
        return _host_class(source + ".") or "referral"
    return None


def channel_of(event: EngagementEvent) -> str | None:
    """The event's channel class (see the module doc), or ``None`` when the event says nothing about one."""
    properties = event.properties
    medium, source = _utm(properties)
    if medium or source:
        found = _from_utm(medium, source)
        if found is not None:
            return found
    if event.source == "linkedin" or event.type.startswith("linkedin."):
        paid = "lead_form" in event.type and bool(properties.get("campaign"))
        return "linkedin_paid" if paid else "linkedin_organic"
    referrer = properties.get("referrer")
    if isinstance(referrer, str) and referrer.strip():
        host = (urlsplit(referrer.strip()).hostname or "").lower().removeprefix("www.")
        return _host_class(host) or ("referral" if host else "direct")
    if event.type == "page.viewed" or "url" in properties or "path" in properties:
        return "direct"
    return None
