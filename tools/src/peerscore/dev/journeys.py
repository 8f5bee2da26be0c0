"""A small generator of realistic B2B buyer journeys, as Segment tracking calls.

Accounts are fictional companies; some are *in market*: two to four of their people research in the same
fortnight (blog → case studies → pricing → comparison and review sites → webinar → demo), which is the
buying-committee pattern Peerscore must find. Others browse lightly, and a few visitors are noise (students, job
seekers, personal email addresses). Deterministic for a given seed and end time, so tests can rely on it.
"""

from __future__ import annotations

import math
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
            person, steps = self._bystander(n, account)
            start = end - timedelta(days=self._rng.uniform(1, days))
            calls += self._journey(person, steps, start, span_days=10)
            n += 1
        calls.sort(key=lambda c: (c["timestamp"], c["messageId"]))
        return calls

    def _bystander(self, n: int, account: Account) -> tuple[Person, list[tuple[str, dict[str, Any]]]]:
        """Someone not in a buying committee: a student (noise, 15 %) or one of ``account``'s people browsing warm
        (30 %) or cold (55 %). One random draw for the kind, then the role: replays of a seed stay identical."""
        roll = self._rng.random()
        if roll < 0.15:
            return self._person(n, None, ("Student", "entry", "education")), NOISE_STEPS
        person = self._person(n, account, self._rng.choice(BUYER_ROLES + OTHER_ROLES))
        return person, WARM_STEPS if roll < 0.45 else COLD_STEPS

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


# ---------------------------------------------------------------------------------------------------------------
# Histories with outcomes: data a fresh install can train a first conversion model on.
# ---------------------------------------------------------------------------------------------------------------

TARGET_INDUSTRIES = frozenset({"software", "saas", "fintech"})
"""Industries the fictional vendor sells best to (part of the latent *fit*)."""
SENIOR = frozenset({"c-level", "vp", "director", "head"})
PEER_RESEARCH_STEPS = [
    _track("Review Site Visited", site="g2", page_type="comparison"),
    _page("/compare/peerscore-vs-legacy", "Peerscore vs legacy scoring"),
    _track("Case Study Viewed", name="How Acme doubled pipeline"),
    _page("/customers", "Customers"),
    _track("Review Site Visited", site="capterra", page_type="pricing"),
]
OWN_CHANNEL_STEPS = [
    _page("/blog/scoring-inbound-leads", "How to score inbound leads"),
    _track("Content Downloaded", asset="B2B intent playbook"),
    _track("Webinar Registered", webinar="Scoring the buying committee"),
    _track("Webinar Attended", webinar="Scoring the buying committee"),
    _page("/blog/what-is-buyer-intent", "What is buyer intent"),
]
PRICING_STEP = _page("/pricing", "Pricing")
DEMO_STEP = _track("Demo Requested", plan="business")
TIRE_KICKER_DEMO = 0.06
"""Share of out-of-market visitors who still ask for a demo (curious, researching for later): rarely buyers."""
REJECTION_REASONS = ("no budget", "bad timing", "not the decision maker", "existing vendor contract")


@dataclass(frozen=True)
class GeneratedHistory:
    """``calls`` as :meth:`JourneyGenerator.calls` gives them (ordered by timestamp) plus CRM ``outcomes``:
    dicts of ``id``, ``user_id``, ``email``, ``kind``, ``occurred_at`` (ISO), ``reason``; ``intent`` maps each
    user id to its latent conversion probability (for tests and benchmarks; never a feature)."""

    calls: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    intent: dict[str, float]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class IntentHistoryGenerator(JourneyGenerator):
    """Buyer journeys over ``days`` with CRM outcomes driven by a latent buying intent.

    Assumptions (what a model trained on it can and cannot learn; see also the README):

    * An account is *in market* with probability 0.3; only in-market accounts form buying committees
      (1–5 people researching within about two weeks). Outside the market people browse a little (warm/cold
      journeys), and some visitors are noise (students, personal emails).
    * A committee member's latent intent (log-odds) is
      ``−5.4 + 0.55·peer_research + 0.9·(committee − 1) + 1.1·fit + 0.5·senior + N(0, 0.8)`` where
      ``peer_research`` counts review-site, comparison and case-study visits (0–5), ``committee`` is the number of
      colleagues researching, ``fit`` = 1 for target industries (software, SaaS, fintech) plus 1 for 100–3000
      employees. Outside the market intent is ``−5.5 + 0.6·fit + N(0, 0.8)``.
    * The same intent drives behaviour, noisily: peer-research steps, pricing visits and the chance of a demo
      request all grow with intent, so the rules (which reward demos and pricing most) rank leads reasonably,
      while committee breadth and fit combined with research depth are what a model can add. Out of the
      market, 6 % of visitors still look at pricing and ask for a demo (tire kickers) and rarely buy.
    * A person converts (``accepted`` then ``opportunity_created``, and ``won`` for some) with probability
      ``sigmoid(intent)``, 2–25 days after their last step; people who asked for a demo and did not convert are
      ``rejected`` with a reason. Journeys start uniformly over the whole period (a stationary market), and
      outcomes later than ``end`` are not reported yet, exactly as in a live CRM.
    * Each person has one journey: repeat visits over months, job changes and seasonality are not modelled.
    """

    def history(self, people: int, *, end: datetime, days: int = 120) -> GeneratedHistory:
        accounts = self.accounts(max(1, people // 3))
        calls: list[dict[str, Any]] = []
        outcomes: list[dict[str, Any]] = []
        intent: dict[str, float] = {}
        n = 0
        while n < people:
            account = self._rng.choice(accounts)
            fit = (account.industry in TARGET_INDUSTRIES) + (100 <= account.employees <= 3000)
            start = end - timedelta(days=self._rng.uniform(0, days))  # stationary: journeys start all along
            if account.in_market:
                committee = min(self._rng.randint(1, 5), people - n)
                for _ in range(committee):
                    person = self._person(n, account, self._rng.choice(BUYER_ROLES))
                    n += 1
                    senior = person.seniority in SENIOR
                    # Behaviour and outcome share one latent draw (with their own noise), as with real buyers.
                    research = sum(self._rng.random() < 0.15 + 0.12 * fit + 0.08 * committee for _ in range(5))
                    z = -5.4 + 0.55 * research + 0.9 * (committee - 1) + 1.1 * fit + 0.5 * senior
                    z += self._rng.gauss(0, 0.8)
                    steps = self._intent_steps(research, z)
                    first = start + timedelta(days=self._rng.uniform(0, 10))
                    calls += self._journey(person, steps, first, span_days=self._rng.uniform(3, 12))
                    last = _parse(calls[-1]["timestamp"])
                    intent[person.user_id] = _sigmoid(z)
                    outcomes += self._outcomes(person, _sigmoid(z), DEMO_STEP in steps, last, end)
                continue
            person, steps = self._bystander(n, account)
            if steps is not NOISE_STEPS and self._rng.random() < TIRE_KICKER_DEMO:
                steps = [*steps, PRICING_STEP, DEMO_STEP]
            n += 1
            z = -5.5 + 0.6 * fit + self._rng.gauss(0, 0.8)
            calls += self._journey(person, steps, start, span_days=10)
            intent[person.user_id] = _sigmoid(z)
            outcomes += self._outcomes(person, _sigmoid(z), DEMO_STEP in steps, _parse(calls[-1]["timestamp"]), end)
        calls.sort(key=lambda c: (c["timestamp"], c["messageId"]))
        outcomes.sort(key=lambda o: (o["occurred_at"], o["id"]))
        return GeneratedHistory(calls=calls, outcomes=outcomes, intent=intent)

    def _intent_steps(self, research: int, z: float) -> list[tuple[str, dict[str, Any]]]:
        steps = [self._rng.choice(OWN_CHANNEL_STEPS) for _ in range(self._rng.randint(1, 3))]
        steps += self._rng.sample(PEER_RESEARCH_STEPS, research)
        steps += [PRICING_STEP] * sum(self._rng.random() < _sigmoid(z + 1) for _ in range(3))
        self._rng.shuffle(steps)
        if self._rng.random() < _sigmoid(z + self._rng.gauss(0, 2.0)):
            steps.append(DEMO_STEP)
        return steps

    def _outcomes(
        self, person: Person, probability: float, asked_demo: bool, last: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        def outcome(kind: str, at: datetime, reason: str | None = None) -> dict[str, Any]:
            return {
                "id": f"gen-{self._uuid()}",
                "user_id": person.user_id,
                "email": person.email,
                "kind": kind,
                "occurred_at": at.isoformat(),
                "reason": reason,
            }

        if self._rng.random() < probability:
            accepted = last + timedelta(days=self._rng.uniform(1, 5))
            opportunity = accepted + timedelta(days=self._rng.uniform(1, 20))
            out = [outcome("accepted", accepted), outcome("opportunity_created", opportunity)]
            if self._rng.random() < 0.4:
                out.append(outcome("won", opportunity + timedelta(days=self._rng.uniform(10, 40))))
        elif asked_demo:
            out = [
                outcome("rejected", last + timedelta(days=self._rng.uniform(1, 7)), self._rng.choice(REJECTION_REASONS))
            ]
        else:
            out = []
        return [o for o in out if _parse(o["occurred_at"]) <= end]


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)
