"""Tables behind the ruleset registry.

A version row holds the YAML exactly as the marketer wrote it (comments included: the diff is of their text);
the publication log records every change of the live version, which is what rollback walks back through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from peerscore.db import UtcDateTime

Status = Literal["draft", "published", "retired"]
Action = Literal["publish", "rollback"]


class RulesetVersionRow(SQLModel, table=True):
    """One stored ruleset. ``version`` is the ruleset's own version (its content hash unless the YAML names one),
    so storing the same ruleset twice is one row."""

    __tablename__ = "ruleset_version"

    version: str = Field(primary_key=True, max_length=64)
    name: str = Field(index=True, max_length=128)
    yaml: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="draft", max_length=16)
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))


class RulesetPublicationRow(SQLModel, table=True):
    """A change of the live version of ``name``: a publish pushes onto the live stack, a rollback pops it."""

    __tablename__ = "ruleset_publication"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, max_length=128)
    version: str = Field(max_length=64)
    action: str = Field(max_length=16)
    at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


RULESET_TABLES: tuple[type[SQLModel], ...] = (RulesetVersionRow, RulesetPublicationRow)
