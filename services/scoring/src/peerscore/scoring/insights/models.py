"""The influence report's tables: per stored person key its touches so far, each person's first MQL time, and
one row holding the job's watermark and the latest report snapshot (what the API and the console read)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel

from peerscore import limits
from peerscore.db import UtcDateTime


class InfluencePersonRow(SQLModel, table=True):
    """The touches of one stored person key, appended to by each job run: little-endian int64s, nine per touch
    (``event_history.id``, epoch seconds, one vocabulary code per dimension or -1, paid 0/1); see
    :mod:`peerscore.scoring.insights.job`. Compact (72 bytes a touch) and read without parsing."""

    __tablename__ = "influence_person"

    person_key: str = Field(primary_key=True, max_length=limits.PERSON_KEY)
    touches: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class MqlMilestoneRow(SQLModel, table=True):
    """When a person first qualified (the worker writes it with the ``qualified`` transition; first one kept)."""

    __tablename__ = "mql_milestone"

    person_key: str = Field(primary_key=True, max_length=limits.PERSON_KEY)
    qualified_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class InfluenceSnapshotRow(SQLModel, table=True):
    """One row per report name: the last ``event_history.id`` folded in, the item names the touch codes stand
    for (``vocabulary[code]``), and the latest report."""

    __tablename__ = "influence_snapshot"

    name: str = Field(primary_key=True, max_length=32)
    watermark: int
    vocabulary: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    built_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    report: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


INSIGHT_TABLES: tuple[type[SQLModel], ...] = (InfluencePersonRow, MqlMilestoneRow, InfluenceSnapshotRow)
