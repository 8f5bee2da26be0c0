"""The transitions one applied event tells crm-sync and the alerts: the lead as a whole, then each product line.

Pure, so the worker's wiring stays thin and the order is testable: one score version is told first by the lead
(``product_line`` None) and then by each line that moved; ``(person_key, score.version, product_line)`` is a
transition's identity, and every one carries the whole published score (all lines) and the account's active
colleagues at that moment (what an MQL alert shows beside the reasons).
"""

from __future__ import annotations

from peerscore.events import LeadScore, LeadTransition

from .engine import Applied
from .policy import Transition
from .reasons import colleagues_active
from .ruleset import Ruleset
from .state import lead_contact


def lead_transitions(key: str, applied: Applied, published: LeadScore, ruleset: Ruleset) -> list[LeadTransition]:
    """The ``qualified``/``recycled`` transitions of ``applied`` (empty when nothing moved)."""
    moves: list[tuple[str | None, Transition]] = [(None, applied.transition)] if applied.transition else []
    moves += applied.line_transitions
    if not moves:
        return []
    contact = lead_contact(applied.person, applied.account)
    colleagues = colleagues_active(applied.account, key, published.as_of, ruleset)
    return [
        LeadTransition(
            kind=kind,
            person_key=key,
            contact=contact,
            score=published,
            transitioned_at=published.as_of,
            active_colleagues=colleagues,
            product_line=line,
        )
        for line, kind in moves
    ]
