"""Tables of identity resolution and privacy: redirects of merged keys, seen event ids, the erasure log.

None of them holds personal data: keys are keyed hashes (see :mod:`peerscore.identity`), event ids are source ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from peerscore import limits
from peerscore.db import UtcDateTime


class IdentityLinkRow(SQLModel, table=True):
    """``person_key`` was merged into ``merged_into``: its later events and transfers are forwarded there.

    Written only by the worker that owns ``person_key``'s partition, in the transaction that built the transfer.
    """

    __tablename__ = "identity_link"

    person_key: str = Field(primary_key=True, max_length=64)
    merged_into: str = Field(index=True, max_length=64)
    target_rank: int
    merge_id: str = Field(max_length=64)
    merged_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class SeenEventRow(SQLModel, table=True):
    """An event id applied to a person, kept for the dedup window (pruned by ``seen_at``)."""

    __tablename__ = "seen_event"

    # event_id first: the primary-key index serves the per-batch lookup ``event_id IN (...)``.
    event_id: str = Field(primary_key=True, max_length=limits.EVENT_ID)
    person_key: str = Field(primary_key=True, index=True, max_length=64)
    seen_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False, index=True))


class ErasureLogRow(SQLModel, table=True):
    """Proof that a person key was erased: when, by which request, and how many rows of each table went.

    The person key is a keyed hash; no email or other personal data is kept.
    """

    __tablename__ = "erasure_log"

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True, max_length=128)
    person_key: str = Field(index=True, max_length=64)
    requested_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    erased_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    deleted: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


IDENTITY_TABLES: tuple[type[SQLModel], ...] = (IdentityLinkRow, SeenEventRow, ErasureLogRow)
