"""What ``/v1/rulesets`` answers with: a stored version, its text and summary, a diff, the live version."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from .models import RulesetVersionRow


class RulesetVersionView(BaseModel):
    version: str
    name: str
    status: str
    created_at: datetime
    published_at: datetime | None


class RulesetDetail(RulesetVersionView):
    yaml: str
    summary: dict[str, object]


class RulesetDiff(BaseModel):
    from_version: str
    to_version: str
    diff: str


class LiveView(BaseModel):
    name: str
    version: str | None
    """The version the registry says is live (``None``: never published, the configured default is used)."""
    published_at: datetime | None
    serving: str
    """The version this worker scores with right now."""


def version_view(row: RulesetVersionRow) -> RulesetVersionView:
    return RulesetVersionView.model_validate(row, from_attributes=True)
