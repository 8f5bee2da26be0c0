"""Event contracts carried on Kafka between the services.

Every model is pydantic v2, rejects naive datetimes and carries ``schema_version`` so consumers can evolve.
Values may hold personal data (an email is needed to reach the CRM); Kafka *keys* never do: they are
``person_key`` values, which are keyed hashes (see :mod:`peerscore.identity`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from peerscore import limits
from peerscore.limits import CompanyText, CountryText, PersonNameText, StoredText, TitleText, TraitText


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


AwareDatetime = Annotated[datetime, AfterValidator(_require_aware)]
"""A datetime that must carry a zone; normalised to UTC so comparisons and hashing are stable."""


def utcnow() -> datetime:
    return datetime.now(UTC)


SYSTEM_EVENT_PREFIX = "system."
"""Events Peerscore writes to its own events topic (never a buyer action: no points, no account activity)."""
DECAY_CHECK = "system.decay_check"
"""Re-evaluates a lead's qualification at the event's time, so leads that went cold are recycled in order."""


IDENTITY_MERGE = "system.identity.merge"
"""Instruction, keyed by the SOURCE person key: move that person into ``properties.target_key`` (see
``peerscore.scoring.identity``). Internal types have two dots, which no ingest source can produce."""
IDENTITY_TRANSFER = "system.identity.transfer"
"""A merged person's state and ledger, keyed by the TARGET person key; applied once per ``merge_id``."""
ERASURE = "system.privacy.erasure"
"""Erase everything Peerscore holds about the person key (``DELETE /v1/people/{email}``)."""
LEAD_FORM_DELETED = "linkedin.lead_form.deleted"
"""A LinkedIn member deleted their lead-form response: scoring erases the person as for an erasure request."""
INTERNAL_SOURCE = "peerscore"
"""The ``source`` of events Peerscore writes itself; internal instructions from any other source are refused."""


def is_system_event(event_type: str) -> bool:
    return event_type.startswith(SYSTEM_EVENT_PREFIX)


_WORD = re.compile(r"[A-Za-z0-9]+")


def event_type_for(wording: str) -> str | None:
    """The one event type every wording of a name maps to: ``"Case Study Viewed"``, ``"case_study_viewed"`` and
    ``"case_study.viewed"`` → ``"case_study.viewed"``; one word ``"Foo"`` → ``"track.foo"``; no word → None.

    Ingest types track calls with it and scoring reads rulesets' aliases with it, so both agree on spelling.
    """
    words = [w.lower() for w in _WORD.findall(wording)]
    if not words:
        return None
    if len(words) == 1:
        return "track." + words[0]
    return "_".join(words[:-1]) + "." + words[-1]


class Contract(BaseModel):
    """Base of every message: immutable, unknown fields refused so producer bugs surface at the edge."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# Every string an event carries into a database column is bounded by peerscore.limits (the columns' own
# max_length) and free of NUL characters, so a record that decodes can also be stored on PostgreSQL. Keys and
# ids that do not fit are refused; free text (names, titles, company names) is cut to fit, ending in "…".


TRAIT_TEXT = {
    "first_name": limits.PERSON_NAME,
    "last_name": limits.PERSON_NAME,
    "title": limits.TITLE,
    "seniority": limits.TRAIT,
    "function": limits.TRAIT,
    "country": limits.COUNTRY,
}
"""The free-text fields of :class:`PersonTraits` and their limits (what :func:`limits.clip_fields` cuts)."""
ACCOUNT_TEXT = {"name": limits.COMPANY, "industry": limits.TRAIT, "region": limits.TRAIT}
"""The free-text fields of :class:`AccountHints`; its domain and URN are keys, refused when too long."""


class PersonIdentifiers(Contract):
    email: StoredText | None = Field(default=None, max_length=limits.EMAIL)
    # Kept in JSON documents only (NUL is escaped there): bounded, not pattern-checked, which costs on every event.
    user_id: str | None = Field(default=None, max_length=limits.IDENTIFIER)
    anonymous_id: str | None = Field(default=None, max_length=limits.IDENTIFIER)
    linkedin_member_urn: str | None = Field(default=None, max_length=limits.IDENTIFIER)


class PersonTraits(Contract):
    """Who the person is: the inputs of *fit* scoring."""

    first_name: PersonNameText | None = None
    last_name: PersonNameText | None = None
    title: TitleText | None = None
    seniority: TraitText | None = None
    function: TraitText | None = None
    country: CountryText | None = None


class AccountHints(Contract):
    """What the event says about the person's company (the B2B account)."""

    domain: StoredText | None = Field(default=None, max_length=limits.ACCOUNT_KEY)
    name: CompanyText | None = None
    linkedin_org_urn: StoredText | None = Field(default=None, max_length=limits.ACCOUNT_KEY)
    employees: int | None = None
    industry: TraitText | None = None
    region: TraitText | None = None


class EngagementEvent(Contract):
    """One normalised thing a buyer did (or said about themselves), from any source."""

    schema_version: Literal[1] = 1
    event_id: StoredText = Field(
        min_length=1, max_length=limits.EVENT_ID, description="Source id (Segment messageId…); dedup key"
    )
    type: str = Field(
        min_length=1,
        max_length=limits.EVENT_TYPE,
        description="Dotted event type, e.g. page.viewed, content.downloaded, identify",
    )
    name: str | None = Field(
        default=None, max_length=limits.EVENT_NAME, description="Original event name from the source"
    )
    source: str = Field(min_length=1, max_length=limits.SOURCE)
    person_key: StoredText = Field(min_length=1, max_length=limits.PERSON_KEY)
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    person: PersonIdentifiers = PersonIdentifiers()
    traits: PersonTraits = PersonTraits()
    account: AccountHints = AccountHints()
    properties: dict[str, Any] = Field(default_factory=dict)
    consent: dict[str, bool] = Field(
        default_factory=dict,
        description="Consent statements, category → allowed; read by peerscore.consent (opted_out: True = opt-out)",
    )


Grade = Literal["A", "B", "C", "D"]


class LineScore(Contract):
    """One product line's score of a lead (a ruleset's ``product_lines``): its own grade, level and MQL flag."""

    score: float
    activity: float = 0.0
    grade: Grade
    level: int = Field(ge=1, le=3)
    qualified: bool
    reasons: list[str] = Field(default_factory=list)


def _empty(value: object) -> bool:
    """Left out of the JSON when empty/None, so single-line messages stay byte for byte what they were."""
    return not value


class LeadScore(Contract):
    """A person's score after an event was applied. ``version`` grows by one per applied event."""

    schema_version: Literal[1] = 1
    person_key: str
    version: int = Field(ge=1)
    fit: float
    engagement: float
    intent: float
    groups: dict[str, float] = Field(default_factory=dict, description="Every group's score, custom ones too")
    total: float
    grade: Grade
    level: int = Field(ge=1, le=3)
    qualified: bool
    reasons: list[str] = Field(default_factory=list)
    ruleset_version: str
    as_of: AwareDatetime
    account_key: str | None = None
    withheld: str | None = Field(
        default=None, description="Why the score is withheld (e.g. opted_out): zeroed, and never synced to a CRM"
    )
    conversion_probability: float | None = Field(
        default=None, ge=0, le=1, description="The champion model's calibrated probability of converting"
    )
    model_version: int | None = Field(default=None, description="The model version behind conversion_probability")
    lines: dict[str, LineScore] = Field(
        default_factory=dict, exclude_if=_empty, description="Per product line (empty for a single-line ruleset)"
    )


class LeadContact(Contract):
    """What the CRM needs to find or create the record; travels only in message values."""

    email: StoredText | None = Field(default=None, max_length=limits.EMAIL)
    first_name: PersonNameText | None = None
    last_name: PersonNameText | None = None
    title: TitleText | None = None
    company: CompanyText | None = None
    domain: StoredText | None = Field(default=None, max_length=limits.ACCOUNT_KEY)
    country: CountryText | None = None


TransitionKind = Literal["qualified", "recycled", "updated"]


class LeadTransition(Contract):
    """Qualification crossed (``qualified``) or left (``recycled``), or a handed-off lead's score changed
    (``updated``: the CRM record follows the lead); drives crm-sync.

    ``score.version`` is the idempotency key: a CRM applies a lead version at most once. With product lines, one
    version may be told by the lead (``product_line`` None, first) and by each line that moved: a transition is
    identified by ``(person_key, score.version, product_line)``, and every one carries the whole score (all lines).
    """

    schema_version: Literal[1] = 1
    kind: TransitionKind
    person_key: str
    contact: LeadContact
    score: LeadScore
    transitioned_at: AwareDatetime
    active_colleagues: int | None = Field(
        default=None,
        ge=0,
        description="Other people of the lead's account active in the ruleset's breadth window when it qualified "
        "(what an MQL alert shows beside the reasons); absent in records written before it existed",
    )
    product_line: str | None = Field(
        default=None,
        max_length=64,
        exclude_if=_empty,
        description="The product line that qualified/recycled (alerts route by it); None: the lead as a whole",
    )


def with_free_text_fitted(document: Mapping[str, Any]) -> dict[str, Any]:
    """An event (or a person state) with its traits' and company's free text cut to today's limits.

    For documents written before :mod:`peerscore.limits` existed (events on a topic or in the history table,
    person states): they are read as they would be accepted today instead of failing the contract."""
    out = dict(document)
    for section, maxima in (("traits", TRAIT_TEXT), ("account", ACCOUNT_TEXT), ("company", ACCOUNT_TEXT)):
        value = out.get(section)
        if isinstance(value, Mapping):
            out[section] = limits.clip_fields(value, maxima)
    return out


def parse_event(raw: str | bytes) -> EngagementEvent:
    """An :class:`EngagementEvent` from JSON; free text longer than today's limits (written before them) is cut."""
    try:
        return EngagementEvent.model_validate_json(raw)
    except ValidationError as exc:
        if not any(e["type"] == "string_too_long" for e in exc.errors()):
            raise
        return EngagementEvent.model_validate(with_free_text_fitted(json.loads(raw)))


class DeadLetter(Contract):
    """A record no handler could accept, kept with the reason and its original bytes (base64)."""

    schema_version: Literal[1] = 1
    reason: str
    source: str = Field(description="Where it came from: a topic, or an ingest endpoint")
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    value_b64: str
    failed_at: AwareDatetime


OutcomeKind = Literal["accepted", "rejected", "opportunity_created", "won", "lost"]


class Outcome(Contract):
    """What sales did with a lead, reported back by the CRM: the label for training and backtests.

    Keyed by ``person_key``: the email's key (``peerscore.identity.outcome_person_key``), as CRMs name leads by
    email. Scoring stores that key as sent and reads the outcome under the canonical person the key was merged
    into (see ``peerscore.scoring.identity.canonical``), so it joins the lead's events whatever they are keyed by.
    ``event_id`` is the CRM's own notification id: CRMs redeliver webhooks, consumers deduplicate on it.
    """

    schema_version: Literal[1] = 1
    event_id: StoredText = Field(min_length=1, max_length=limits.EVENT_ID)
    person_key: StoredText = Field(min_length=1, max_length=limits.PERSON_KEY)
    kind: OutcomeKind
    reason: StoredText | None = Field(
        default=None, max_length=limits.OUTCOME_REASON, description="Why a lead was rejected, if said"
    )
    source: Literal["hubspot", "salesforce", "webhook"]
    crm_object_id: StoredText | None = Field(default=None, max_length=limits.CRM_OBJECT_ID)
    occurred_at: AwareDatetime
    received_at: AwareDatetime


class ErasureRequest(Contract):
    """Erase one person key everywhere (``peerscore.erasure.v1``, keyed by the person key; never an email).

    Scoring publishes it once it erased its own data, so every other service deletes its copy and records that
    it did. ``erased_at`` is when scoring erased: records a service received about the key before then are stale.
    """

    schema_version: Literal[1] = 1
    request_id: StoredText = Field(min_length=1, max_length=limits.REQUEST_ID)
    person_key: StoredText = Field(min_length=1, max_length=limits.PERSON_KEY)
    requested_at: AwareDatetime
    erased_at: AwareDatetime


class PersonMerged(Contract):
    """Scoring merged ``source_key`` into ``target_key`` (``peerscore.merges.v1``, keyed by the target key).

    Published when the source's state moves out, so services holding their own copy of the two people (crm-sync's
    CRM records) can make them one. Keys only: person keys are keyed hashes, never personal data. ``merge_id`` is
    stable across replays, so consumers can apply a notice once.
    """

    schema_version: Literal[1] = 1
    merge_id: str = Field(min_length=1, max_length=64)
    source_key: str = Field(min_length=1, max_length=64)
    target_key: str = Field(min_length=1, max_length=64)
    merged_at: AwareDatetime
