"""The dead-letter records: a lead version the CRM refused for longer than the retry budget, an MQL alert a
destination refused.

A CRM letter carries the whole transition (not a pointer to the qualified topic) so ``peerscore crm replay`` can
re-send it after the outage without the original records, and the sync ledger keeps that replay idempotent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from peerscore.events import AwareDatetime, LeadTransition


class CrmDeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    crm: str = Field(min_length=1)
    transition: LeadTransition
    error: str
    attempts: int = Field(ge=1)
    first_failed_at: AwareDatetime
    failed_at: AwareDatetime


class AlertDeadLetter(BaseModel):
    """An MQL alert a destination refused for good (a 4xx: bad payload, webhook revoked, channel archived) or kept
    refusing for longer than the alert retry budget. ``message`` is the rendered payload, so the alert can be
    posted by hand once the destination is fixed; the Kafka key is the person key (a hash)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    destination: str = Field(min_length=1)
    kind: str
    person_key: str
    version: int
    message: dict[str, Any]
    error: str
    attempts: int = Field(ge=0)
    first_failed_at: AwareDatetime | None
    failed_at: AwareDatetime
