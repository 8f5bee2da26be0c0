"""The one interface every CRM adapter implements, and the per-lead outcome it reports.

Results are per item because CRM batch APIs (HubSpot batch upsert, Salesforce sObject Collections) accept
some records and reject others in one call: the sync handler records each outcome in the sync ledger instead of
failing or retrying a whole batch for one bad lead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from peerscore.crm_sync.domain.mapping import CrmLeadRecord

if TYPE_CHECKING:  # a type only: the domain reads this module's records, never the database
    from sqlmodel import Session

SyncOutcome = Literal["ok", "permanent", "retryable"]


@dataclass(frozen=True)
class CrmObjectRef:
    """A record in a CRM: its id and object type (``contact``, ``Lead``, ``Contact``…), and the company/account it
    is associated with when the adapter associates one."""

    object_id: str
    object_type: str
    company_id: str | None = None


@dataclass(frozen=True)
class SyncResult:
    """What happened to one lead version in the CRM.

    * ``ok`` — stored; the ledger remembers the version so it is never sent again.
    * ``permanent`` — the CRM refused it for good (validation, duplicate rule…); recorded as failed and not
      retried.
    * ``retryable`` — the CRM could not take it now (rate limit, outage); the batch is retried after
      ``retry_after`` seconds, so nothing is lost.
    """

    person_key: str
    version: int
    outcome: SyncOutcome
    message: str | None = None
    retry_after: float | None = None
    object: CrmObjectRef | None = None
    """Which CRM record holds the lead (``ok`` only): kept per person so outcomes, merges and erasures that name
    the CRM's own id find the person, and so the CRM keeps one record per buyer."""
    association_pending: str | None = None
    """``ok`` only: the contact is written but its association with the company of this domain failed for now."""
    throttled: bool = False
    """``retryable`` only: refused for the CRM's rate limit (429). That paces the sender; it is never charged to the
    retry budget nor counted as an outage by the circuit breaker."""

    @classmethod
    def ok(cls, lead: CrmLeadRecord, obj: CrmObjectRef | None = None) -> SyncResult:
        return cls(lead.person_key, lead.version, "ok", object=obj)

    @classmethod
    def permanent(cls, lead: CrmLeadRecord, message: str) -> SyncResult:
        return cls(lead.person_key, lead.version, "permanent", message)

    @classmethod
    def retryable(
        cls, lead: CrmLeadRecord, message: str, retry_after: float | None = None, *, throttled: bool = False
    ) -> SyncResult:
        return cls(lead.person_key, lead.version, "retryable", message, retry_after, throttled=throttled)


RecordOutcome = Literal["done", "gone", "permanent", "retryable"]


@dataclass(frozen=True)
class RecordResult:
    """What a CRM did with one erasure or merge of a person's record.

    * ``done`` — deleted / merged / marked as asked; ``gone`` — the record was already gone (a redelivered erasure).
    * ``permanent`` — refused for good (kept in the erasure log with the message, not retried).
    * ``retryable`` — not now (rate limit, outage): the caller retries, an erasure is never dropped.
    """

    outcome: RecordOutcome
    message: str | None = None
    retry_after: float | None = None
    survivor: CrmObjectRef | None = None
    """After a merge: the record the merged person now has (HubSpot may give the merged contact a new id)."""
    retired: CrmObjectRef | None = None
    """After a merge: the other record when it still exists in the CRM (marked, not merged), so that erasing the
    person deletes it too."""


@dataclass(frozen=True)
class PersonRecord:
    """A person and the CRM record crm-sync knows for them (``None``: none known, e.g. the webhook CRM)."""

    person_key: str
    object: CrmObjectRef | None


class CrmAdapter(Protocol):
    """A CRM that can upsert leads. ``name`` keys the sync ledger, so it must be stable across deployments."""

    name: str

    def erase(self, person: PersonRecord) -> RecordResult:
        """Delete the person's record for good (GDPR): erasures must reach the CRM, not stop at Peerscore."""
        ...

    def merge(self, target: PersonRecord, source: PersonRecord) -> RecordResult:
        """``source`` was merged into ``target`` in Peerscore: leave the buyer one live record (the one
        :func:`~peerscore.crm_sync.domain.matching.plan_merge` keeps; the other merged into it, or marked where the
        CRM's API cannot merge) and report it as ``survivor``, which becomes the target's record."""
        ...

    def upsert(self, leads: Sequence[CrmLeadRecord]) -> list[SyncResult]:
        """Create or update each lead (matched by the CRM's key); one result per lead, in the same order.

        Callers pass at most one lead per person (the sync handler keeps the newest version of each).

        Raise only for failures that concern the whole call and are worth retrying (connection refused…);
        everything that concerns a single lead is reported in its result.
        """
        ...


AdapterFactory = Callable[["Session"], CrmAdapter]
"""Builds the adapter for one batch; the local CRM uses the session, remote CRMs ignore it. It lives beside the
Protocol so that the handlers and the factory that builds it both depend on the adapters, never on each other."""


@dataclass(frozen=True)
class AssociationRef:
    """A written contact still to be associated with the company of ``domain`` (found or created by domain)."""

    person_key: str
    contact_id: str
    domain: str


@runtime_checkable
class CompanyAssociations(Protocol):
    """A CRM adapter that associates contacts with companies in a separate call (HubSpot): an association that
    failed after its contact was written is kept pending (:mod:`peerscore.crm_sync.associations`) and retried on its
    own, never by re-sending the contact."""

    def associate(self, pending: Sequence[AssociationRef]) -> dict[str, str | None]:
        """Person key → company id for each association made, ``None`` for each refused for good; the ones the CRM
        cannot take now are absent (still pending)."""
        ...


def upsert_in_chunks(
    leads: Sequence[CrmLeadRecord], size: int, upsert_chunk: Callable[[list[CrmLeadRecord]], list[SyncResult]]
) -> list[SyncResult]:
    """Split a batch into the CRM's per-call maximum (HubSpot 100, Salesforce 200), results in lead order."""
    results: list[SyncResult] = []
    for start in range(0, len(leads), size):
        results.extend(upsert_chunk(list(leads[start : start + size])))
    return results
