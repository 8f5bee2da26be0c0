"""MQL times for the influence report: the worker records a person's first ``qualified`` transition."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session

from peerscore.db import upsert
from peerscore.scoring.insights.models import MqlMilestoneRow


def record_mqls(session: Session, qualified: Mapping[str, datetime]) -> None:
    """Store each person's qualification time unless one is stored already (the first MQL counts)."""
    rows = [{"person_key": key, "qualified_at": at} for key, at in sorted(qualified.items())]
    upsert(session, MqlMilestoneRow, rows, keys=("person_key",), update=())
