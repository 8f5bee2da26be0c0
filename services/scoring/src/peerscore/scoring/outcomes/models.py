"""The ``outcome`` table: one row per CRM outcome id, so redelivered webhooks and replayed records store once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from peerscore import limits
from peerscore.db import UtcDateTime


class OutcomeRow(SQLModel, table=True):
    __tablename__ = "outcome"

    outcome_id: str = Field(primary_key=True, max_length=limits.EVENT_ID)
    person_key: str = Field(index=True, max_length=limits.PERSON_KEY)
    kind: str = Field(max_length=32)
    reason: str | None = Field(default=None, max_length=limits.OUTCOME_REASON)
    source: str = Field(max_length=32)
    occurred_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    received_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
