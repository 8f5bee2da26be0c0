"""crm-sync's tables: the local CRM itself and the sync ledger (last lead version applied per CRM).

The ledger is what makes at-least-once delivery safe: a version is applied only if it is newer than the one
recorded, and the ledger row commits in the same transaction as the local CRM row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, Text, text
from sqlmodel import Field, SQLModel

from peerscore import limits
from peerscore.crm_sync.alert_models import AlertLedger
from peerscore.crm_sync.associations import PendingAssociation
from peerscore.crm_sync.crm_objects import CrmMergeLink, CrmObject
from peerscore.crm_sync.erasure_models import CrmErasureLog
from peerscore.db import UtcDateTime

LedgerStatus = Literal["ok", "failed", "dlq"]


class CrmLead(SQLModel, table=True):
    """One lead in the local CRM (the embedded default), as of its newest synced version."""

    __tablename__ = "crm_lead"

    person_key: str = Field(primary_key=True, max_length=limits.PERSON_KEY)
    email: str = Field(max_length=limits.EMAIL)
    first_name: str | None = Field(default=None, max_length=limits.PERSON_NAME)
    last_name: str | None = Field(default=None, max_length=limits.PERSON_NAME)
    title: str | None = Field(default=None, max_length=limits.TITLE)
    company: str | None = Field(default=None, max_length=limits.COMPANY)
    domain: str | None = Field(default=None, max_length=limits.ACCOUNT_KEY)
    country: str | None = Field(default=None, max_length=limits.COUNTRY)
    score: float
    fit: float
    engagement: float
    intent: float
    probability: float | None = None
    model_version: int | None = None
    grade: str = Field(max_length=1)
    level: int
    status: str = Field(max_length=16, index=True)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    groups: dict[str, float] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default=text("'{}'"))
    )
    lines: dict[str, dict[str, Any]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default=text("'{}'"))
    )
    """Per product line: ``{"score", "grade", "status"}`` (empty for a single-line ruleset)."""
    ruleset_version: str = Field(max_length=128)
    version: int
    qualified_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    transitioned_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    synced_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False, index=True))


class SyncLedger(SQLModel, table=True):
    """Last version of each lead handed to each CRM, and whether that CRM took it."""

    __tablename__ = "crm_sync_ledger"

    crm: str = Field(primary_key=True, max_length=64)
    person_key: str = Field(primary_key=True, max_length=limits.PERSON_KEY)
    last_version: int
    last_kind: str = Field(max_length=16)
    status: str = Field(max_length=8, description="ok | failed | dlq (dead-lettered after the retry budget)")
    error: str | None = Field(default=None, max_length=2000)
    updated_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    # What the CRM was last sent, compared with each update to decide whether a salesperson would notice it.
    sent_score: float | None = None
    sent_grade: str | None = Field(default=None, max_length=1)
    sent_level: int | None = None
    sent_reason: str | None = Field(default=None, max_length=2000)
    sent_probability: float | None = None
    sent_status: str | None = Field(default=None, max_length=16)


class PendingSync(SQLModel, table=True):
    """The newest version of a lead waiting to be sent to a CRM, and when it may be (updates are coalesced).

    Written in the transaction that reads a batch from Kafka, so the offset can be committed at once and the
    wait survives restarts; deleted in the transaction that records the send in the ledger.
    """

    __tablename__ = "crm_pending"

    crm: str = Field(primary_key=True, max_length=64)
    person_key: str = Field(primary_key=True, max_length=64)
    version: int
    kind: str = Field(max_length=16)
    transition: str = Field(sa_column=Column(Text, nullable=False), description="The LeadTransition JSON")
    due_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False, index=True))
    queued_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class RetryState(SQLModel, table=True):
    """Retry budget spent on a lead version the CRM keeps refusing for now (429, 5xx, timeouts).

    Its own table (not ledger columns) because it is written when the batch is *not* applied, and deleted as soon
    as the version is settled (synced, refused, or dead-lettered).
    """

    __tablename__ = "crm_retry_state"

    crm: str = Field(primary_key=True, max_length=64)
    person_key: str = Field(primary_key=True, max_length=limits.PERSON_KEY)
    version: int
    attempts: int
    first_failed_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    last_error: str = Field(max_length=2000)


TABLES: tuple[type[SQLModel], ...] = (
    CrmLead,
    SyncLedger,
    PendingSync,
    RetryState,
    CrmErasureLog,
    CrmObject,
    CrmMergeLink,
    PendingAssociation,
    AlertLedger,
)
