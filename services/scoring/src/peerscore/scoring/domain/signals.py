"""Did any rule score this kind of event? The pure half of the unscored-signal report.

Rules only score what they name: an event the ruleset never heard of (``Meeting Booked`` before a rule named
it, ``Email Opened``, a custom event) earns nothing and, without this report, nobody notices. An event is
*unscored* when, after the ruleset's aliases, it is not neutral (left unscored on purpose), not a system or
profile event (``identify``, ``group``, ``alias`` describe who someone is, not what they did), and no event
rule's event-level conditions (type, name, properties, url/title patterns) hold for it. Person and account
conditions are deliberately ignored: they decide *who* earns points for a kind of event, not whether that kind
of event is scored at all.

Unscored events are grouped by :class:`SignalKey`: type, name, source and the page's *class*. The class is one
of a fixed list (pricing, demo, comparison, customers, docs, careers, blog, other; empty without a page) rather
than the URL path, so a site's thousands of pages fold into a handful of rows a marketer can act on; the paths
themselves (ids stripped, no query string) are kept as examples (:func:`examples_of`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from peerscore.events import EngagementEvent, event_type_for, is_system_event

from .matching import event_part_matches
from .pages import page_class, page_path
from .ruleset import Ruleset

PROFILE_TYPES = frozenset({"identify", "group", "alias"})
"""Ingest types that say who someone is, not what they did: never a signal for a rule."""


MAX_EXAMPLES = 5
MAX_EXAMPLE_LENGTH = 120
MAX_NAME_LENGTH = 128
_ID_SEGMENT = re.compile(r"^(\d+|[0-9a-f]{8,}|[0-9a-f-]{32,36}|[A-Za-z0-9_-]*\d[A-Za-z0-9_-]{15,})$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SignalKey:
    """What unscored events are grouped by (no personal data: the event's own wording and its page class)."""

    type: str
    name: str
    source: str
    page: str

    def digest(self) -> str:
        """A fixed-length id of the key, for a database primary key."""
        text = "\x1f".join((self.type, self.name, self.source, self.page))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def is_unscored(event: EngagementEvent, ruleset: Ruleset) -> bool:
    """True when no rule of ``ruleset`` scores this kind of event and it is not left unscored on purpose."""
    if is_system_event(event.type) or event.type in PROFILE_TYPES:
        return False
    index = ruleset.index()
    canonical = index.aliases.get(event.type)
    if canonical is not None:  # scored as its canonical type, exactly as the engine does
        event = event.model_copy(update={"type": canonical})
    if event.type in index.neutral or (event.name and event_type_for(event.name) in index.neutral):
        return False
    plan = index.scoring_plan(event.type, event.name)
    return not any(event_part_matches(condition, event) for _, condition, _ in plan)


def strip_ids(path: str) -> str:
    """The path with id-like segments (numbers, hashes, uuids, tokens) replaced by ``:id``."""
    segments = [":id" if _ID_SEGMENT.match(s) else s for s in path.split("/")]
    return "/".join(segments)[:MAX_EXAMPLE_LENGTH]


def signal_key(event: EngagementEvent) -> SignalKey:
    return SignalKey(
        type=event.type,
        name=(event.name or "").strip()[:MAX_NAME_LENGTH],
        source=event.source,
        page=page_class(page_path(event)),
    )


def examples_of(event: EngagementEvent) -> list[str]:
    """What a marketer needs to write a rule, without personal data: the page path (ids stripped, no query
    string) and the names of the event's properties (never their values)."""
    found: list[str] = []
    path = page_path(event)
    if path is not None:
        found.append("path " + strip_ids(path))
    keys = sorted(k for k in event.properties if k not in ("url", "path", "title", "referrer", "search"))
    if keys:
        found.append(("properties " + ", ".join(keys))[:MAX_EXAMPLE_LENGTH])
    return found


@dataclass
class SignalTally:
    """One key's unscored events in a batch: how many, who sent them, and a few examples."""

    events: int = 0
    people: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)

    def add(self, event: EngagementEvent) -> None:
        self.events += 1
        self.people.add(event.person_key)
        for example in examples_of(event):
            if example not in self.examples and len(self.examples) < MAX_EXAMPLES:
                self.examples.append(example)


def tally_unscored(events: list[EngagementEvent], ruleset: Ruleset) -> tuple[int, dict[SignalKey, SignalTally]]:
    """The batch's countable events (not system or profile events) and its unscored ones by key."""
    counted = 0
    tallies: dict[SignalKey, SignalTally] = {}
    for event in events:
        if is_system_event(event.type) or event.type in PROFILE_TYPES:
            continue
        counted += 1
        if is_unscored(event, ruleset):
            tallies.setdefault(signal_key(event), SignalTally()).add(event)
    return counted, tallies
