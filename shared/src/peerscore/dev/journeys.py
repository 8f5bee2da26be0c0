"""A small generator of realistic B2B buyer journeys, as Segment tracking calls.

Accounts are fictional companies; some are *in market*: two to four of their people research in the same
fortnight (blog → case studies → pricing → comparison and review sites → webinar → demo), which is the
buying-committee pattern Peerscore must find. Others browse lightly, and a few visitors are noise (students, job
seekers, personal email addresses). Deterministic for a given seed and end time, so tests can rely on it.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

INDUSTRIES = (
    "software",
    "fintech",
    "saas",
    "healthcare",
    "manufacturing",
    "retail",
    "education",
    "logistics",
)
COMPANY_WORDS = (
    "north",
    "blue",
    "quant",
    "river",
    "peak",
    "nova",
    "iron",
    "cloud",
    "vertex",
    "harbor",
    "lumen",
)
COMPANY_SUFFIXES = ("labs", "systems", "analytics", "works", "soft", "data", "logic", "grid")
FIRST = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kai", "Lea", "Mina")
LAST = ("Novak", "Okafor", "Patel", "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Vidal", "Weber", "Young")
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "CA", "SE")

BUYER_ROLES = (
    ("VP of Marketing", "vp", "marketing"),
    ("Director of Revenue Operations", "director", "operations"),
    ("Head of Demand Generation", "head", "marketing"),
    ("Chief Revenue Officer", "c-level", "sales"),
    ("Marketing Operations Manager", "manager", "marketing"),
    ("Senior Sales Manager", "manager", "sales"),
)
OTHER_ROLES = (
    ("Software Engineer", "individual", "engineering"),
    ("Marketing Coordinator", "entry", "marketing"),
)


@dataclass(frozen=True)
class Account:
    name: str
    domain: str
    employees: int
    industry: str
    in_market: bool


@dataclass(frozen=True)
class Person:
    user_id: str
    anonymous_id: str
    email: str
    first_name: str
    last_name: str
    title: str
    seniority: str
    function: str
    country: str
    account: Account | None


def _page(path: str, title: str) -> tuple[str, dict[str, Any]]:
    return "page", {"path": path, "url": f"https://peerscore.example{path}", "title": title}


def _track(event: str, **props: Any) -> tuple[str, dict[str, Any]]:
    return "track", {"event": event, **props}


HOT_STEPS = [
    _page("/blog/scoring-inbound-leads", "How to score inbound leads"),
    _track("Case Study Viewed", name="How Acme doubled pipeline"),
    _page("/customers", "Customers"),
    _page("/pricing", "Pricing"),
    _track("Review Site Visited", site="g2", page_type="comparison"),
    _page("/compare/peerscore-vs-legacy", "Peerscore vs legacy scoring"),
    _page("/pricing", "Pricing"),
    _track("Webinar Attended", webinar="Scoring the buying committee"),
    _track("Content Downloaded", asset="B2B intent playbook"),
    _page("/pricing", "Pricing"),
    _track("Demo Requested", plan="business"),
]
WARM_STEPS = [
    _page("/blog/what-is-buyer-intent", "What is buyer intent"),
    _track("Content Downloaded", asset="B2B intent playbook"),
    _track("Webinar Registered", webinar="Scoring the buying committee"),
    _page("/pricing", "Pricing"),
    _page("/case-studies/globex", "Globex case study"),
]
COLD_STEPS = [_page("/blog/what-is-buyer-intent", "What is buyer intent"), _page("/about", "About us")]
NOISE_STEPS = [
    _page("/careers", "Careers"),
    _page("/careers/engineering", "Engineering jobs"),
    _page("/blog", "Blog"),
]


class JourneyGenerator:
    def __init__(self, seed: int = 7) -> None:
        self._rng = random.Random(seed)
        self._ids = random.Random(seed + 1)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def accounts(self, count: int) -> list[Account]:
        out: list[Account] = []
        for i in range(count):
            word = self._rng.choice(COMPANY_WORDS)
            suffix = self._rng.choice(COMPANY_SUFFIXES)
            out.append(
                Account(
                    name=f"{word.title()} {suffix.title()}",
                    domain=f"{word}{suffix}{i}.example",
                    employees=self._rng.choice((12, 45, 120, 350, 800, 2500, 12000)),
                    industry=self._rng.choice(INDUSTRIES),
                    in_market=self._rng.random() < 0.3,
                )
            )
        return out

    def _person(self, n: int, account: Account | None, role: tuple[str, str, str]) -> Person:
        first, last = self._rng.choice(FIRST), self._rng.choice(LAST)
        domain = account.domain if account is not None else self._rng.choice(("gmail.com", "outlook.com"))
        return Person(
            user_id=f"user-{n:06d}",
            anonymous_id=self._uuid(),
            email=f"{first.lower()}.{last.lower()}{n}@{domain}",
            first_name=first,
            last_name=last,
            title=role[0],
            seniority=role[1],
            function=role[2],
            country=self._rng.choice(COUNTRIES),
            account=account,
        )

    def calls(self, people: int, *, end: datetime, days: int = 30) -> list[dict[str, Any]]:
        """About ``people`` people's calls (identify first, then their journey), ordered by timestamp."""
        accounts = self.accounts(max(1, people // 3))
        calls: list[dict[str, Any]] = []
        n = 0
        while n < people:
            account = self._rng.choice(accounts)
            if account.in_market:
                committee = self._rng.randint(2, 4)
                start = end - timedelta(days=self._rng.uniform(3, 12))
                for _ in range(min(committee, people - n)):
                    role = self._rng.choice(BUYER_ROLES)
                    steps = HOT_STEPS if self._rng.random() < 0.6 else WARM_STEPS
                    calls += self._journey(self._person(n, account, role), steps, start, span_days=3)
                    n += 1
                continue
            roll = self._rng.random()
            if roll < 0.15:
                person = self._person(n, None, ("Student", "entry", "education"))
                steps = NOISE_STEPS
            else:
                role = self._rng.choice(BUYER_ROLES + OTHER_ROLES)
                person = self._person(n, account, role)
                steps = WARM_STEPS if roll < 0.45 else COLD_STEPS
            start = end - timedelta(days=self._rng.uniform(1, days))
            calls += self._journey(person, steps, start, span_days=10)
            n += 1
        calls.sort(key=lambda c: (c["timestamp"], c["messageId"]))
        return calls

    def _journey(
        self, person: Person, steps: list[tuple[str, dict[str, Any]]], start: datetime, span_days: float
    ) -> list[dict[str, Any]]:
        at = start
        out = [self._call("identify", person, at, {})]
        for kind, payload in steps:
            at += timedelta(hours=self._rng.uniform(0.2, span_days * 24 / len(steps)))
            out.append(self._call(kind, person, at, payload))
        return out

    def _call(self, kind: str, person: Person, at: datetime, payload: dict[str, Any]) -> dict[str, Any]:
        call: dict[str, Any] = {
            "type": kind,
            "messageId": self._uuid(),
            "userId": person.user_id,
            "anonymousId": person.anonymous_id,
            "timestamp": at.isoformat(),
            "context": {"library": {"name": "peerscore-journeys", "version": "1"}},
        }
        if kind == "identify":
            call["traits"] = _traits(person)
        elif kind == "page":
            call["name"] = payload["title"]
            call["properties"] = payload
        else:
            call["event"] = payload["event"]
            call["properties"] = {k: v for k, v in payload.items() if k != "event"}
        return call


def _traits(person: Person) -> dict[str, Any]:
    traits: dict[str, Any] = {
        "email": person.email,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "title": person.title,
        "seniority": person.seniority,
        "function": person.function,
        "address": {"country": person.country},
    }
    if person.account is not None:
        traits["company"] = {
            "name": person.account.name,
            "domain": person.account.domain,
            "employee_count": person.account.employees,
            "industry": person.account.industry,
        }
    return traits
