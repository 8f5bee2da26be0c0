"""The alert ledger: one row per destination and lead transition, the durable record that makes an MQL alert go out
once per transition, across restarts.

The row is written ``pending`` (with the rendered message) in the transaction that reads the transition, so the
Kafka offset can be committed at once; it becomes ``sent`` in the transaction that holds it locked while the
message is posted, or ``dlq`` once the destination refused it for good or for longer than the retry budget. The
message holds the lead's name and title, so it is dropped as soon as the row is settled, and erasure deletes the
rows (see :mod:`peerscore.crm_sync.privacy`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from peerscore import limits
from peerscore.db import UtcDateTime

AlertStatus = Literal["pending", "sent", "dlq"]


class AlertLedger(SQLModel, table=True):
    __tablename__ = "crm_alert_ledger"
    __table_args__ = (Index("ix_crm_alert_ledger_due", "status", "next_attempt_at"),)

    destination: str = Field(primary_key=True, max_length=48)
    person_key: str = Field(primary_key=True, max_length=limits.PERSON_KEY)
    version: int = Field(primary_key=True, description="score.version: with the person key, names the transition")
    kind: str = Field(max_length=8, description="slack | teams")
    status: str = Field(max_length=8, description="pending | sent | dlq")
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attempts: int = 0
    first_failed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    next_attempt_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    last_error: str | None = Field(default=None, max_length=2000)
    transitioned_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    settled_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
