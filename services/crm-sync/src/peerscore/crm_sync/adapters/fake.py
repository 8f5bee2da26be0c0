"""An in-memory CRM for tests: records what it was sent and fails on demand.

Shipped in the package (not in tests/) so the worker and future adapters' callers can be exercised without a
CRM account, and so it stays in step with the :class:`CrmAdapter` Protocol that mypy checks it against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from peerscore.crm_sync.adapters.base import CrmObjectRef, PersonRecord, RecordResult, SyncResult
from peerscore.crm_sync.domain.mapping import (
    DEFAULT_FIELD_MAPPING,
    CrmLeadRecord,
    crm_properties,
    validate_field_mapping,
)
from peerscore.crm_sync.domain.matching import plan_merge


@dataclass
class FakeCrmAdapter:
    """Keeps the newest properties per person, built with the same pure mapper a real adapter would use.

    ``permanent_failures`` / ``retryable_failures`` map a person key to the message the fake CRM answers with;
    ``unavailable`` makes the whole call raise, like a CRM that cannot be reached.
    """

    name: str = "fake"
    field_mapping: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELD_MAPPING))
    permanent_failures: dict[str, str] = field(default_factory=dict)
    retryable_failures: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    throttled: bool = False
    """The retryable failures are 429s (rate limit) rather than outages."""
    unavailable: bool = False
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[list[CrmLeadRecord]] = field(default_factory=list)
    merged: dict[str, str] = field(default_factory=dict)
    """Retired person key → the person key whose record survived."""

    def __post_init__(self) -> None:
        self.field_mapping = validate_field_mapping(self.field_mapping)

    def upsert(self, leads: Sequence[CrmLeadRecord]) -> list[SyncResult]:
        if self.unavailable:
            raise ConnectionError(f"{self.name} CRM unavailable")
        self.calls.append(list(leads))
        results: list[SyncResult] = []
        for lead in leads:
            if lead.person_key in self.permanent_failures:
                results.append(SyncResult.permanent(lead, self.permanent_failures[lead.person_key]))
            elif lead.person_key in self.retryable_failures:
                message = self.retryable_failures[lead.person_key]
                results.append(SyncResult.retryable(lead, message, self.retry_after, throttled=self.throttled))
            else:
                self.contacts[lead.person_key] = crm_properties(lead, self.field_mapping)
                results.append(SyncResult.ok(lead, CrmObjectRef(f"fake-{lead.person_key}", "contact")))
        return results

    def erase(self, person: PersonRecord) -> RecordResult:
        if self.unavailable:
            return RecordResult("retryable", f"{self.name} CRM unavailable")
        return RecordResult("done" if self.contacts.pop(person.person_key, None) is not None else "gone")

    def merge(self, target: PersonRecord, source: PersonRecord) -> RecordResult:
        if self.unavailable:
            return RecordResult("retryable", f"{self.name} CRM unavailable")
        plan = plan_merge(target.object, source.object)
        if plan.retired is not None:
            survivor_key = target.person_key if plan.survivor == target.object else source.person_key
            retired_key = source.person_key if survivor_key == target.person_key else target.person_key
            self.merged[retired_key] = survivor_key
            self.contacts.pop(retired_key, None)
        return RecordResult("done", survivor=plan.survivor)
