"""crm-sync's erasure log: proof that a person key's CRM data was deleted (no email or name is kept)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from peerscore.db import UtcDateTime


class CrmErasureLog(SQLModel, table=True):
    """One erased person key. ``erased_at`` is when scoring erased (transitions published before it are stale);
    ``deleted`` counts the rows removed per table; ``crm_objects`` names the CRM records deleted and the answer."""

    __tablename__ = "crm_erasure_log"

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True, max_length=128)
    person_key: str = Field(index=True, max_length=64)
    erased_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    deleted_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    deleted: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    crm_objects: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """The CRM records deleted for the person: ``{"crm", "object_type", "object_id", "result"}`` each."""
