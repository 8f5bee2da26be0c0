"""Scoring's tables. Person and account state are stored as JSON documents of the domain models (the domain
owns their shape); the columns beside them exist for lookups. Offsets live in ``consumer_offset`` (shared)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel

from peerscore import limits
from peerscore.db import StoredOffset, UtcDateTime
from peerscore.scoring.history import HISTORY_TABLES
from peerscore.scoring.identity.models import IDENTITY_TABLES
from peerscore.scoring.insights.models import INSIGHT_TABLES
from peerscore.scoring.predictive.model_registry import MODEL_TABLES
from peerscore.scoring.rulesets.models import RULESET_TABLES
from peerscore.scoring.signals import SIGNAL_TABLES


class PersonRow(SQLModel, table=True):
    __tablename__ = "person_state"

    person_key: str = Field(primary_key=True, max_length=limits.PERSON_KEY)
    email: str | None = Field(default=None, index=True, max_length=limits.EMAIL)
    account_key: str | None = Field(default=None, index=True, max_length=limits.ACCOUNT_KEY)
    version: int
    qualified: bool
    total: float
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    score: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class AccountRow(SQLModel, table=True):
    """Company attributes; who was active lives in :class:`AccountActivityRow` so concurrent workers merge."""

    __tablename__ = "account_state"

    account_key: str = Field(primary_key=True, max_length=limits.ACCOUNT_KEY)
    attributes: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class AccountActivityRow(SQLModel, table=True):
    __tablename__ = "account_activity"

    account_key: str = Field(primary_key=True, max_length=limits.ACCOUNT_KEY)
    person_key: str = Field(primary_key=True, max_length=limits.PERSON_KEY)
    last_active_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class LedgerRow(SQLModel, table=True):
    """One awarded amount of points: the audit trail behind every score."""

    __tablename__ = "score_ledger"

    id: int | None = Field(default=None, primary_key=True)
    person_key: str = Field(index=True, max_length=limits.PERSON_KEY)
    rule_id: str = Field(max_length=128)
    group: str = Field(max_length=64)
    ruleset_version: str = Field(max_length=64)
    event_id: str = Field(max_length=limits.EVENT_ID)
    occurred_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    points: float


class OutboxRow(SQLModel, table=True):
    """Outputs written with the state in one transaction, published after commit, deleted once acknowledged:
    a crash between commit and publish delays outputs, never loses them."""

    __tablename__ = "scoring_outbox"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=255)
    key: str | None = Field(default=None, max_length=255)
    value: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))  # None: a tombstone


class ConsoleRevokedSessionRow(SQLModel, table=True):
    """A signed-out console session: its nonce (random, no personal data) and when it would have expired."""

    __tablename__ = "console_revoked_session"

    nonce: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False, index=True))


SCORING_TABLES: tuple[type[SQLModel], ...] = (
    PersonRow,
    AccountRow,
    AccountActivityRow,
    LedgerRow,
    OutboxRow,
    StoredOffset,
    *RULESET_TABLES,
    *HISTORY_TABLES,
    *MODEL_TABLES,
    *IDENTITY_TABLES,
    *SIGNAL_TABLES,
    *INSIGHT_TABLES,
    ConsoleRevokedSessionRow,
)
