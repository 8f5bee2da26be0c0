"""The account roll-up: what the company's record in the CRM says about all its people Peerscore synced.

Pure: computed from crm-sync's own id table (each person's synced score, grade, status and company), so it covers
every person of the account, not only the leads of one batch, and costs no CRM reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ACCOUNT_PROPERTIES: dict[str, str] = {
    "peerscore_account_score": "number",
    "peerscore_account_grade": "text",
    "peerscore_account_mqls": "number",
    "peerscore_account_people": "number",
}
"""Company properties Peerscore writes (created by ``peerscore crm setup``), name → kind."""


@dataclass(frozen=True)
class AccountRollup:
    """One company: how many synced people, how many are MQLs now, the best score and grade among them."""

    company_id: str
    people: int
    mqls: int
    top_score: float
    best_grade: str | None


def roll_up(rows: Iterable[tuple[str, float | None, str | None, str | None]]) -> list[AccountRollup]:
    """``(company_id, score, grade, status)`` per person → one roll-up per company, by company id."""
    by_company: dict[str, list[tuple[float | None, str | None, str | None]]] = {}
    for company, score, grade, status in rows:
        by_company.setdefault(company, []).append((score, grade, status))
    rollups = []
    for company, people in sorted(by_company.items()):
        grades = sorted(g for _, g, _ in people if g)
        rollups.append(
            AccountRollup(
                company_id=company,
                people=len(people),
                mqls=sum(1 for _, _, status in people if status == "MQL"),
                top_score=max((s for s, _, _ in people if s is not None), default=0.0),
                best_grade=grades[0] if grades else None,
            )
        )
    return rollups


def hubspot_company_properties(rollup: AccountRollup) -> dict[str, str]:
    """The roll-up as HubSpot company properties (strings, like every HubSpot property value)."""
    properties = {
        "peerscore_account_score": f"{rollup.top_score:g}",
        "peerscore_account_mqls": str(rollup.mqls),
        "peerscore_account_people": str(rollup.people),
    }
    if rollup.best_grade:
        properties["peerscore_account_grade"] = rollup.best_grade
    return properties
