"""Which kind of page an event is about: the fixed page classes shared by the unscored-signal report and the
model's signal profile (a site's thousands of paths fold into a handful of classes either way).

No ruleset here, so the profile (:mod:`.activity`), which must not depend on a ruleset, can use it too.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from peerscore.events import EngagementEvent

PAGE_CLASSES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("pricing", r"/(pricing|plans|price)\b"),
        ("demo", r"/(demo|book-a-demo|request-a?-?demo|contact-sales|get-started)\b"),
        ("comparison", r"(/compare\b|/vs\b|-vs-|/alternatives?\b)"),
        ("customers", r"/(customers?|case-stud(y|ies)|testimonials|success-stories)\b"),
        ("docs", r"/(docs|documentation|api|reference|help|guides?)\b"),
        ("careers", r"/(careers|jobs)\b"),
        ("blog", r"/(blog|articles?|news|resources)\b"),
    )
)
"""Page classes in the order they are tried; the first that matches the path wins, else ``other``."""


def page_path(event: EngagementEvent) -> str | None:
    properties = event.properties
    for name in ("path", "url"):
        value = properties.get(name)
        if isinstance(value, str) and value.strip():
            path = urlsplit(value.strip()).path if name == "url" else value.strip().split("?")[0].split("#")[0]
            return path or "/"
    return None


def page_class(path: str | None) -> str:
    """The page's class (see :data:`PAGE_CLASSES`); ``""`` for an event without a page."""
    if path is None:
        return ""
    for name, pattern in PAGE_CLASSES:
        if pattern.search(path):
            return name
    return "other"
