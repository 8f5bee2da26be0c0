"""From the ``LeadTransition`` contract to what a CRM stores, and from that record to CRM property names.

Pure on purpose: every adapter (local table, HubSpot, Salesforce, webhook) builds its payload from the
same :class:`CrmLeadRecord`, so a lead looks the same in every CRM and the mapping is testable without any
I/O. The field mapping is data (configuration), not code, because each CRM account names its properties
differently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from peerscore.crm_sync.domain.freshness import LeadStatus, lead_status
from peerscore.events import AwareDatetime, Grade, LeadScore, LeadTransition, TransitionKind

OPTED_OUT: LeadStatus = "Opted out"
"""A handed-off person who withdrew consent: the CRM record says so, with every score withheld (zero)."""


class UnmappableLead(ValueError):
    """The transition cannot become a CRM record (e.g. no email); retrying the same version cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FieldMappingError(ValueError):
    """A configured field mapping names Peerscore fields that do not exist, or is ambiguous."""


class CrmLine(BaseModel):
    """One product line of a lead as the CRM shows it: its score, grade and status (MQL for this line or not)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: float
    grade: Grade
    status: LeadStatus


LINE_FIELDS = ("score", "grade", "status")
"""What a CRM gets per product line; each is sent when its whole-lead field is in the mapping."""

LINE_PROPERTY = "peerscore_{line}_{field}"
"""The CRM property of a line's field (``peerscore_cloud_score``); Salesforce's: :data:`SALESFORCE_LINE_PROPERTY`."""

SALESFORCE_LINE_PROPERTY = "Peerscore_{Line}_{Field}__c"


class CrmLeadRecord(BaseModel):
    """One lead version as every CRM adapter receives it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_key: str = Field(min_length=1)
    email: str = Field(min_length=3)
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    company: str | None = None
    domain: str | None = None
    country: str | None = None
    score: float
    fit: float
    engagement: float
    intent: float
    probability: float | None = Field(default=None, ge=0, le=1, description="Model probability, when scored")
    model_version: int | None = Field(default=None, description="The model behind ``probability``")
    grade: Grade
    level: int = Field(ge=1, le=3)
    status: LeadStatus
    change: TransitionKind = Field(default="qualified", description="What made this version: handoff or update")
    reasons: list[str] = Field(default_factory=list)
    groups: dict[str, float] = Field(default_factory=dict, description="Every group's score, custom ones too")
    lines: dict[str, CrmLine] = Field(default_factory=dict, description="Per product line; empty without lines")
    ruleset_version: str
    version: int = Field(ge=1, description="Lead version (score.version): the idempotency key")
    qualified_at: AwareDatetime | None = Field(default=None, description="Set by 'qualified' only")
    transitioned_at: AwareDatetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reasons_text(self) -> str:
        """The reasons one per line, for CRMs whose fields take long text but not lists."""
        return "\n".join(self.reasons)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def groups_text(self) -> str:
        """``group: score`` one per line (custom groups included), for CRMs without a field per group."""
        return "\n".join(f"{name}: {value:g}" for name, value in sorted(self.groups.items()))

    @property
    def full_name(self) -> str | None:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return name or None


def to_crm_record(transition: LeadTransition, previous_status: str | None = None) -> CrmLeadRecord:
    """Map a transition; raises :class:`UnmappableLead` when the CRM could not identify the person.

    ``previous_status`` is the status last sent to this CRM: an update of a lead no longer qualified keeps it.
    """
    contact, score = transition.contact, transition.score
    email = (contact.email or "").strip()
    if not email:
        raise UnmappableLead("missing email")
    transitioned_at: datetime = transition.transitioned_at
    # A product line's transition moves that line's status; for the lead as a whole it is an update.
    kind = transition.kind if transition.product_line is None else "updated"
    if score.withheld is not None:  # the numbers must not stay in the CRM either
        zeroed = {"total": 0.0, "fit": 0.0, "engagement": 0.0, "intent": 0.0, "reasons": [], "groups": {}, "lines": {}}
        score = score.model_copy(update=zeroed | {"conversion_probability": None})
    return CrmLeadRecord(
        person_key=transition.person_key,
        email=email,
        first_name=contact.first_name,
        last_name=contact.last_name,
        title=contact.title,
        company=contact.company,
        domain=contact.domain,
        country=contact.country,
        score=score.total,
        fit=score.fit,
        engagement=score.engagement,
        intent=score.intent,
        probability=score.conversion_probability,  # None while no champion model scores the lead
        model_version=score.model_version,
        grade=score.grade,
        level=score.level,
        status=OPTED_OUT if score.withheld is not None else lead_status(kind, score.qualified, previous_status),
        change=kind,
        reasons=list(score.reasons),
        groups=dict(score.groups),
        lines=_lines(score, transition),
        ruleset_version=score.ruleset_version,
        version=score.version,
        qualified_at=transitioned_at if kind == "qualified" else None,
        transitioned_at=transitioned_at,
    )


def _lines(score: LeadScore, transition: LeadTransition) -> dict[str, CrmLine]:
    """Each line's CRM view: MQL while qualified for it, Recycled on the version that recycles it, else Open."""
    lines: dict[str, CrmLine] = {}
    for name, line in score.lines.items():
        moved = transition.kind if transition.product_line == name else "updated"
        status = lead_status(moved, line.qualified, None)
        lines[name] = CrmLine(score=line.score, grade=line.grade, status=status)
    return lines


MAPPABLE_FIELDS: frozenset[str] = (
    frozenset(CrmLeadRecord.model_fields) | frozenset(CrmLeadRecord.model_computed_fields)
) - {"lines"}
"""``lines`` is not one property: each line's fields are (see :func:`line_properties`)."""

DEFAULT_FIELD_MAPPING: Mapping[str, str] = {
    "email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "title": "job_title",
    "company": "company",
    "domain": "website",
    "country": "country",
    "person_key": "peerscore_person_key",
    "score": "peerscore_score",
    "fit": "peerscore_fit",
    "engagement": "peerscore_engagement",
    "intent": "peerscore_intent",
    "probability": "peerscore_probability",
    "model_version": "peerscore_model_version",
    "grade": "peerscore_grade",
    "level": "peerscore_level",
    "status": "lead_status",
    "reasons_text": "peerscore_reasons",
    "groups_text": "peerscore_groups",
    "ruleset_version": "peerscore_ruleset_version",
    "version": "peerscore_version",
    "qualified_at": "peerscore_qualified_at",
    "transitioned_at": "peerscore_transitioned_at",
}
"""Peerscore field → CRM property. Standard contact fields keep common names; ours are prefixed so they never
collide with a CRM's built-in properties."""


def validate_field_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    """Return a clean copy or raise :class:`FieldMappingError` naming every problem at once.

    Caught at start-up (settings validation) rather than at the first lead, where it would fail every sync.
    """
    problems: list[str] = []
    unknown = sorted(set(mapping) - MAPPABLE_FIELDS)
    if unknown:
        problems.append(f"unknown Peerscore field(s) {unknown}; known: {sorted(MAPPABLE_FIELDS)}")
    blank = sorted(field for field, prop in mapping.items() if not prop.strip())
    if blank:
        problems.append(f"empty CRM property name for {blank}")
    counts = Counter(prop.strip() for prop in mapping.values() if prop.strip())
    duplicates = sorted(prop for prop, n in counts.items() if n > 1)
    if duplicates:
        problems.append(f"CRM property mapped more than once: {duplicates}")
    if problems:
        raise FieldMappingError("; ".join(problems))
    return {field: prop.strip() for field, prop in mapping.items()}


def crm_properties(
    record: CrmLeadRecord, mapping: Mapping[str, str] = DEFAULT_FIELD_MAPPING, line_property: str = LINE_PROPERTY
) -> dict[str, Any]:
    """The record as JSON-ready CRM properties; fields left out of the mapping are not sent. Each product line
    adds its score, grade and status (:func:`line_properties`)."""
    data = record.model_dump(mode="json", exclude={"lines"})
    properties = {prop: data[field] for field, prop in mapping.items()}
    if record.lines:
        properties |= line_properties(record, mapping, line_property)
    return properties


def line_properties(record: CrmLeadRecord, mapping: Mapping[str, str], line_property: str) -> dict[str, Any]:
    """``peerscore_<line>_score``/``_grade``/``_status`` per line (``line_property`` names them; ``{Line}`` and
    ``{Field}`` are capitalised); a field is sent for lines when the mapping sends it for the whole lead."""
    properties: dict[str, Any] = {}
    for name, line in record.lines.items():
        for field in LINE_FIELDS:
            if field in mapping:
                prop = line_property.format(line=name, field=field, Line=name.title(), Field=field.title())
                properties[prop] = getattr(line, field)
    return properties
