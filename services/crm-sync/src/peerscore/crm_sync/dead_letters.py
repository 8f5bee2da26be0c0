"""The CRM dead-letter record: a lead version the CRM refused for longer than the retry budget.

It carries the whole transition (not a pointer to the qualified topic) so ``peerscore crm replay`` can re-send it
after the outage without the original records, and the sync ledger keeps that replay idempotent.
"""

from __future__ import annotations

from typing import Literal

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
