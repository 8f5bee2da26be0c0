"""What scoring remembers between events, per person and per account.

States are plain pydantic models that round-trip through JSON (``model_dump(mode="json")`` /
``model_validate``) so the worker can store them in one column. They are frozen: ``apply_event`` builds new
states and may share unchanged parts with the old ones.

Two different kinds of determinism, because Kafka partitions are keyed by person and interleave differently on
every run:

* :class:`PersonState` is a fold of the person's OWN events in partition order. It keeps its own view of the
  company (``company``) and never reads the shared :class:`AccountState`, so replays give equal person states.
* :class:`AccountState` is shared by colleagues whose events live on other partitions, so every merge into it
  is commutative and idempotent (max of times, per-attribute last-writer-wins by ``(occurred_at, event_id)``):
  the final account is the same whatever the interleaving.
"""

from __future__ import annotations

from bisect import insort
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from peerscore import limits
from peerscore.events import AccountHints, AwareDatetime, EngagementEvent, LeadContact, PersonTraits
from peerscore.identity import account_key, account_key_from, is_free_mail
from peerscore.limits import clip

from .activity import EMPTY_PROFILE, SignalProfile
from .decay import decay_factor

RECENT_EVENT_IDS = 256
"""Event ids kept for dedup: sources redeliver within minutes, so a few hundred per person is plenty."""

RECENT_OCCURRENCES = 20
"""Occurrence times kept per rule: enough to say "3× in the last 7 days" without unbounded growth."""

MAX_ACTIVE_PEOPLE = 1_000
"""Upper bound on tracked people per account, so one huge account cannot blow up a row. The most recent are
kept by ``(time, person_key)``, which does not depend on the order activity arrived in."""

ACCOUNT_ATTRIBUTES = ("name", "domain", "linkedin_org_urn", "employees", "industry", "region")
"""Company attributes an event's ``account`` hints may carry (the fields of :class:`AccountHints`)."""

Stamp = tuple[AwareDatetime, str]
"""``(occurred_at, event_id)`` of the event that set an account attribute: a total order on writers."""


class _State(BaseModel):
    model_config = ConfigDict(frozen=True)


class RuleTally(_State):
    """One rule's decayed points for one person, plus when the rule matched (for reasons and once-only rules).

    ``value`` is worth ``value·2^(−(t−as_of)/half_life)`` at a later time t. A group's points are the sum of its
    rules' tallies (same half-life), so no separate group accumulator can drift from its rules.
    """

    value: float = 0.0
    as_of: AwareDatetime | None = None
    count: int = 0
    recent: list[AwareDatetime] = Field(default_factory=list)

    def value_at(self, at: datetime, half_life_days: float | None) -> float:
        if self.as_of is None:
            return 0.0
        return self.value * decay_factor(self.as_of, at, half_life_days)

    def record(self, *, occurred_at: datetime, award: float, at: datetime, half_life_days: float | None) -> RuleTally:
        """Count one match at ``occurred_at`` and add ``award`` (already expressed as of ``at``)."""
        recent = list(self.recent)
        insort(recent, occurred_at)
        as_of = at if self.as_of is None or at >= self.as_of else self.as_of
        # Trusted values computed here: skip validation (this runs for every matched rule of every event).
        return RuleTally.model_construct(
            value=self.value_at(as_of, half_life_days) + award * decay_factor(at, as_of, half_life_days),
            as_of=as_of,
            count=self.count + 1,
            recent=recent[-RECENT_OCCURRENCES:],
        )


EMPTY_TALLY = RuleTally()
"""The tally of a rule that never matched (shared: states are immutable)."""


class PersonState(_State):
    """Everything that decides a person's score, built only from that person's own events (see module doc)."""

    person_key: str
    version: int = Field(default=0, ge=0, description="Number of events applied; LeadScore.version")
    email: str | None = None
    traits: PersonTraits = PersonTraits()
    account_key: str | None = None
    company: AccountHints = Field(
        default_factory=AccountHints, description="The company as the person's own events describe it"
    )
    qualified: bool = False
    last_event_at: AwareDatetime | None = None
    recent_event_ids: list[str] = Field(default_factory=list, description="Most recent last; for dedup")
    rules: dict[str, RuleTally] = Field(default_factory=dict, description="Accumulators of event rules")
    opted_out: bool = Field(default=False, description="Opted out: not scored until they opt back in")
    signals: SignalProfile = Field(
        default=EMPTY_PROFILE, description="Every activity signal, bounded (model features); empty in old states"
    )
    qualified_lines: list[str] = Field(
        default_factory=list,
        exclude_if=lambda lines: not lines,  # states of single-line rulesets are stored as before
        description="The product lines the person is an MQL for, sorted (see domain/lines.py)",
    )

    @property
    def email_domain(self) -> str | None:
        if not self.email or "@" not in self.email:
            return None
        return self.email.rsplit("@", 1)[1].strip().lower() or None

    def company_view(self) -> AccountState | None:
        """The account that person rules (fit, event rules, reasons) see: the person's own view, no colleagues.

        ``None`` without an account key, as before: account conditions need to know which company it is.
        """
        if self.account_key is None:
            return None
        hints = self.company
        return AccountState(
            account_key=self.account_key,
            domain=self.account_key,
            name=hints.name,
            linkedin_org_urn=hints.linkedin_org_urn,
            employees=hints.employees,
            industry=hints.industry,
            region=hints.region,
        )


class AccountState(_State):
    """The shared company record. Every update is a commutative, idempotent merge (see module doc)."""

    account_key: str
    name: str | None = None
    domain: str | None = None
    linkedin_org_urn: str | None = None
    employees: int | None = None
    industry: str | None = None
    region: str | None = None
    stamps: dict[str, Stamp] = Field(
        default_factory=dict, description="attribute → (occurred_at, event_id) of the event that set it"
    )
    active_people: dict[str, AwareDatetime] = Field(
        default_factory=dict, description="person_key → latest activity (max over events, any arrival order)"
    )

    def colleagues_active(self, person_key: str | None, at: datetime, window_days: float) -> int:
        """Other people of this account active within ``window_days`` of ``at``, before or after it."""
        window = timedelta(days=window_days)
        return sum(1 for key, seen in self.active_people.items() if key != person_key and abs(seen - at) < window)

    def with_activity(self, person_key: str, occurred_at: datetime) -> AccountState:
        """Record activity as ``max(existing, occurred_at)``; no pruning by time, so arrival order cannot matter."""
        previous = self.active_people.get(person_key)
        if previous is not None and previous >= occurred_at:
            return self
        return self.merge_activity({person_key: occurred_at})

    def merge_activity(self, activity: dict[str, datetime]) -> AccountState:
        """Join activity maps (per-person max), then keep the most recent people by ``(time, person_key)``."""
        active = dict(self.active_people)
        for key, at in activity.items():
            previous = active.get(key)
            if previous is None or at > previous:
                active[key] = at
        if len(active) > MAX_ACTIVE_PEOPLE:
            kept = sorted(((t, k) for k, t in active.items()), reverse=True)[:MAX_ACTIVE_PEOPLE]
            active = {k: t for t, k in kept}
        if len(active) != len(self.active_people) or active.keys() != self.active_people.keys():
            active = dict(sorted(active.items()))  # keys in order, so equal states serialise equally
        return self.model_copy(update={"active_people": active})

    def with_hints(self, hints: AccountHints, occurred_at: datetime, event_id: str) -> AccountState:
        """Per attribute, the value of the latest event ``(occurred_at, event_id)`` wins, whatever the arrival
        order; attributes the event does not give keep their value. Unstamped (legacy) values lose to any event.
        """
        stamp: Stamp = (occurred_at, event_id)
        update: dict[str, Any] = {}
        stamps = dict(self.stamps)
        for name, value in hinted_attributes(hints):
            held = stamps.get(name)
            if held is None or stamp > held:
                update[name] = value
                stamps[name] = stamp
        if not update:
            return self
        return self.model_copy(update={**update, "stamps": dict(sorted(stamps.items()))})

    def merge(self, other: AccountState) -> AccountState:
        """Join two states of one account: commutative, associative and idempotent for stamped attributes
        (unstamped legacy values are kept from ``self``), so workers that share an account can combine states.
        """
        if other.account_key != self.account_key:
            raise ValueError(f"cannot merge account {other.account_key!r} into {self.account_key!r}")
        merged = self.merge_activity(dict(other.active_people))
        for name, (at, event_id) in other.stamps.items():
            merged = merged.with_hints(AccountHints(**{name: getattr(other, name)}), at, event_id)
        return merged


def hinted_attributes(hints: AccountHints) -> list[tuple[str, Any]]:
    """The account attributes an event's hints give, as ``(name, value)``: non-empty only, domain normalised."""
    found = []
    for name in ACCOUNT_ATTRIBUTES:
        value = normalise_domain(hints.domain) if name == "domain" else getattr(hints, name)
        if value is not None:
            found.append((name, value))
    return found


def account_breadth(account: AccountState, person_key: str | None, as_of: datetime, window_days: float) -> int:
    """How many people of ``account`` other than ``person_key`` were active within ``window_days`` of ``as_of``.

    The buying-committee signal; an account-level fact for outputs and account scoring, never person points.
    """
    return account.colleagues_active(person_key, as_of, window_days)


def new_person(person_key: str) -> PersonState:
    return PersonState(person_key=person_key)


def new_account(account_key: str) -> AccountState:
    return AccountState(account_key=account_key, domain=account_key)


def normalise_domain(value: str | None) -> str | None:
    """``" WWW.Acme.com "`` → ``acme.com``: one company, one key, however the source capitalised it.

    The one rule is ``peerscore.identity.account_key`` (pure); blank domains mean "no account".
    """
    if value is None:
        return None
    return account_key(value) or None


def event_account_key(event: EngagementEvent) -> str | None:
    """The account the event itself names: its domain (never a free-mail one), else its LinkedIn organisation
    URN, else the ``groupId`` of a Segment ``group`` call (see :func:`peerscore.identity.account_key_from`)."""
    hints = event.account
    if hints.linkedin_org_urn is None and event.type != "group":
        if hints.domain is None:
            return None
        key = account_key(hints.domain)
        return key if key and not is_free_mail(key) else None
    group_id = event.properties.get("group_id") if event.type == "group" else None
    return account_key_from(
        domain=hints.domain,
        linkedin_org_urn=hints.linkedin_org_urn,
        group_id=group_id if isinstance(group_id, str) else None,
    )


def account_key_for(person: PersonState, event: EngagementEvent) -> str | None:
    """The account an event belongs to: the one it names (:func:`event_account_key`), else the person's.

    The worker calls this to know which account state to load before :func:`apply_event`.
    """
    return event_account_key(event) or person.account_key


def lead_contact(person: PersonState, account: AccountState | None) -> LeadContact:
    """Who a qualified lead is, for the CRM: the person's details and their company (the shared account's name,
    the account key as the domain)."""
    return LeadContact(
        email=person.email,
        first_name=person.traits.first_name,
        last_name=person.traits.last_name,
        title=person.traits.title,
        company=clip(account.name, limits.COMPANY) if account is not None else None,  # named before the limits
        domain=account.account_key if account is not None else person.account_key,
        country=person.traits.country,
    )


def merged_traits(old: PersonTraits, new: PersonTraits) -> PersonTraits:
    """Newer non-empty values win; an event that does not mention a trait does not erase it."""
    return _overlay(old, new)


def merged_company(person: PersonState, key: str | None, hints: AccountHints) -> AccountHints:
    """The person's company view after an event: newer non-empty hints win (like :func:`merged_traits`).

    When the person moves to another account the old company's size or industry no longer describe them, so
    the view restarts from this event's hints.
    """
    return company_after(person.company, person.account_key, key, hints)


def company_after(company: AccountHints, account_key: str | None, key: str | None, hints: AccountHints) -> AccountHints:
    """:func:`merged_company` from the parts it reads, for the working fold (which holds no :class:`PersonState`)."""
    if account_key is not None and key != account_key:
        company = AccountHints()
    return _overlay(company, hints)


_Flat = TypeVar("_Flat", PersonTraits, AccountHints)


def _overlay(old: _Flat, new: _Flat) -> _Flat:
    """``old`` with ``new``'s non-empty values; ``old`` itself (same object) when nothing changes, so callers can
    tell "unchanged" by identity. Both are flat models of scalars: their ``__dict__`` is their data.
    """
    current = old.__dict__
    update = {name: value for name, value in new.__dict__.items() if value is not None and current[name] != value}
    return old.model_copy(update=update) if update else old
