"""When a qualified lead goes cold: the sweeper's question, asked of the stored state with no new event.

A lead qualifies on activity; without new events its points decay, and the recycle policy (the lead's, or each
product line's) says when it is no longer an MQL. The worker only decides on events, so a periodic sweep asks
this for the qualified people and folds a recycle event for those that are due.
"""

from __future__ import annotations

from datetime import datetime

from .lines import decide_lines
from .ruleset import Ruleset
from .scorecard import compute_scorecard
from .state import PersonState


def needs_recycling(person: PersonState, ruleset: Ruleset, as_of: datetime) -> bool:
    """Whether a qualified lead (as a whole, or for a product line), decayed to ``as_of`` with no new activity,
    falls under the recycle policy (the lead's or the line's)."""
    lines = tuple(person.qualified_lines) if ruleset.product_lines else ()
    if not (person.qualified or lines) or person.version < 1:
        return False
    card = compute_scorecard(person, ruleset, max(as_of, person.last_event_at or as_of))
    if person.qualified and ruleset.qualification.decide(True, card.grade, card.activity) == "recycled":
        return True
    return any(move == "recycled" for _, move in decide_lines(ruleset.index().lines, card.groups, lines)[1])
