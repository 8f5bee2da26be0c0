"""Generated history for the influence report (tests and ``bench/influence.py``), shaped like the third parties
send it: Segment ``page`` calls with ``context.page`` (url, path, referrer and the UTM query in ``search``),
Segment ``track`` calls (whitepaper downloads, webinars), ``identify`` calls, and LinkedIn organisation social
action notifications, all normalised by ingest's own parsers. Each buyer browses anonymously, then logs in (the
anonymous key is linked into the user's key, as identity resolution would); some also engage on LinkedIn under
their member key (linked too, or not: a LinkedIn-only person). CRM outcomes and MQL times follow the journey;
some are stored under a merged key, so readers must resolve canonical people.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session

from peerscore.events import EngagementEvent, Outcome, PersonIdentifiers
from peerscore.identity import person_key
from peerscore.ingest.linkedin.social import social_action_events
from peerscore.ingest.normalise import normalise_batch
from peerscore.scoring.history import EventHistoryRow, history_row
from peerscore.scoring.identity.merge import merge_id
from peerscore.scoring.identity.models import IdentityLinkRow
from peerscore.scoring.insights.milestones import record_mqls
from peerscore.scoring.outcomes.store import store_outcomes

END = datetime(2026, 11, 1, tzinfo=UTC)
SECRET = b"influence-history-secret"
PAGES = (
    ("/pricing", "Pricing"),
    ("/demo", "Book a demo"),
    ("/compare/acme-vs-peerscore", "Acme vs Peerscore"),
    ("/customers/harbor-logic", "Harbor Logic case study"),
    ("/docs/api", "API docs"),
    ("/careers", "Careers"),
    ("/blog/peer-research", "Peer research"),
    ("/webinars/q4-pipeline", "Q4 pipeline webinar"),
    ("/downloads/buyer-guide.pdf", "Buyer guide"),
    ("/about", "About us"),
)
REFERRERS = (
    "",
    "",
    "https://www.google.com/",
    "https://www.g2.com/products/peerscore/reviews",
    "https://www.capterra.com/p/1234/peerscore/",
    "https://www.trustradius.com/products/peerscore",
    "https://www.linkedin.com/feed/",
    "https://twitter.com/someone/status/1",
    "https://news.example.org/article",
)
CAMPAIGNS = (
    None,
    None,
    None,
    ("google", "cpc", "brand"),
    ("linkedin", "paid-social", "abm-q4"),
    ("linkedin", "social", "founder-posts"),
    ("newsletter", "email", "november"),
    ("bing", "ppc", "generic"),
)
POSTS = tuple(f"urn:li:share:70000000000000{n:02d}" for n in range(12))
TRACKS = (
    ("Whitepaper Downloaded", {"title": "State of peer research"}),
    ("Webinar Attended", {"title": "Q4 pipeline"}),
)


@dataclass
class InfluenceHistory:
    events: list[EngagementEvent] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    mqls: dict[str, datetime] = field(default_factory=dict)


def _page_call(rng: random.Random, ids: dict[str, str], at: datetime) -> dict[str, Any]:
    path, title = rng.choice(PAGES)
    tags = rng.choice(CAMPAIGNS)
    search = "" if tags is None else f"?utm_source={tags[0]}&utm_medium={tags[1]}&utm_campaign={tags[2]}"
    page = {"path": path, "url": f"https://peerscore.example{path}{search}", "title": title, "search": search}
    referrer = rng.choice(REFERRERS)
    if referrer:
        page["referrer"] = referrer
    return {"type": "page", "name": title, "timestamp": at.isoformat(), "context": {"page": page}, **ids}


def _linkedin(rng: random.Random, member: str, at: datetime, n: str) -> EngagementEvent:
    notification = {
        "notificationId": n,
        "action": rng.choice(("LIKE", "COMMENT", "SHARE")),
        "sourcePost": rng.choice(POSTS),
        "actor": member,
        "organizationalEntity": "urn:li:organization:42",
        "lastModifiedAt": int(at.timestamp() * 1000),
    }
    events, _ = social_action_events(notification, secret=SECRET, received_at=END)
    return events[0]


def _outcome(key: str, kind: str, at: datetime, n: str) -> Outcome:
    return Outcome(event_id=n, person_key=key, kind=kind, source="webhook", occurred_at=at, received_at=END)


def _person(rng: random.Random, tag: str, days: int, out: InfluenceHistory) -> None:
    anon, user, member = f"anon-{tag}", f"user-{tag}", f"urn:li:person:m{tag}"
    count = rng.randint(1, 14)
    start = END - timedelta(days=days)
    seconds = sorted(rng.sample(range(days * 86_400), count))
    times = [start + timedelta(seconds=s) for s in seconds]
    login = rng.randint(0, count)
    calls: list[dict[str, Any]] = []
    linkedin: list[EngagementEvent] = []
    for i, at in enumerate(times):
        ids = {"anonymousId": anon} if i < login else {"anonymousId": anon, "userId": user}
        roll = rng.random()
        if roll < 0.12:
            linkedin.append(_linkedin(rng, member, at, f"{tag}-{i}"))
        elif roll < 0.22:
            name, props = rng.choice(TRACKS)
            calls.append({"type": "track", "event": name, "properties": props, "timestamp": at.isoformat(), **ids})
        else:
            calls.append(_page_call(rng, ids, at))
    if login < count:
        calls.append({"type": "identify", "timestamp": times[login].isoformat(), "anonymousId": anon, "userId": user})
    events = normalise_batch({"batch": calls}, secret=SECRET, received_at=END) if calls else []
    events.extend(linkedin)
    out.events.extend(sorted(events, key=lambda e: e.occurred_at))
    keys = {
        "anon": person_key(PersonIdentifiers(anonymous_id=anon), SECRET),
        "user": person_key(PersonIdentifiers(user_id=user, anonymous_id=anon), SECRET),
        "member": person_key(PersonIdentifiers(linkedin_member_urn=member), SECRET),
    }
    main = keys["user"] if login < count else keys["anon"]
    if login < count:
        out.links[str(keys["anon"])] = str(main)
    if linkedin and rng.random() < 0.6:
        out.links[str(keys["member"])] = str(main)
    _conversions(rng, tag, times, [str(k) for k in keys.values()], str(main), out)


def _conversions(
    rng: random.Random, tag: str, times: list[datetime], keys: list[str], main: str, out: InfluenceHistory
) -> None:
    if rng.random() > 0.15 + 0.04 * len(times):
        return
    mql_at = rng.choice(times) + timedelta(minutes=30)
    out.mqls[rng.choice([main, keys[0]])] = mql_at
    if rng.random() < 0.5:
        opportunity_at = mql_at + timedelta(days=rng.randint(1, 20))
        out.outcomes.append(_outcome(rng.choice([main, keys[0]]), "opportunity_created", opportunity_at, f"o-{tag}"))
        if rng.random() < 0.4:
            won_at = opportunity_at + timedelta(days=rng.randint(1, 30))
            out.outcomes.append(_outcome(main, "won", won_at, f"w-{tag}"))
    elif rng.random() < 0.2:
        out.outcomes.append(_outcome(main, "won", mql_at + timedelta(days=3), f"w-{tag}"))


def influence_history(people: int, *, seed: int = 5, days: int = 120) -> InfluenceHistory:
    rng = random.Random(seed)
    out = InfluenceHistory()
    for n in range(people):
        _person(rng, f"{seed}-{n}", days, out)
    return out


def history_chunks(events: int, *, seed: int = 5, people_per_chunk: int = 2_000) -> Iterator[InfluenceHistory]:
    """Histories of about ``events`` events in all, a chunk of people at a time (for the bench)."""
    written, chunk = 0, 0
    while written < events:
        part = influence_history(people_per_chunk, seed=seed * 100_000 + chunk)
        part.events = part.events[: events - written]
        written += len(part.events)
        chunk += 1
        yield part


def store_history(engine: Engine, history: InfluenceHistory, offset: int = 0) -> int:
    """Write the events to ``event_history`` (as the worker stores them), the links, outcomes and MQL times;
    returns the next offset."""
    rows = [history_row("gen.events.v1", 0, offset + i, e) for i, e in enumerate(history.events)]
    links = [
        {"person_key": k, "merged_into": v, "target_rank": 3, "merge_id": merge_id(k, v), "merged_at": END}
        for k, v in history.links.items()
    ]
    with Session(engine) as session, session.begin():
        if rows:
            session.execute(insert(EventHistoryRow.__table__), rows)  # type: ignore[attr-defined]
        if links:
            session.execute(insert(IdentityLinkRow.__table__), links)  # type: ignore[attr-defined]
        store_outcomes(session, history.outcomes)
        record_mqls(session, history.mqls)
    return offset + len(rows)
