"""The one per-event step of scoring, shared by the live worker, backtests and training sets. Pure.

The worker applies every event a person's partition brings through :func:`apply_step`; a replay of the stored
history (a backtest under any ruleset, a training set's snapshots) folds the same rows through the same function,
so identity merges and consent shape all three alike:

* consent (:func:`.consent.apply_with_consent`): an opt-out is applied as a withheld score, later events are
  withheld until an opt-in, and a qualified lead is recycled;
* merges (:func:`.merge.apply_transfer`): the worker's transfer carries the merged key's state; history keeps only
  a marker (:data:`.merge.MERGED_MARKER`), and the replay passes the state it rebuilt from that key's own stream.
"""

from __future__ import annotations

from typing import Literal

from peerscore.events import IDENTITY_TRANSFER, EngagementEvent
from peerscore.scoring.domain.engine import Applied
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.state import AccountState, PersonState
from peerscore.scoring.identity.consent import ConsentRoute, apply_with_consent, consent_route
from peerscore.scoring.identity.merge import MERGED_MARKER, Transfer, apply_transfer

TRANSFER_TYPES = frozenset({IDENTITY_TRANSFER, MERGED_MARKER})

StepRoute = ConsentRoute | Literal["transfer"]


def step_route(person: PersonState, event: EngagementEvent) -> StepRoute:
    """Which branch :func:`apply_step` takes. Independent of the ruleset, so a replay under two rulesets decides it
    once per event and runs its shared fast path (profile once, score per ruleset) only for ``"apply"``."""
    if event.type in TRANSFER_TYPES:
        return "transfer"
    return consent_route(person, event)


def apply_step(
    person: PersonState,
    account: AccountState | None,
    event: EngagementEvent,
    ruleset: Ruleset,
    transfer: Transfer | None = None,
) -> Applied | None:
    """Apply one event of ``person``'s stream; ``None`` when consent withholds it.

    ``transfer`` is the merged key's state for a history marker (a replay rebuilds it); a live transfer event
    carries its own. A marker without one is refused: merging nothing would silently drop a person's history.
    """
    if event.type in TRANSFER_TYPES:
        if transfer is None:
            if event.type == MERGED_MARKER:
                raise ValueError(f"merge marker {event.event_id} replayed without the merged key's state")
            transfer = Transfer.model_validate(event.properties)
        return apply_transfer(person, account, transfer, ruleset)
    return apply_with_consent(person, account, event, ruleset)
